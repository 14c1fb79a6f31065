"""Synthetic embedding shards for ``bench_scale.py``: clustered, with planted copies and a hub.

The data (``d`` = 384 by default) imitates sentence embeddings and is **unit-normalised**
(every stored row has length 1, as MiniLM output):

* a shared offset ``o`` (a unit vector): every row leans the same way (anisotropy, as in
  real embedding models), so the centroid direction is close to everything;
* ``n_centres`` cluster centres ``o + c_j`` with ``|c_j|² ≈ spread²`` (0.25);
* rows ``o + c_j + noise``, ``|noise|² ≈ noise²`` (1.0), then normalised.

Planted on top (the ground truth goes into ``manifest.json`` and ``truth.npz``):

* **copies**: a share ``dup_share`` of the rows (1% by default) are copies of another
  row, half bit-exact, half near-exact (the source plus noise of relative size
  ``near_eps``, renormalised: cosine ≈ 1 − near_eps²/2 ≈ 0.9992, above vecdiag's 0.98
  threshold). Sources are never copies themselves; half of them lie in shard 0, so copies
  cross shard (and chunk) boundaries, the other half in the copy's own shard.
* **a hub**: one row equal to the normalised centroid direction ``o + mean(c_j)``. With
  noise dominating the centre spread it is closer to most rows than their 10th
  neighbour, so it lands in many k-nearest-neighbour lists (the share falls slowly with
  ``n``; ``bench_scale.py`` counts it in the exact search).

No natural pair of rows comes near cosine 0.98 (typical pairs ≈ 0.45-0.7), so the rows
with a near-duplicate are exactly the planted copies and their sources.

Shards are written one ``.npy`` per ``shard_rows`` rows (float32, C order), generated per
shard with NumPy from ``default_rng([seed, shard])`` in worker processes, each written to a
temporary name and renamed, and the manifest last: a folder with a manifest is complete.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

FORMAT = 1                       # bump when the data a seed produces changes
DEFAULTS = dict(d=384, shard_rows=250_000, n_centres=2000, spread=0.5, noise=1.0,
                dup_share=0.01, near_eps=0.04, seed=0)


def shard_name(i: int) -> str:
    return f"shard-{i:05d}.npy"


def model(params: dict):
    """(offset o, centres c) shared by every shard."""
    d = params["d"]
    rng = np.random.default_rng([params["seed"], 1_000_000])
    o = rng.standard_normal(d)
    o /= np.linalg.norm(o)
    c = rng.standard_normal((params["n_centres"], d)) * (params["spread"] / np.sqrt(d))
    return o.astype(np.float32), c.astype(np.float32)


def hub_vector(params: dict) -> np.ndarray:
    o, c = model(params)
    h = o.astype(np.float64) + c.astype(np.float64).mean(axis=0)
    return (h / np.linalg.norm(h)).astype(np.float32)


def plan(n: int, params: dict) -> dict:
    """Where the hub and the copies go: arrays of global row numbers (the ground truth).

    ``targets[i]`` is a copy of ``sources[i]``, bit-exact where ``exact[i]``. Targets,
    sources and the hub are distinct rows, and no source is a target.
    """
    rows = params["shard_rows"]
    rng = np.random.default_rng([params["seed"], 2_000_000])
    hub = n // 2
    targets, sources = [], []
    pool0 = None                                  # shard 0's rows that are not copies
    for start in range(0, n, rows):
        m = min(rows, n - start)
        count = int(round(params["dup_share"] * m))
        if count == 0 or m < 4:
            continue
        count = min(count, m // 3)
        local = rng.permutation(m)
        local = local[local + start != hub]
        tgt = np.sort(local[:count]) + start
        others = local[count:] + start            # rows of this shard that are not copies
        src = rng.choice(others, size=count)
        if start > 0:                             # half from shard 0 (not its copies)
            from_zero = rng.random(count) < 0.5
            if pool0 is None:
                pool0 = np.setdiff1d(np.arange(min(rows, n)),
                                     np.concatenate(targets[:1] + [[hub]]))
            src[from_zero] = rng.choice(pool0, size=int(from_zero.sum()))
        targets.append(tgt)
        sources.append(src)
    targets = np.concatenate(targets) if targets else np.zeros(0, np.int64)
    sources = np.concatenate(sources) if sources else np.zeros(0, np.int64)
    exact = rng.random(targets.size) < 0.5
    return {"hub": int(hub), "targets": targets.astype(np.int64),
            "sources": sources.astype(np.int64), "exact": exact}


def truth_counts(truth: dict, n: int) -> dict:
    """What a duplicate finder should report, from the plan."""
    t, s, e = truth["targets"], truth["sources"], truth["exact"]
    with_exact = np.union1d(t[e], s[e])
    with_copy = np.union1d(t, s)
    return {"rows_with_exact_copy": int(with_exact.size),
            "exact_groups": int(np.unique(s[e]).size),
            "rows_with_near_or_exact_copy": int(with_copy.size),
            "share_with_copy": with_copy.size / n}


def _base_rows(start: int, m: int, shard: int, params: dict, o, c) -> np.ndarray:
    d = params["d"]
    rng = np.random.default_rng([params["seed"], shard])
    X = rng.standard_normal((m, d), dtype=np.float32)
    X *= np.float32(params["noise"] / np.sqrt(d))
    X += c[rng.integers(0, len(c), m)]
    X += o
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def queries(m: int, params: dict | None = None) -> np.ndarray:
    """``m`` fresh rows from the same model (not in the corpus): the search's queries."""
    params = {**DEFAULTS, **(params or {})}
    o, c = model(params)
    return _base_rows(0, m, 3_000_000, params, o, c)


def _write_shard(folder: str, shard: int, n: int, params: dict, truth: dict) -> int:
    rows = params["shard_rows"]
    start, m = shard * rows, min(rows, n - shard * rows)
    o, c = model(params)
    X = _base_rows(start, m, shard, params, o, c)
    t, s, e = truth["targets"], truth["sources"], truth["exact"]
    mine = (t >= start) & (t < start + m)
    t, s, e = t[mine], s[mine], e[mine]
    local = s >= start
    src = np.empty((t.size, params["d"]), np.float32)
    src[local] = X[s[local] - start]
    if (~local).any():                            # sources in shard 0, already written
        zero = np.load(Path(folder) / shard_name(0), mmap_mode="r")
        order = np.argsort(s[~local])
        rows0 = np.empty((int((~local).sum()), params["d"]), np.float32)
        rows0[order] = zero[s[~local][order]]
        src[~local] = rows0
        del zero
    near = src[~e] + np.random.default_rng([params["seed"], shard, 7]).standard_normal(
        src[~e].shape, dtype=np.float32) * np.float32(params["near_eps"] / np.sqrt(params["d"]))
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    X[t[e] - start] = src[e]
    X[t[~e] - start] = near
    if start <= truth["hub"] < start + m:
        X[truth["hub"] - start] = hub_vector(params)
    tmp = Path(folder) / (shard_name(shard) + ".part")
    with open(tmp, "wb") as fh:
        np.save(fh, X, allow_pickle=False)
    os.replace(tmp, Path(folder) / shard_name(shard))
    return X.nbytes


def write_shards(folder, n: int, *, processes: int = 2, **overrides) -> dict:
    """Write ``n`` rows as .npy shards (plus manifest.json and truth.npz); return the manifest.

    Shard 0 comes first (later shards copy some of its rows), then the rest in
    ``processes`` worker processes.
    """
    params = {**DEFAULTS, **overrides}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").unlink(missing_ok=True)
    for old in folder.glob("shard-*.npy*"):
        old.unlink()
    truth = plan(n, params)
    shards = -(-n // params["shard_rows"])
    _write_shard(str(folder), 0, n, params, truth)
    if shards > 1 and processes <= 1:
        for i in range(1, shards):
            _write_shard(str(folder), i, n, params, truth)
    elif shards > 1:
        with ProcessPoolExecutor(processes) as pool:
            list(pool.map(_write_shard, [str(folder)] * (shards - 1), range(1, shards),
                          [n] * (shards - 1), [params] * (shards - 1),
                          [truth] * (shards - 1)))
    np.savez(folder / "truth.npz", **{k: np.asarray(v) for k, v in truth.items()})
    manifest = {"format": FORMAT, "n": n, "params": params, "shards": shards,
                "files": [shard_name(i) for i in range(shards)], "hub": truth["hub"],
                **truth_counts(truth, n)}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def read_manifest(folder, n: int | None = None, **overrides):
    """The manifest of a complete folder written with these settings, else None."""
    path = Path(folder) / "manifest.json"
    if not path.exists():
        return None
    manifest = json.loads(path.read_text())
    params = {**DEFAULTS, **overrides}
    if manifest.get("format") != FORMAT or manifest["params"] != params or \
            (n is not None and manifest["n"] != n):
        return None
    if not all((Path(folder) / f).exists() for f in manifest["files"]):
        return None
    return manifest


def read_truth(folder) -> dict:
    with np.load(Path(folder) / "truth.npz") as z:
        return {k: (int(z[k]) if z[k].ndim == 0 else z[k]) for k in z.files}


def load_all(folder, manifest) -> np.ndarray:
    """Every row in memory (small runs and tests only)."""
    return np.concatenate([np.load(Path(folder) / f) for f in manifest["files"]])
