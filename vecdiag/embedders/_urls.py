"""The URLs of an OpenAI-compatible server: where requests go, whether one can be
reached at all, and how a URL is shown (never with a password in it) or named in a cache
identity. Used by :class:`vecdiag.embedders.OpenAIEmbedder`.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from .._secrets import mask_secrets

__all__ = ["endpoint", "check_host", "masked_url", "server_id"]


def endpoint(base_url: str) -> str:
    """The URL requests are posted to: ``base_url`` + ``/embeddings`` (a bare host gets
    ``/v1`` first). A ``base_url`` that already is the endpoint (ends in
    ``/embeddings``, as copied from a provider's docs) is used as it is, and a query
    string (``?api-version=...``) stays at the end.

    >>> endpoint("http://h:8000"), endpoint("http://h:8000/v1/embeddings/")
    ('http://h:8000/v1/embeddings', 'http://h:8000/v1/embeddings')
    >>> endpoint("https://h/openai/deployments/d?api-version=1")
    'https://h/openai/deployments/d/embeddings?api-version=1'
    """
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    if not path:  # a bare host: the protocol lives under /v1
        path = "/v1"
    if not path.endswith("/embeddings"):  # already the endpoint: not appended twice
        path += "/embeddings"
    return urlunsplit(parts._replace(path=path))


def check_host(base_url: str) -> None:
    """Refuse a base_url without a host, with a port out of range or with whitespace:
    httpx said "Request URL is missing an 'http://' or 'https://' protocol" for the
    first, and resilient retried them all as dropped connections (a port of 99999 even
    escaped as a bare ExceptionGroup)."""
    shown = masked_url(base_url)
    if any(c.isspace() for c in base_url):
        raise ValueError(f"base_url holds whitespace, which no URL can: {shown!r}")
    try:
        parts = urlsplit(base_url)
    except ValueError as err:  # "Invalid IPv6 URL"
        raise ValueError(f"base_url is not a valid URL ({err}): {shown!r}") from None
    try:
        port = parts.port
    except ValueError as err:  # "Port out of range 0-65535", "could not be cast"
        port = err
    if port == 0 or isinstance(port, ValueError):
        raise ValueError(f"base_url has no valid port ({port}): {shown!r}; ports are "
                         "whole numbers from 1 to 65535")
    if not parts.hostname:
        raise ValueError(f"base_url has no host: {shown!r}; pass e.g. "
                         "'http://127.0.0.1:8000/v1'")


def masked_url(url: str) -> str:
    """``url`` with the password of a ``user:password@`` (or a lone token before ``@``)
    and the value of a query parameter named like a secret (``code``, ``key``,
    ``token``, ``sig``, ...) shown as ``***``: reprs and errors show the URL, never a
    secret in it. The rule is vecdiag's one for every address
    (:func:`vecdiag._secrets.mask_secrets`, shared with the stores).

    >>> masked_url("https://me:s3cret@host/v1"), masked_url("https://tok3n@host/v1")
    ('https://me:***@host/v1', 'https://***@host/v1')
    >>> masked_url("https://fn.example/api/v1?api-version=2024-02-01&code=s3cret")
    'https://fn.example/api/v1?api-version=2024-02-01&code=***'
    """
    return mask_secrets(url)


def server_id(url: str) -> str:
    """The endpoint's base URL without ``/embeddings``, credentials or query: the server
    in a cache identity (scheme and host lower-cased, as they are case-insensitive)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2].lower()
    path = parts.path[: -len("/embeddings")] if parts.path.endswith("/embeddings") else parts.path
    return f"{parts.scheme.lower()}://{host}{path}"
