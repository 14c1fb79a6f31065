"""``vecdiag drift REFERENCE CURRENT``: has the current set drifted from the reference?

Exit status: 0 when no drift is detected (or drift found without ``--fail-on-drift``),
1 when drift is detected and ``--fail-on-drift`` is given (a CI / cron gate), 2 on errors.
"""

from __future__ import annotations

import json

# vd.drift's parameters as this command's options (its errors name the parameter)
FLAGS = {"n_permutations": "--permutations", "max_samples": "--max-samples",
         "alpha": "--alpha"}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "drift", help="test whether CURRENT vectors drifted from REFERENCE",
        description="Two-sample drift test between two vector files (.npy, .npz, .parquet) "
                    "with a permutation p-value (known false-alarm rate alpha).")
    parser.add_argument("reference", metavar="REFERENCE", help="vectors the system was tuned on")
    parser.add_argument("current", metavar="CURRENT", help="recent vectors (same model)")
    parser.add_argument("--method", choices=("mmd", "classifier", "mean_shift"), default="mmd",
                        help="mmd: any change in distribution (default); classifier: can a "
                             "linear model tell them apart; mean_shift: did the mean move")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level = false-alarm rate (default 0.05)")
    parser.add_argument("--permutations", type=int, default=None,
                        help="permutations for the p-value (default 500, or 2/alpha "
                             "when larger: 2000 at --alpha 0.001)")
    parser.add_argument("--max-samples", type=int, default=None,
                        help="rows used per set; larger sets are subsampled (default "
                             "1000 for mmd, 5000 for classifier, 10000 for mean_shift)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--key", default=None,
                        help="array name in .npz / vector column in .parquet (both files)")
    parser.add_argument("--fail-on-drift", action="store_true",
                        help="exit with status 1 when drift is detected")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..cli import options_named
    from ..drift import drift
    from ..io import load_vectors

    reference = load_vectors(args.reference, key=args.key, name="REFERENCE")
    current = load_vectors(args.current, key=args.key, name="CURRENT")
    with options_named(FLAGS):   # named as the options are: there is no n_permutations here
        res = drift(reference, current, method=args.method, alpha=args.alpha,
                    n_permutations=args.permutations, max_samples=args.max_samples,
                    random_state=args.seed)
    if args.json:
        from ..report.text import jsonable

        # strict JSON: a shift of +-inf sd (a column constant in both sets, at two
        # values) is null there, as in report --json
        print(json.dumps(jsonable(res.to_dict()), indent=2, allow_nan=False))
    else:
        print(_text(res))
    return 1 if (res.drifted and args.fail_on_drift) else 0


def _text(res) -> str:
    from ..results import fmt

    lines = [("DRIFT" if res.drifted else "no drift") + f" ({res.method})",
             f"  {res.statistic_name:<18} {fmt(res.statistic)}",
             f"  {'threshold':<18} {fmt(res.threshold)}  (alpha {fmt(res.alpha)})",
             f"  {'p-value':<18} {fmt(res.p_value)}",
             f"  {'rows':<18} reference {res.n_reference}, current {res.n_current}"
             + (f" (used {res.details['n_used_reference']} + {res.details['n_used_current']})"
                if res.details.get("subsampled") else "")]
    if res.method == "mmd":
        lines.append(f"  {'bandwidth':<18} {fmt(res.details['bandwidth'])} "
                     f"({res.details['bandwidth_rule']})")
    if res.method == "mean_shift":
        cos = res.details["cosine_of_means"]
        lines.append(f"  {'cosine of means':<18} "
                     + ("undefined (a mean is at the origin)" if cos is None else fmt(cos)))
        moved = ", ".join(f"{d} ({s:+.2f} sd)" for d, s in
                          zip(res.details["top_dims"][:5], res.details["top_shifts"][:5]))
        lines.append(f"  {'moved most':<18} {moved}")
    return "\n".join(lines)
