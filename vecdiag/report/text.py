"""The report as terminal text and as JSON (for machines, ``--json``)."""

from __future__ import annotations

import math
import textwrap

import numpy as np

from ..evaluation.metrics import fmt_mean
from ..explain.listing import expected_line
from ..explain.wording import names_document
from ..results import fmt, shorten, shown_text

__all__ = ["render_text", "to_json", "jsonable", "findings_text"]

_MARK = {"critical": "CRITICAL", "warning": "warning", "ok": "ok"}


def _wrap(text: str, indent: int, width: int = 96) -> str:
    # subtle: lines break at spaces only; at hyphens they cut ids ("bill-" / "plans")
    pad = " " * indent
    return textwrap.fill(" ".join(str(text).split()), width=width, initial_indent=pad,
                         subsequent_indent=pad, break_on_hyphens=False)


def findings_text(diagnosis) -> list[str]:
    """One line (wrapped) per finding, most severe first."""
    lines = []
    for f in diagnosis.findings:
        head = f"  {_MARK.get(f.severity, f.severity):>8}  {f.code}"
        fix = f" [fix: {f.fix}]" if f.fix else ""
        lines.append(head)
        lines.append(_wrap(f.summary + fix, 12))
    return lines


def unchecked_views(skipped) -> list[str]:
    """The per-query views a report could not look at (from ``Analysis.skipped``)."""
    views = []
    for note in skipped or ():
        if note.startswith("lexical checks skipped") or "lexical_mismatch" in note:
            views.append("lexical (BM25): " + note.split(": ", 1)[-1])
        elif note.startswith("truncation and query-prefix"):
            views.append("truncation and query prefix: " + note.split(": ", 1)[-1])
    return views


def truncation_lines(case, limit) -> list[str]:
    """Sentences about relevant documents cut at the model's token limit."""
    return [f"! {doc} has {tokens} tokens but the model reads {limit}: its last "
            + ("token was" if tokens - limit == 1 else f"{tokens - limit} tokens were")
            + " never embedded"
            for doc, tokens in getattr(case, "truncated", ())]


def _case_lines(case, rank_metric: str, number: int, limit=None, unchecked=()) -> list[str]:
    exp = case.explanation
    text = f" “{shorten(case.query_text, 70)}”" if case.query_text else ""
    group = f" ({case.group})" if case.group else ""
    lines = [f"  {number}. {case.query_id}{text}{group}: {rank_metric} {fmt(case.score)}"]
    advice = getattr(exp, "recommendation_text", None)
    if advice:  # the fix to try comes first (explain_neighbors with the report's fix_report)
        lines.append(_wrap(f"try first: {advice}", 7))
    causes = list(getattr(exp, "causes", []) or [])
    said = [c.summary for c in causes[:3]] + ([advice] if advice else [])
    top = list(getattr(exp, "top_ids", []) or [])
    if top:
        lines.append(_wrap(_top_line(exp, top, said), 7))
    expected = sorted(getattr(exp, "expected", []) or [], key=lambda e: (e.rank, e.position))
    listed = _listed(expected, said, _has_ids(exp), lambda e: e.id)
    for e in listed:
        lines.append(_wrap(expected_line(e, getattr(exp, "metric", None), _has_ids(exp)), 7))
    if len(listed) < len(expected):
        more = len(expected) - len(listed)
        lines.append(_wrap(f"... and {more} more expected document{'s' if more > 1 else ''}, "
                           "ranked lower (all in the HTML report and --json)", 7))
    for line in truncation_lines(case, limit):
        lines.append(_wrap(line, 7))
    for c in causes[:3]:
        fix = f" [fix: {c.fix}]" if getattr(c, "fix", None) else ""
        lines.append(_wrap(f"- {c.code} (confidence {fmt(c.confidence, 2)}): {c.summary}{fix}", 7))
    # what each fix would change: the rows of the HTML's counterfactual table
    for j, line in enumerate(getattr(exp, "counterfactual_lines", list)()):
        lines.append(_wrap(line, 7 if j == 0 else 9))
    if not causes:
        k = getattr(exp, "k", None)
        missed = [e for e in getattr(exp, "expected", []) or [] if k is not None and e.rank > k]
        lines.append(_wrap("- no cause found: the vectors themselves rank it low" if missed else
                           "- no cause found: the ranking looks healthy (every expected "
                           "document is in the top k)", 7))
    for view in unchecked:
        lines.append(_wrap(f"(not checked: {view})", 7))
    return lines


def _has_ids(exp) -> bool:
    return getattr(getattr(exp, "neighbors", None), "ids", None) is not None


def _listed(items, sentences, has_ids, id_of, most: int = 3) -> list:
    """The first ``most`` of ``items`` (ranked), and every later one a shown sentence names
    (a cause may be about the fourth of four relevant documents, or the ninth hit). Without
    ids an id is the row, as the sentences name it ("row 17")."""
    named = [x for x in items[most:]
             if any(names_document(s, id_of(x), has_ids) for s in sentences)]
    return items[:most] + named


def _top_line(exp, top, sentences, most: int = 10) -> str:
    """``top-K: ids``: at most ``most``, and every later hit a shown sentence names (with
    its rank)."""
    ranked = list(enumerate(top, start=1))
    listed = _listed(ranked, sentences, _has_ids(exp), lambda x: x[1], most)
    shown = [str(doc) if rank <= most else f"{doc} (rank {rank})" for rank, doc in listed]
    more = len(top) - len(listed)
    return (f"top-{len(top)}: {', '.join(shown)}"
            + (f", ... ({more} more in the HTML report)" if more else ""))


def fix_lines(report) -> list[str]:
    """One line per run of a FixReport: primary metric (4 decimals, so the column
    aligns), change, Holm p, verdict."""
    m = report.primary_metric
    lines = []
    for name in report.order:
        c = report.comparisons.get(name)
        mean = report.evaluations[name].mean[m]
        if c is None:
            lines.append(f"  {name:<24s} {m} {fmt_mean(mean)}")
            continue
        verdict = ("better" if c.delta[m] > 0 else "WORSE") if c.significant[m] else "-"
        lines.append(f"  {name:<24s} {m} {fmt_mean(mean)}  {c.delta[m]:+.4f}  "
                     f"p={c.p_adjusted[m]:.3g}  {verdict}")
    best = report.best
    lines.append(f"  best fix: {best}" if best else
                 "  no fix beats the baseline significantly on these queries")
    for name, err in report.failed.items():
        lines.append(_wrap(f"could not run {name}: {err}", 2))
    for note in getattr(report, "notes", ()):   # a FixReport made before notes had none
        lines.append(_wrap(f"note: {note}", 2))
    return lines


def render_text(analysis, *, html_path=None) -> str:
    """A readable plain-text summary of an :class:`~vecdiag.report.Analysis`.

    Parameters
    ----------
    analysis : Analysis
        From :func:`~vecdiag.report.analyze`.
    html_path : str, optional
        Where the HTML report was written; named on the last line.

    Notes
    -----
    A bidirectional control character in a user's id or text (U+202E, the right-to-left
    override, and the other embeddings, overrides and isolates) is printed as its code,
    ``\\u202e``, as in the HTML report (:func:`vecdiag.results.shown_text`): a terminal or
    notebook that applies the bidi algorithm would reorder the rest of the line.

    Examples
    --------
    >>> import numpy as np
    >>> import vecdiag as vd
    >>> a = vd.report.analyze(np.random.default_rng(0).normal(size=(40, 8)), title="Demo")
    >>> print(vd.report.render_text(a, html_path="report.html").splitlines()[-1])
    Full report: report.html
    >>> print(vd.report.render_text(a).splitlines()[1])
    ====
    """
    d = analysis.diagnosis
    counts = {s: sum(f.severity == s for f in d.findings) for s in ("critical", "warning", "ok")}
    lines = [analysis.title, "=" * len(analysis.title)]
    if analysis.description:
        lines.append(_wrap(analysis.description, 0))
    lines += [*(_wrap(f"note: {n}", 0) for n in analysis.notes)]
    lines += [_wrap(n, 0) for n in getattr(analysis, "skipped", ())]
    lines += ["", f"Findings ({counts['critical']} critical, {counts['warning']} warning, "
              f"{counts['ok']} ok), most severe first:", *findings_text(d)]
    longest = getattr(analysis, "long_documents", None)
    if longest is not None:
        lines += [f"  {'warning' if longest.count else 'ok':>8}  long_documents",
                  _wrap(longest.summary(), 12)]
    ev = analysis.evaluation
    if ev is not None:
        means = "   ".join(f"{m} {fmt(ev.mean[m], 3)}" for m in ev.metrics)
        lines += ["", f"Retrieval, exact search ({ev.n_queries} judged queries):", f"  {means}"]
        if analysis.groups:
            lines.append(_wrap(f"{analysis.rank_metric} by query group (worst first): " +
                               ", ".join(f"{g} {fmt(v, 3)}" for g, v in analysis.groups.items()),
                               2))
    report = getattr(analysis, "fix_report", None)
    if report is not None:
        lines += ["", f"Fixes against the baseline, best first ({report.query_note()}; "
                  f"Holm p):"]
        lines += fix_lines(report)
    if analysis.cases:
        lines += ["", f"The {len(analysis.cases)} worst queries, explained:"]
        for i, case in enumerate(analysis.cases, 1):
            lines += _case_lines(case, analysis.rank_metric, i, analysis.max_tokens,
                                 unchecked_views(getattr(analysis, "skipped", ())))
    if html_path is not None:
        lines += ["", f"Full report: {html_path}"]
    return shown_text("\n".join(lines))   # bidi controls as their codes, as in the HTML


def jsonable(value):
    """Plain JSON types: NumPy scalars and arrays converted, NaN/inf become None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _finding_json(f) -> dict:
    return {"code": f.code, "severity": f.severity, "summary": f.summary,
            "fix": f.fix, "value": jsonable(f.key_number),
            "measures": getattr(f, "measures", None), "evidence": jsonable(f.evidence)}


def _fixes_json(report):
    if report is None:
        return None
    rows = []
    for name in report.order:
        c = report.comparisons.get(name)
        rows.append({"fix": name, "mean": jsonable(report.evaluations[name].mean),
                     "delta": None if c is None else jsonable(c.delta),
                     "p_holm": None if c is None else jsonable(c.p_adjusted),
                     "significant": None if c is None else jsonable(c.significant),
                     "seconds": jsonable(report.seconds.get(name))})
    return {"primary_metric": report.primary_metric, "method": report.method,
            "alpha": report.alpha, "best": report.best,
            "queries": report.evaluations[report.baseline_name].n_queries,
            "unqueried": len(report.unqueried), "runs": rows,
            "failed": dict(report.failed), "notes": list(getattr(report, "notes", ()))}


def to_json(analysis) -> dict:
    """Everything in the report as JSON-ready data.

    Plain dicts, lists, strings and numbers (NaN and infinities become None), as
    ``vecdiag report --json`` prints. Each of ``worst_queries`` carries its causes, the
    fix to try first and ``counterfactuals``: per fix, the expected documents' ranks
    after it, whether the top-k moves, the note and the judged-set change.

    Parameters
    ----------
    analysis : Analysis
        From :func:`~vecdiag.report.analyze`.

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> import vecdiag as vd
    >>> a = vd.report.analyze(np.random.default_rng(0).normal(size=(40, 8)), title="Demo")
    >>> out = vd.report.to_json(a)
    >>> out["title"], out["worst_severity"], out["fixes"]
    ('Demo', 'ok', None)
    >>> json.loads(json.dumps(out))["title"]
    'Demo'
    """
    d = analysis.diagnosis
    out = {"title": analysis.title, "description": analysis.description,
           "notes": list(analysis.notes), "skipped": list(getattr(analysis, "skipped", ())),
           "worst_severity": d.worst,
           "findings": [_finding_json(f) for f in d.findings], "stats": jsonable(d.stats)}
    longest = getattr(analysis, "long_documents", None)
    out["long_documents"] = None if longest is None else {
        "count": longest.count, "n": longest.n, "max_tokens": longest.max_tokens,
        "longest": [{"id": i, "tokens": t} for i, t in longest.longest],
        "summary": longest.summary()}
    out["fixes"] = _fixes_json(getattr(analysis, "fix_report", None))
    ev = analysis.evaluation
    if ev is not None:
        out["metrics"] = {"queries": ev.n_queries, "mean": jsonable(ev.mean),
                          "by_group": jsonable(analysis.groups)}
    out["unexplained_queries"] = list(getattr(analysis, "unexplained", ()))
    out["worst_queries"] = [{
        "query_id": c.query_id, "query_text": c.query_text, "group": c.group,
        analysis.rank_metric: jsonable(c.score), "relevant": c.relevant,
        "top_ids": jsonable(list(getattr(c.explanation, "top_ids", []))),
        "truncated_relevant": [{"id": d, "tokens": t} for d, t in c.truncated],
        "not_checked": unchecked_views(getattr(analysis, "skipped", ())),
        "expected": [{"id": e.id, "rank": int(e.rank), "score": jsonable(e.score)}
                     for e in getattr(c.explanation, "expected", [])],
        "causes": [{"code": x.code, "confidence": jsonable(x.confidence), "fix": x.fix,
                    "summary": x.summary} for x in getattr(c.explanation, "causes", [])],
        "recommendation": _recommendation(c.explanation),
        "counterfactuals": _counterfactuals_json(c.explanation),
    } for c in analysis.cases]
    return out


def _counterfactuals_json(exp) -> list:
    """What each fix would change (the HTML's counterfactual table): per fix, the
    expected documents' ranks after it, whether the top-k changes, the judged change."""
    return [{"fix": c.fix, "moved": bool(c.moved), "note": c.note,
             "expected_ranks": [{"id": jsonable(d), "rank": int(r)}
                                for d, r in c.expected_ranks.items()],
             "global_delta": jsonable(getattr(c, "global_delta", None)),
             "global_p": jsonable(getattr(c, "global_p", None))}
            for c in getattr(exp, "counterfactuals", []) or []]


def _recommendation(exp) -> dict | None:
    """The explanation's fix to try first, for the JSON report."""
    text = getattr(exp, "recommendation_text", None)
    if not text:
        return None
    rec = getattr(exp, "recommendation", None)
    return {"fix": None if rec is None else rec.fix, "sentence": text,
            "global_delta": None if rec is None else jsonable(rec.global_delta),
            "global_p": None if rec is None else jsonable(rec.global_p)}
