"""Does every sentence of an Explanation agree with its own numbers?

:func:`contradictions` reads the sentences an Explanation shows (cause summaries, ruled-out
causes, the recommendation) and checks each claim against the records it comes from: the
expected documents' exact ranks, every counterfactual's ranks, the evidence dicts and the
judged-set figures. It is used by the property test (tests/test_explain_sentences.py) and
by benchmarks/bench_explain_real.py ("contradicting sentences").

The claims checked, by pattern:

* "Under FIX DOC moves from rank A to rank B" / "stays at rank A": A is DOC's exact rank,
  B its rank in FIX's counterfactual.
  With several missed documents, the tally "(U of the N missed expected documents move up,
  D down)" ("all N ...", "both ..." when every one moves up; "moves" after 1) follows and agrees with the counterfactual, and DOC is not pushed down by a
  fix that lifts another missed document.
* "no fix brings it into the top-K (best: rank B under FIX)": every fix counterfactual
  leaves the document outside the top-K, and B is the best of them, reached under FIX.
* "(rank A of N)", "but A by the vectors", "instead of A", "(rank A)": DOC's exact rank.
* "push DOC down from rank A to B": A exact, B under the cause's fix, B > A.
* "brings DOC from rank A to B" (recommendation): B <= K under the recommended fix;
  "lifts DOC from rank A to B (still outside...)": K < B < A.
* "changes METRIC by +D (p P)": the recommended counterfactual's global figures.
* percentages: never a bare "0%" / "100%" (a share is "fewer than 1%", "all", ...).
* "at the Nth percentile": the ordinal of the stored percentile; under euclidean
  "longer (shorter) than N% of the distances between random document pairs": N from it.
"""

from __future__ import annotations

import re

from vecdiag.explain.causes import fix_name

_PCT_ZERO = re.compile(r"(?<![\d.])(?:0|100)(?:\.0+)?%")


def doc_name(exp, doc) -> str:
    """How explain's sentences name an expected document."""
    if exp.neighbors.ids is None and isinstance(doc.id, int) and doc.id == doc.position:
        return f"row {doc.position}"
    text = str(doc.id)
    return f"document {text}" if text.isdigit() else text


def _fix_of(exp, label):
    for cf in exp.counterfactuals:
        if fix_name(cf.fix) == label:
            return cf
    return None


def contradictions(exp) -> list:
    """Sentences of ``exp`` that disagree with its numbers, as readable strings."""
    out = []
    docs = {doc_name(exp, e): e for e in exp.expected}
    fixes = [cf for cf in exp.counterfactuals if not cf.fix.startswith("model: ")]
    sentences = [(c.code, c.summary, c) for c in exp.causes]
    sentences += [("ruled out " + c.code, c.summary, c) for c in exp.ruled_out]
    if exp.recommendation_text:
        sentences.append(("recommendation", exp.recommendation_text, None))
    names = sorted(docs, key=len, reverse=True)
    doc_alt = "|".join(re.escape(n) for n in names) or r"(?!x)x"
    labels = sorted({fix_name(cf.fix) for cf in exp.counterfactuals}, key=len, reverse=True)
    fix_alt = "|".join(re.escape(n) for n in labels) or r"(?!x)x"

    def bad(where, text, why):
        out.append(f"{where}: {why} :: {text}")

    for where, text, cause in sentences:
        if _PCT_ZERO.search(text):
            bad(where, text, "prints a 0% or 100% share")
        for m in re.finditer(rf"Under ({fix_alt}) ({doc_alt}) moves from rank (\d+) to rank (\d+)", text):
            cf, e = _fix_of(exp, m.group(1)), docs[m.group(2)]
            a, b = int(m.group(3)), int(m.group(4))
            if a != e.rank:
                bad(where, text, f"says rank {a}, exact rank is {e.rank}")
            if cf is None or cf.expected_ranks.get(e.id) != b:
                bad(where, text, f"says rank {b} under {m.group(1)}, counterfactual has "
                                 f"{None if cf is None else cf.expected_ranks.get(e.id)}")
            if a == b:
                bad(where, text, "'moves' between equal ranks")
            missed = [x for x in exp.expected if x.rank > exp.k]
            if cf is not None and len(missed) > 1 and e in missed:
                moves = [(x.rank, cf.expected_ranks[x.id]) for x in missed]
                up = sum(r1 < r0 for r0, r1 in moves)
                down = sum(r1 > r0 for r0, r1 in moves)
                if b > a and up:
                    bad(where, text, f"names a document {m.group(1)} pushes down while it "
                                     f"lifts {up} other missed document(s)")
                t = re.match(r" \((?:(\d+) of the (\d+)|all (\d+)|(both)) missed expected "
                             r"documents (moves?) up(?:, (\d+) down)?[;)]", text[m.end():])
                if t is None:
                    bad(where, text, f"no tally of the {len(missed)} missed documents")
                    continue
                n = int(t.group(2) or t.group(3) or 2)
                said = (int(t.group(1) or n), n, int(t.group(6) or 0))
                if said != (up, len(missed), down):
                    bad(where, text, f"tally is {up} up, {down} down of {len(missed)}")
                if (t.group(5) == "moves") != (said[0] == 1 and t.group(1) is not None):
                    bad(where, text, f"'{t.group(5)}' after {said[0]}")
        for m in re.finditer(rf"Under ({fix_alt}) ({doc_alt}) stays at rank (\d+)", text):
            cf, e = _fix_of(exp, m.group(1)), docs[m.group(2)]
            a = int(m.group(3))
            if a != e.rank or cf is None or cf.expected_ranks.get(e.id) != a:
                bad(where, text, "'stays' but the ranks differ")
        for m in re.finditer(rf"({doc_alt})\b[^.;]*?\(rank (\d+)(?: of \d+)?\)", text):
            e = docs[m.group(1)]
            if int(m.group(2)) != e.rank:
                bad(where, text, f"says rank {m.group(2)}, exact rank is {e.rank}")
        for m in re.finditer(r"but (\d+) by the vectors", text):
            ranks = {e.rank for e in exp.expected}
            if int(m.group(1)) not in ranks:
                bad(where, text, f"dense rank {m.group(1)} is no expected document's rank")
        m = re.search(rf"no fix brings it into the top-(\d+) \(best: rank (\d+) under ({fix_alt})\)",
                      text)
        if m:
            k, best = int(m.group(1)), int(m.group(2))
            e = next(e for n, e in docs.items() if text.startswith(n + " "))
            ranks = [cf.expected_ranks[e.id] for cf in fixes if e.id in cf.expected_ranks]
            if ranks and min(ranks) <= k:
                bad(where, text, f"a fix does bring it into the top-{k} (rank {min(ranks)})")
            if ranks and min(ranks) != best:
                bad(where, text, f"best rank under the fixes is {min(ranks)}, not {best}")
            cf = _fix_of(exp, m.group(3))
            if cf is None or cf.expected_ranks.get(e.id) != best:
                bad(where, text, f"rank {best} is not reached under {m.group(3)}")
        elif "no fix brings it" in text:
            e = next(e for n, e in docs.items() if text.startswith(n + " "))
            m = re.search(r"no fix brings it closer than rank (\d+)", text)
            if m and int(m.group(1)) != e.rank:
                bad(where, text, f"its rank is {e.rank}, not {m.group(1)}")
            if any(cf.expected_ranks.get(e.id, 10**9) < e.rank for cf in fixes):
                bad(where, text, "says no fix brings it closer, but one does")
        for m in re.finditer(rf"push ({doc_alt}) down from rank (\d+) to (\d+)", text):
            e, a, b = docs[m.group(1)], int(m.group(2)), int(m.group(3))
            cf = next((c for c in exp.counterfactuals if c.fix == cause.fix), None)
            if a != e.rank or b <= a or cf is None or cf.expected_ranks.get(e.id) != b:
                bad(where, text, "the push down does not match the counterfactual")
        for m in re.finditer(rf"(brings|lifts) ({doc_alt}) from rank (\d+) to (\d+)", text):
            e, a, b = docs[m.group(2)], int(m.group(3)), int(m.group(4))
            rec = exp.recommendation
            if where == "recommendation" and (rec is None or rec.expected_ranks.get(e.id) != b):
                bad(where, text, "the recommended counterfactual has another rank")
            if a != e.rank:
                bad(where, text, f"says rank {a}, exact rank is {e.rank}")
            if m.group(1) == "brings" and b > exp.k:
                bad(where, text, f"'brings' to rank {b}, outside the top-{exp.k}")
            if m.group(1) == "lifts" and not (exp.k < b < a):
                bad(where, text, f"'lifts' from {a} to {b}")
        m = re.search(r"changes (\S+) by ([+-][\d.]+) \(p ([\d.e+-]+)\)", text)
        if m and where == "recommendation":
            rec = exp.recommendation
            if (rec is None or rec.global_delta is None
                    or f"{rec.global_delta:+.3f}" != m.group(2)
                    or f"{rec.global_p:.2g}" != m.group(3)):
                bad(where, text, "judged-set figures differ from the counterfactual's")
        if m and where == "recommendation" and exp.recommendation is not None:
            rec = exp.recommendation
            if rec.global_significant and rec.global_delta < 0:
                bad(where, text, "recommends a fix that significantly hurts the judged set")
        for m in re.finditer(rf"({fix_alt}) brings it to rank (\d+)", text):
            e = next(e for n, e in docs.items() if text.startswith(n + " "))
            cf, r = _fix_of(exp, m.group(1)), int(m.group(2))
            if cf is None or cf.expected_ranks.get(e.id) != r or r > exp.k:
                bad(where, text, f"rank {r} under {m.group(1)} does not match its counterfactual")
        for m in re.finditer(r"instead of (\d+)", text):
            if int(m.group(1)) not in {e.rank for e in exp.expected}:
                bad(where, text, f"'instead of {m.group(1)}' is no expected document's rank")
        if cause is not None and cause.code == "expected_far" and "percentile" in text:
            from vecdiag.explain.wording import ordinal

            want = ordinal(cause.evidence["percentile"])
            if f"at the {want} percentile" not in text:
                bad(where, text, f"percentile should read {want}")
        if cause is not None and cause.code == "expected_far" and "distances between" in text:
            from vecdiag.explain.wording import share

            pct = cause.evidence["percentile"]   # euclidean: the pairs farther apart
            want = (f"longer than {share(1 - pct / 100)}" if pct < 50
                    else f"shorter than {share(pct / 100)}")
            if f"{want} of the distances between random document pairs" not in text:
                bad(where, text, f"distance should read {want} (percentile {pct:.1f})")
        if cause is not None and cause.code == "hub":
            m = re.search(r"neighbours of (?:about )?(\d+) documents", text)
            if m and int(m.group(1)) != round(cause.evidence["k_occurrence"]):
                bad(where, text, "k-occurrence differs from the evidence")
    return out
