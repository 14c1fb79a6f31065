"""The frame :func:`vecdiag.try_fixes`' ``deduplicate`` judges near-copies in.

:func:`vecdiag.explain_neighbors` judges near-copies as :func:`vecdiag.diagnose` does:
by raw cosine and, where the raw cosine misleads (rogue dimensions, a narrow cone, a
shift under euclidean), also in the frame the distortion is removed from
(:func:`vecdiag.explain.stats.copy_frame`, one decision per Index). ``try_fixes`` passes
that same frame to its ``deduplicate`` runs, so that both answer one question: grouped
by raw cosine alone, a corpus whose rogue dimensions put every raw cosine near 1 fell
into one group of copies, and the fix demoted nearly every document.
"""

from __future__ import annotations

__all__ = ["deduplicate_frames"]


def deduplicate_frames(t, options: dict) -> dict:
    """``{fix code: {"deduplicate__frame": CopyFrame}}`` for the fixes of trial ``t``
    whose ``deduplicate`` sees the corpus rows as given (``deduplicate``, and after
    ``cosine_metric``: the frame of a cosine search), each with a sentence in
    ``t.notes`` (under its code). Nothing when the caller passed ``frame=`` (None: raw cosine only), for
    a Dask corpus (``deduplicate`` cannot run on it), after a transform (its rows are no
    longer the corpus's: judged by raw cosine, as before) or where the raw cosine is the
    whole judge."""
    from ..explain.stats import corpus_copy_frame
    from ..neighbors import Index
    from ..scale.chunks import is_dask_array

    if "frame" in options or "deduplicate__frame" in options:
        return {}
    given = t.corpus if isinstance(t.corpus, Index) else None
    if given is not None and is_dask_array(given.vectors):
        return {}
    out, indexes = {}, {}
    for code in t.fixes:
        steps = code.split("+")
        if steps[-1] != "deduplicate" or set(steps[:-1]) - {"cosine_metric"}:
            continue
        metric = "cosine" if "cosine_metric" in steps else t.opts.metric
        if metric not in indexes:
            if given is not None and given.metric == metric:
                indexes[metric] = given       # its frame is cached for explain to reuse
            else:
                try:
                    indexes[metric] = Index(t.corpus.vectors if given is not None
                                            else t.corpus, metric=metric)
                except ValueError:            # a zero row under cosine: the fix says so
                    indexes[metric] = None
        frame = None if indexes[metric] is None else corpus_copy_frame(indexes[metric])
        if frame is not None:
            out[code] = {"deduplicate__frame": frame}
            t.notes[code] = (f"{code}: near-copies judged as explain_neighbors judges them, "
                             f"by cosine and also {frame.summary}; pass frame=None for raw "
                             "cosine only")
    return out
