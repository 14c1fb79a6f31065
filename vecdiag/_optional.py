"""Lazy imports of optional extras, with an install line when one is missing.

``import vecdiag`` loads NumPy only. Heavier libraries are imported inside the functions
that need them, through :func:`require`, so a missing extra surfaces as an ImportError that
says exactly what to install.
"""

from __future__ import annotations

import importlib

# module name -> (pip extra, what to install)
EXTRAS = {
    "umap": ("umap", "umap-learn"),
    "faiss": ("faiss", "faiss-cpu"),
    "sentence_transformers": ("text", "sentence-transformers"),
    "torch": ("text", "torch"),
    "plotly": ("interactive", "plotly"),
    "anywidget": ("interactive", "anywidget"),
    "bm25s": ("lexical", "bm25s"),
    "pyarrow": ("parquet", "pyarrow"),
    "dask": ("dask", "dask[array]"),
    "distributed": ("dask", "distributed"),
    "nbclient": ("notebooks", "nbclient"),
    "httpx": ("api", "httpx"),
    "aiolimiter": ("api", "aiolimiter"),
    "tenacity": ("api", "tenacity"),
    "psycopg": ("stores", "psycopg"),
    "pgvector": ("stores", "pgvector"),
    "qdrant_client": ("stores", "qdrant-client"),
    "chromadb": ("stores", "chromadb"),
}


# top-level names of the optional modules require() has imported in this process (the notebook
# tests read it from each kernel to check that the `notebooks` extra installs them)
REQUIRED: set[str] = set()


def require(module: str, feature: str | None = None):
    """Import ``module`` or raise an ImportError naming the pip extra that provides it.

    Examples
    --------
    >>> require("math").sqrt(4.0)
    2.0
    """
    try:
        imported = importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        extra, package = EXTRAS.get(top, (None, top))
        what = f"{feature} needs {package}" if feature else f"{package} is not installed"
        line = f'pip install "vecdiag[{extra}]"' if extra else f"pip install {package}"
        raise ImportError(f"{what}: {line} ({err})") from err
    REQUIRED.add(module.split(".")[0])
    return imported
