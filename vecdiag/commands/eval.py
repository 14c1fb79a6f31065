"""``vecdiag eval RUN QRELS [--baseline RUN] [--fail-on-regression]``: a CI gate.

Prints the run's metrics (``trec_eval`` conventions); with ``--baseline`` also a paired
significance test per metric. Exit status: 0 fine, 1 when ``--fail-on-regression`` is
given and a metric dropped significantly (Holm-adjusted p < alpha), 2 on bad input.
"""

from __future__ import annotations

import json
import sys

HELP = "score a TREC run against qrels; with --baseline, test for significant changes"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("eval", help=HELP, description=HELP)
    parser.add_argument("run_file", metavar="RUN", help="TREC run file: query Q0 doc rank score tag")
    parser.add_argument("qrels_file", metavar="QRELS", help="qrels: TREC (query 0 doc rel) or BEIR TSV with header")
    parser.add_argument("--baseline", metavar="RUN", help="run to compare against")
    parser.add_argument("--metrics", nargs="+", metavar="METRIC",
                        default=["ndcg@10", "recall@100", "mrr@10", "map"],
                        help="metrics (default: ndcg@10 recall@100 mrr@10 map)")
    parser.add_argument("--method", default="randomization",
                        choices=["randomization", "ttest", "bootstrap"],
                        help="significance test (default: randomization)")
    parser.add_argument("--n-resamples", type=int, default=10_000, metavar="B",
                        help="resamples of the randomization or bootstrap test "
                             "(default 10000)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level on Holm-adjusted p-values (default 0.05)")
    parser.add_argument("--fail-on-regression", action="store_true",
                        help="exit 1 when a metric drops significantly against --baseline")
    parser.add_argument("--missing", default="zero", choices=["zero", "skip"],
                        help="judged queries a run has no results for: count them as 0 "
                             "(default, trec_eval -c; a warning gives their number) or skip "
                             "them (when the run covers a subset of the queries on purpose)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def _num(x: float) -> float | None:
    return None if x != x else float(x)


def _evaluate(run_dict, qrels, args, name: str, notes: list):
    """evaluate(), its warnings turned into notes printed as one line each."""
    import warnings

    from ..evaluation import evaluate

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev = evaluate(run_dict, qrels, metrics=args.metrics, name=name, missing=args.missing)
    path = args.run_file if name == "run" else args.baseline
    for w in caught:
        text = str(w.message).replace("pass missing='skip'", "pass --missing skip")
        notes.append(f"{name} {path}: {text}")
    return ev


def run(args) -> int:
    from ..cli import CommandError, options_named
    from ..evaluation import compare, load_qrels, load_run

    if args.fail_on_regression and not args.baseline:
        raise CommandError("--fail-on-regression needs --baseline RUN to compare against")
    qrels = load_qrels(args.qrels_file)
    if not qrels:
        # an empty (or header-only) file was told to "check that the query ids match"
        raise CommandError(f"QRELS {args.qrels_file} holds no judgment; pass a file of "
                           "'query iteration doc relevance' lines (or BEIR's TSV)")
    notes: list = []
    run_dict = load_run(args.run_file)
    current = _evaluate(run_dict, qrels, args, "run", notes)
    if current.n_queries == 0:
        raise CommandError(f"RUN {args.run_file} holds no result line; with --missing skip "
                           "there is no query to average" if not run_dict else
                           "no query of the qrels is left to average; check that the "
                           "query ids of run and qrels match")
    payload = {"run": args.run_file, "queries": current.n_queries,
               "no_relevant": len(current.no_relevant),      # averaged, as trec_eval does
               "skipped_not_judged": len(current.not_judged),
               "missing_from_run": len(current.missing_from_run),
               "missing": current.missing, "notes": notes,
               "mean": {m: _num(v) for m, v in current.mean.items()}}
    comparison = None
    if args.baseline:
        base = _evaluate(load_run(args.baseline), qrels, args, "baseline", notes)
        with options_named({"method": "--method", "n_resamples": "--n-resamples",
                            "alpha": "--alpha"}):   # named as the options are (no method='...')
            comparison = compare(base, current, method=args.method,
                                 n_resamples=args.n_resamples, alpha=args.alpha)
        payload["baseline"] = {
            "path": args.baseline, "method": comparison.method, "alpha": comparison.alpha,
            "shared_queries": len(comparison.query_ids),
            "absent_from_both": len(comparison.absent_from_both),
            "absent_from_one": len(comparison.absent_from_one),
            "wins_losses": {m: {k: (int(v) if k in ("wins", "ties", "losses") else float(v))
                                for k, v in row.items()}
                            for m, row in comparison.wins_losses().iterrows()},
            "metrics": {m: {"baseline": comparison.mean_a[m], "run": comparison.mean_b[m],
                            "delta": comparison.delta[m], "ci": list(comparison.ci[m]),
                            "p_value": comparison.p_value[m],
                            "p_holm": comparison.p_adjusted[m],
                            "significant": comparison.significant[m]}
                        for m in comparison.metrics},
            "regressions": comparison.regressions, "improvements": comparison.improvements}
    failed = bool(args.fail_on_regression and comparison is not None and comparison.regressions)
    payload["failed"] = failed
    if args.json:
        from ..report.text import jsonable

        # an unbounded interval end (two or three shared queries) is null, not Infinity,
        # which strict JSON parsers refuse
        print(json.dumps(jsonable(payload), indent=2, allow_nan=False))
    else:
        for note in notes:
            print(f"warning: {note}", file=sys.stderr)
        _print_text(current, comparison)
        if failed:
            print(f"FAIL: significant drop in {', '.join(comparison.regressions)}",
                  file=sys.stderr)
    return 1 if failed else 0


def _print_text(current, comparison) -> None:
    print(current.query_note())
    if comparison is None:
        for m in current.metrics:
            print(f"{m:<14s} {current.mean[m]:.4f}")
        return
    print(f"{comparison.method} test {comparison.query_note()}, "
          f"alpha {comparison.alpha} (Holm across metrics)")
    print(f"{'metric':<14s} {'baseline':>9s} {'run':>9s} {'delta':>9s} "
          f"{'95% interval':>21s} {'p':>8s} {'p_holm':>8s}  verdict")
    for m in comparison.metrics:
        lo, hi = comparison.ci[m]
        verdict = ("better" if comparison.delta[m] > 0 else "WORSE") \
            if comparison.significant[m] else "-"
        print(f"{m:<14s} {comparison.mean_a[m]:9.4f} {comparison.mean_b[m]:9.4f} "
              f"{comparison.delta[m]:+9.4f} [{lo:+8.4f}, {hi:+8.4f}] "
              f"{comparison.p_value[m]:8.4f} {comparison.p_adjusted[m]:8.4f}  {verdict}")
    print("per query (run against baseline):")
    for m, row in comparison.wins_losses().iterrows():
        print(f"  {m:<14s} {int(row['wins'])} better, {int(row['ties'])} equal, "
              f"{int(row['losses'])} worse "
              f"(largest gain {row['largest gain']:+.4f}, largest loss {row['largest loss']:+.4f})")
