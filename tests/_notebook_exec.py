"""Execute each course notebook once per test session, for every test that needs its outputs.

``executed(path)`` runs a notebook top to bottom exactly as the documentation build does
(jupyter-cache's ``single_nb_execution``, the kernel in the notebook's folder, offline, the
inline matplotlib backend) and keeps the result for the session: tests/test_notebooks.py
checks it for errors and checks its prose against its outputs, and tests/test_docs.py hands
the same executed notebooks to myst-nb through its jupyter-cache (``seed_docs_cache``), so
CI executes every notebook once, not twice. A notebook that failed is never put in the
cache: the docs build then executes it itself and fails on the error as before.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
TIMEOUT = 900          # seconds per cell, as docs/conf.py's nb_execution_timeout

_RUNS: dict[Path, "Run"] = {}
# Appended for the run and removed before anything else sees the notebook: the optional modules
# vecdiag imported lazily for the notebook (vecdiag._optional.REQUIRED); tests/test_notebooks.py
# checks that the `notebooks` extra installs them.
_PROBE = ("import sys as _probe_sys\n"
          "print('probe:', *sorted(getattr(_probe_sys.modules.get('vecdiag._optional'), 'REQUIRED', ())))")


@dataclass(frozen=True)
class Run:
    """One execution: the executed copy, the error (None: ran), wall seconds, and the optional
    modules vecdiag imported for it (None: the probe did not report)."""

    path: Path
    nb: object
    error: str | None
    seconds: float
    required: frozenset | None = None

    def errors(self) -> list[dict]:
        return [o for c in self.nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                if o.get("output_type") == "error"]


@contextlib.contextmanager
def _kernel_environment():
    """What the notebooks' kernels inherit: this checkout first, offline, inline pictures."""
    saved = dict(os.environ)
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.pop("MPLBACKEND", None)          # kernels use the inline backend
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def executed(path: Path) -> Run:
    """The session's execution of ``path`` (run on first request)."""
    path = Path(path).resolve()
    if path not in _RUNS:
        with _kernel_environment():
            _RUNS[path] = _execute(path)
    return _RUNS[path]


def execute_all(paths=NOTEBOOKS, workers: int = 2) -> None:
    """Execute the notebooks not run yet, ``workers`` kernels at a time (each kernel runs
    mostly one thread: on two cores two at a time take ~half the wall time of one by one).
    The environment is set once around all of them (it is the process's, shared by the
    threads)."""
    from concurrent.futures import ThreadPoolExecutor

    todo = [Path(p).resolve() for p in paths if Path(p).resolve() not in _RUNS]
    if len(todo) < 2 or workers < 2:
        for p in todo:
            executed(p)
        return
    with _kernel_environment(), ThreadPoolExecutor(workers) as pool:
        for path, run in zip(todo, pool.map(_execute, todo)):
            _RUNS[path] = run


def _execute(path: Path) -> Run:
    """One execution of ``path`` (the kernel environment already set)."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_PROBE))
    start = time.perf_counter()
    result = single_nb_execution(nb, cwd=str(path.parent), timeout=TIMEOUT,
                                 allow_errors=False, meta_override=True)
    seconds = time.perf_counter() - start
    probe = nb.cells.pop()
    printed = "".join("".join(o.get("text", "")) for o in probe.get("outputs", [])
                      if o.get("output_type") == "stream").split()
    required = frozenset(printed[1:]) if printed[:1] == ["probe:"] else None
    error = None if result.err is None else (result.exc_string or repr(result.err))
    return Run(path, nb, error, seconds, required)


def seed_docs_cache(cache_path: Path, notebooks=NOTEBOOKS) -> list[str]:
    """Execute the notebooks (once per session) and store those that ran in myst-nb's cache.

    myst-nb (``nb_execution_mode = "cache"``) matches a notebook to the cache by the hash of
    its code cells, so the build then renders these executions instead of running the
    notebooks again. Returns the names of the notebooks stored.
    """
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(cache_path))
    stored = []
    execute_all(notebooks)
    for path in notebooks:
        run = executed(path)
        if run.error is not None:
            continue
        record = cache.cache_notebook_bundle(CacheBundleIn(copy.deepcopy(run.nb), str(path),
                                                           data={"execution_seconds": run.seconds}),
                                             check_validity=False, overwrite=True)
        # what myst-nb will look up: the stored notebook, unexecuted (hash of its code cells)
        assert cache.match_cache_notebook(nbformat.read(path, as_version=4)).pk == record.pk, (
            f"{path.name}: its execution does not match the notebook in jupyter-cache; "
            "the docs build would execute it again")
        stored.append(path.name)
    return stored
