"""``import vecdiag`` stays light, and the public names all resolve."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

HEAVY = ["pandas", "scipy", "sklearn", "matplotlib", "torch", "sentence_transformers",
         "umap", "faiss", "plotly", "bm25s", "pyarrow", "tqdm", "dask", "distributed"]


def test_import_loads_numpy_only():
    code = ("import sys, vecdiag; heavy = %r; "
            "print(','.join(m for m in heavy if m in sys.modules))" % HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import vecdiag imported: {out.stdout.strip()}"


def test_public_names_resolve():
    import vecdiag as vd

    missing = []
    for name in vd.__all__:
        try:
            getattr(vd, name)
        except (AttributeError, ModuleNotFoundError) as err:
            missing.append(f"{name}: {err}")
    assert not missing, "\n".join(missing)


def test_unknown_attribute():
    import vecdiag as vd

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        vd.nope


def test_import_time_report(capsys):
    """Median import time of vecdiag vs numpy alone, printed; the bound is loose on purpose
    (shared CI cores): it fails when the import does seconds of work, e.g. an extra loaded
    eagerly or data read at import time."""
    def median_time(stmt):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", stmt], check=True)
            times.append(time.perf_counter() - start)
        return sorted(times)[1]

    base = median_time("import numpy")
    ours = median_time("import vecdiag")
    print(f"import numpy {base:.3f}s, import vecdiag {ours:.3f}s")
    assert ours < base + 5.0, f"import vecdiag takes {ours - base:.1f} s more than numpy alone"
