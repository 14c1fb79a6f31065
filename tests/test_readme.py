"""README.md runs: every ```python block executes and the outputs it shows are compared.

The rules (what counts as a shown output, how numbers compare, the opt-out marker
``<!-- readme-test: skip REASON -->`` and ``<!-- readme-test: continue -->``) are in
tests/_readme_blocks.py and in the README's "The README is tested" note.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _readme_blocks import depends_on, matches, parse_blocks, run_doctest, run_script

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCKS = parse_blocks(README.read_text(encoding="utf-8"))
RUN = [b for b in BLOCKS if b.action != "skip"]


def test_readme_has_python_blocks_and_every_opt_out_says_why():
    assert len(RUN) >= 1     # the other blocks moved to docs/ pages: tests/test_docs.py runs them
    lazy = [b.name for b in BLOCKS if b.action == "skip" and len(b.reason) < 8]
    assert not lazy, f"{lazy}: <!-- readme-test: skip REASON --> needs a REASON (what it needs)"


@pytest.mark.parametrize("block", RUN, ids=[b.name for b in RUN])
def test_readme_block(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                      # blocks may write files (report.html)
    namespace = {"__name__": "__readme__"}
    for before in block.previous:                    # <!-- readme-test: continue -->
        if before.is_doctest:
            run_doctest(before.code, namespace, before.name, before.line)
        else:
            run_script(before.code, namespace, before.line, check=False)
    if block.is_doctest:
        ok, report = run_doctest(block.code, namespace, block.name, block.line)
        assert ok, f"{block.name} (depends on {depends_on(block.code)}):\n{report}"
        return
    claims = run_script(block.code, namespace, block.line)
    wrong = [c for c in claims if not c.ok]
    assert not wrong, "\n\n".join(
        f"README.md:{c.line}: {c.source}\n  shows:    {c.expected}\n  got:      {c.actual}\n"
        f"  ({c.why}; the output depends on {depends_on(block.code)})" for c in wrong)


# -- the comparison rules themselves ---------------------------------------------------------

@pytest.mark.parametrize("expected, actual, ok", [
    ("0.7719", "0.77189", True),
    ("0.7719", "0.7725", False),                     # no NUMBER-style slack beyond the digits
    ("1.0", "0.94", False),                          # 1.0 claims 0.95 <= x <= 1.05
    ("1.0", "np.float64(1.0)", True),
    ("0.7302  -0.0417  <- a note\nnext", "0.730231 -0.041698 next", True),
    ("1.0", "1.0000000002", True),
    ("19", "19", True),
    ("19", "20", False),
    ("(7.9..., 'median heuristic')", "(7.93871, 'median heuristic')", True),
    ("(7.9..., 'median heuristic')", "(7.83871, 'median heuristic')", False),
    ("[2, 1, 0]", "[2, 0, 1]", False),
    ("{'a': 1, ...}", "{'a': 1, 'b': 2}", True),
    ("threshold 5.644e-04,", "threshold 5.644e-04,", True),
    ("threshold 5.644e-04,", "threshold 5.645e-04,", False),
    ("one two\n three", "one   two three", True),
    ("doc-417 moves", "doc-418 moves", False),
])
def test_output_comparison_rules(expected, actual, ok):
    assert matches(expected, actual)[0] is ok


@pytest.mark.parametrize("expected, actual, ok", [
    ("10 items (3.9%) are copies", "10 items (3.86%) are copies", False),
    ("10 items (3.86%) are copies", "10 items (3.86%) are copies", True),
    ("MMD² = 0.0076, threshold 5.644e-04", "MMD² = 0.0076, threshold 5.644e-04", True),
    ("skewness 3.8", "skewness 3.80", False),
    ("wall ... s, skewness 3.8...", "wall 12.5 s, skewness 3.80", True),
])
def test_text_the_code_wrote_compares_digit_for_digit(expected, actual, ok):
    assert matches(expected, actual, exact=True)[0] is ok
    assert matches(expected, actual)[0] is True      # a value's repr may be shown rounded


def test_a_returned_or_printed_string_is_not_shown_rounded():
    code = ("f'{10 / 259:.2%}'\n"
            "# '3.9%'\n"
            "print(f'{10 / 259:.2%}')\n"
            "# 3.9%\n"
            "10 / 259\n"
            "# 0.039\n"
            "f'{10 / 259:.2%}'\n"
            "# '3.86%'\n")
    assert [(c.line, c.ok) for c in run_script(code, {})] == [(1, False), (3, False), (5, True),
                                                               (7, True)]


def test_claims_are_found_and_prose_is_not():
    code = ("x = [3, 1]          # prose after an assignment\n"
            "sorted(x)           # [1, 3]: sorted\n"
            "len(x)              # the length (prose)\n"
            "print('a  b')\n"
            "# a b\n"
            "x[0]\n"
            "# 4\n")
    claims = run_script(code, {})
    assert [(c.line, c.expected, c.ok) for c in claims] == [
        (2, "[1, 3]", True), (4, "a b", True), (6, "4", False)]
