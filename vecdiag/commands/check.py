"""``vecdiag check CORPUS [--fail-on warning|critical] [--json]``: a CI gate.

Diagnoses the corpus (and, with ``--queries``, the query/corpus shift) and prints the
findings. Exit status: 0 when no finding reaches the ``--fail-on`` level, 1 when one
does, 2 with one line on stderr for bad input.
"""

from __future__ import annotations

import json

HELP = "diagnose a corpus and exit 1 when findings reach --fail-on: a CI gate"
LEVELS = {"ok": 0, "warning": 1, "critical": 2}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("check", help=HELP, description=HELP)
    parser.add_argument("corpus", metavar="CORPUS",
                        help="document vectors: .npy, .npz, .parquet, or a BEIR folder")
    parser.add_argument("--queries", metavar="Q", help="query vectors: adds the shift check")
    parser.add_argument("--fail-on", choices=["warning", "critical"], default="critical",
                        help="lowest severity that fails the check (default critical)")
    parser.add_argument("--key", help="array name in .npz / vector column in .parquet")
    parser.add_argument("--query-key", metavar="QKEY",
                        help="array name / vector column of --queries when it differs "
                             "from --key's (default: --key)")
    parser.add_argument("--metric", default="cosine", choices=["cosine", "dot", "euclidean"])
    parser.add_argument("-k", "--k", type=int, default=10, help="neighbours in the kNN graph")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args) -> int:
    import vecdiag as vd

    from ..cli import writes_unicode
    from ..report.text import findings_text, jsonable
    from ._inputs import load_inputs

    # NaN or inf rows are the non_finite finding (exit 1 at --fail-on critical), whether
    # the corpus is one file or shards; not a bad-input error (exit 2)
    inp = load_inputs(args.corpus, queries=args.queries, key=args.key, finite_corpus=False,
                      query_key=args.query_key)
    diagnosis = vd.diagnose(inp.corpus, queries=inp.queries, ids=inp.ids, k=args.k,
                            metric=args.metric, show_progress=False)
    threshold = LEVELS[args.fail_on]
    failing = [f for f in diagnosis.findings if LEVELS.get(f.severity, 0) >= threshold]
    status = 1 if failing else 0
    if args.json:
        print(json.dumps({
            "corpus": str(args.corpus), "fail_on": args.fail_on, "passed": not failing,
            "worst_severity": diagnosis.worst,
            "failing": [f.code for f in failing],
            "findings": [{"code": f.code, "severity": f.severity, "summary": f.summary,
                          "fix": f.fix, "evidence": jsonable(f.evidence)}
                         for f in diagnosis.findings],
            "notes": inp.notes}, indent=2, ensure_ascii=not writes_unicode()))
    else:
        print(f"vecdiag check: {inp.description()}")
        for note in inp.notes:
            print(f"note: {note}")
        print("\n".join(findings_text(diagnosis)))
        verdict = (f"FAIL: {len(failing)} finding(s) at or above {args.fail_on}: "
                   f"{', '.join(f.code for f in failing)}" if failing else
                   f"PASS: no finding at or above {args.fail_on}")
        print(verdict)
    return status
