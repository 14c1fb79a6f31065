"""Secrets out of what is shown: the one masking rule for URLs, DSNs and the messages
that quote them.

Embedders (an OpenAI-compatible ``base_url``) and stores (a Qdrant URL, a PostgreSQL
DSN) both name where they connect in reprs, ``describe()``, errors and reports; each
goes through :func:`mask_secrets` so that the same address is masked the same way.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["mask_secrets", "mask_secret", "mask_all", "url_secrets"]

# query parameters that carry a secret: Azure Functions' ?code=, ?key= / ?api_key= /
# ?api-key= of gateways, ?token=, ?sig= of a signed URL, libpq's ?password= ...
SECRET_NAME = re.compile(r"key|token|secret|code|sig|pass|auth|credential", re.IGNORECASE)

# scheme://user:password@ : the password runs to the last @ of the address (an @ or a /
# inside it, left unencoded, is not the end of it); over-masking a query string that
# holds an @ is the safe side
_USER_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/@\s]*:)(\S*)(@)")
# http(s)://token@ : a lone token before the @ is a credential (a libpq URL's lone
# userinfo is the user name, and stays)
_LONE_TOKEN = re.compile(r"(\bhttps?://)([^:/@\s?#]+)(@)", re.IGNORECASE)
# ?name=value / &name=value of a URL
_QUERY_PARAM = re.compile(r"([?&;])([^=&;?#\s]+)=([^&;#\s]*)")
# password=value of a key/value DSN, the value bare or single-quoted (\' inside)
_KEY_VALUE = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']+)", re.IGNORECASE)


def mask_secrets(text) -> str:
    """``str(text)`` with every secret in a URL or connection string shown as ``***``:
    the password of ``user:password@``, a lone token before ``@`` in an http(s) URL,
    the value of a query parameter named like a secret (``code``, ``key``, ``token``,
    ``sig``, ``password``...) and a key/value DSN's ``password=``. The rest is unchanged,
    so the address can still be recognised.

    Examples
    --------
    >>> mask_secrets("http://ann:s3cret@db:6333"), mask_secrets("https://tok3n@host/v1")
    ('http://ann:***@db:6333', 'https://***@host/v1')
    >>> mask_secrets("https://u:pa/ss@host/x?api-version=1&code=s3cret")
    'https://u:***@host/x?api-version=1&code=***'
    >>> mask_secrets("host=db password='a\\\\'b c' dbname=x user=ann")
    'host=db password=*** dbname=x user=ann'
    >>> mask_secrets("postgresql://ann@db/x?sslmode=require&password=s3cret")
    'postgresql://ann@db/x?sslmode=require&password=***'
    """
    text = _USER_PASSWORD.sub(r"\1***\3", str(text))
    text = _LONE_TOKEN.sub(r"\1***\3", text)
    text = _QUERY_PARAM.sub(
        lambda m: f"{m[1]}{m[2]}=***" if m[3] and SECRET_NAME.search(m[2]) else m[0], text)
    return _KEY_VALUE.sub(r"\1***", text)


def url_secrets(url) -> list:
    """The secret values ``url`` carries, as :func:`mask_secrets` finds them (a password,
    a lone http(s) token, the values of query parameters named like a secret), each also
    percent-decoded: what a server may echo in an error body on its own. Values of
    fewer than 4 characters are left out (``?key=1``): masking them in free text would
    hide every "1" of a message, and they guard nothing.

    Examples
    --------
    >>> url_secrets("https://u:p%40ss@h/v1?api-version=1&code=fn-s3cret")
    ['p%40ss', 'p@ss', 'fn-s3cret']
    """
    url = str(url)
    found = [m[2] for pattern in (_USER_PASSWORD, _LONE_TOKEN) for m in pattern.finditer(url)]
    found += [m[3] for m in _QUERY_PARAM.finditer(url) if m[3] and SECRET_NAME.search(m[2])]
    out = []
    for value in found:
        for form in (value, unquote(value)):
            if len(form) >= 4 and form not in out:
                out.append(form)
    return out


def mask_secret(text, secret) -> str:
    """``text`` with every occurrence of ``secret`` (and of its long pieces) masked.

    Providers sometimes echo part of a wrong key ("Incorrect API key provided:
    sk-abc***xyz"); any run of 8+ characters of the key is hidden too.

    Examples
    --------
    >>> mask_secret("bad key sk-12345678abcdef", "sk-12345678abcdef")
    'bad key ***'
    >>> mask_secret("key ends in 345678abcdef", "sk-12345678abcdef")
    'key ends in ***'
    """
    text = str(text)
    if not secret:
        return text
    text = text.replace(secret, "***")
    n = 8
    if len(secret) > n:
        pieces = {secret[i:i + n] for i in range(len(secret) - n + 1)}
        # a maximal run of key characters containing any 8-character piece of the key
        for match in sorted(set(re.findall(r"[A-Za-z0-9_\-]{%d,}" % n, text)), key=len, reverse=True):
            if any(p in match for p in pieces):
                text = text.replace(match, "***")
    return text


def mask_all(text, secrets) -> str:
    """``text`` with each of ``secrets`` masked (:func:`mask_secret`), the longest first:
    a secret inside another (a key that is also part of the URL's query) would otherwise
    leave the rest of the longer one showing.

    >>> mask_all("https://h/?code=abcd1234&x=1 key abcd1234", ["abcd1234", "code=abcd1234&x=1"])
    'https://h/?*** key ***'
    """
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = mask_secret(text, secret)
    return str(text)
