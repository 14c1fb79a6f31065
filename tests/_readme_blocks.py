"""Run README.md's ```python blocks and compare the outputs they show.

The rules (also in README.md, "The README is tested"):

* Every ```python block runs, in a fresh namespace, in a temporary working directory.
* A block whose first line is ``>>>`` is a doctest, compared exactly (NORMALIZE_WHITESPACE
  and ELLIPSIS only, never NUMBER).
* In any other block, a comment after a statement states its output:
  - the comment lines right below a statement (no blank line between) are its output;
  - a comment on the statement's last line is its output when the statement printed something,
    or when the comment starts like a Python value (``(``, ``[``, ``{``, a quote, a number,
    ``None``/``True``/``False``, ``array(``): then the value is the comment's leading literal
    (``# 1.0: a rotation`` claims ``1.0``; the rest is prose); otherwise the comment is prose;
  - comments after assignments, imports and loops that print nothing are prose.
  The output is what the statement printed, else ``repr`` of its value. Whitespace runs
  compare equal, ``...`` stands for any text, and a number compares at the precision it is
  written with (``0.7719`` claims 0.77185 <= x < 0.77195; ``7.9...`` claims the digits 7.9
  start the number; integers are exact). Text the code printed, or a string it returned
  (a summary, a sentence), is vecdiag's own wording: its numbers compare digit for digit
  (``3.9%`` does not show a printed ``3.86%``); only the repr of other values (floats,
  tuples, arrays, DataFrames) may be shown rounded.
* An HTML comment on the line right above the fence controls the block:
  ``<!-- readme-test: skip REASON -->`` does not run it (a server, the network, or an object
  the reader brings; REASON is required); ``<!-- readme-test: continue -->`` runs the block
  before it first, silently, in the same namespace, and ``<!-- readme-test: continue LABEL
  -->`` runs the block marked ``<!-- readme-test: name LABEL -->`` instead (chains follow).
  Several marker lines may stand above one fence.
* In a shown output, `` <- `` starts a note to the end of its line (not compared), and
  numpy scalars compare by value (``np.float64(1.0)`` is shown as ``1.0``).
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import io
import re
import tokenize
from dataclasses import dataclass, field

MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|continue|name)\b\s*(.*?)\s*-->")
NP_SCALAR = re.compile(r"np\.(?:float|int|uint|bool_?|str_)\d*\((.*?)\)")
NOTE = re.compile(r"\s<-\s[^\n]*")
VALUE_START = re.compile(r"""^(?:[(\[{'"]|-?\d|None\b|True\b|False\b|array\(|np\.)""")
NUMBER = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(\.\.\.)?")
ACTUAL_NUMBER = r"(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"


@dataclass
class Block:
    line: int                 # 1-based line of the first code line in README.md
    code: str
    action: str = "run"       # run | skip | continue
    reason: str = ""          # skip: why; continue: the name of the block it continues
    label: str = ""           # <!-- readme-test: name LABEL -->
    previous: list = field(default_factory=list)   # blocks to run first ('continue')

    @property
    def is_doctest(self) -> bool:
        return self.code.lstrip().startswith(">>>")

    @property
    def name(self) -> str:
        return f"README.md:{self.line}"


def parse_blocks(text: str) -> list[Block]:
    """The ```python blocks of a markdown text, with their markers."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            block = Block(line=i + 2, code="\n".join(lines[i + 1:j]) + "\n")
            above = i - 1
            while above >= 0 and MARKER.search(lines[above]):
                m = MARKER.search(lines[above])
                if m.group(1) == "name":
                    block.label = m.group(2)
                else:
                    block.action, block.reason = m.group(1), m.group(2)
                above -= 1
            blocks.append(block)
            i = j
        i += 1
    named = {b.label: b for b in blocks if b.label}
    for k, block in enumerate(blocks):
        if block.action == "continue":
            block.previous = _chain(blocks, k, named)
    return blocks


def _chain(blocks, k, named):
    """The blocks to run before blocks[k]: the named one (or the previous one), recursively."""
    block = blocks[k]
    if block.reason:
        if block.reason not in named:
            raise ValueError(f"{block.name}: <!-- readme-test: continue {block.reason} --> names "
                             f"no block; mark one with <!-- readme-test: name {block.reason} -->")
        before = named[block.reason]
    elif k == 0:
        raise ValueError(f"{block.name}: 'continue' on the first block")
    else:
        before = blocks[k - 1]
    k_before = blocks.index(before)
    chain = _chain(blocks, k_before, named) if before.action == "continue" else []
    return chain + [before]


# -- claims --------------------------------------------------------------------------------

def _leading_literal(text: str) -> str:
    """The leading Python value of a comment: a balanced bracket or quoted span, or one token."""
    if text[0] in "([{" or text.startswith(("array(", "np.")):
        depth, quote = 0, None
        for pos, ch in enumerate(text):
            if quote:
                if ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
            elif ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
                if depth == 0:
                    return text[:pos + 1]
        return text
    if text[0] in "'\"":
        end = text.find(text[0], 1)
        return text[:end + 1] if end > 0 else text
    m = re.match(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:\.\.\.)?|None|True|False", text)
    return m.group(0) if m else text


def _squash(text: str) -> str:
    return " ".join(text.split())


def matches(expected: str, actual: str, exact: bool = False) -> tuple[bool, str]:
    """Does `actual` show what `expected` claims? (the rules in this module's docstring)

    ``exact``: `actual` is text the code wrote (printed, or a returned string), so each
    shown number must be written as it is there, not rounded.
    """
    expected = NOTE.sub("", expected)
    actual = NP_SCALAR.sub(r"\1", actual)
    expected, actual = _squash(expected), _squash(actual)
    pattern, numbers, pos = [], [], 0
    for m in NUMBER.finditer(expected):
        pattern.append(_literal(expected[pos:m.start()]))
        pattern.append(ACTUAL_NUMBER + (r"\d*" if m.group(2) else ""))
        numbers.append((m.group(1), bool(m.group(2))))
        pos = m.end()
        if m.group(2):
            pattern.append(".*?")
    pattern.append(_literal(expected[pos:]))
    found = re.fullmatch("".join(pattern), actual, flags=re.S)
    if not found:
        return False, "the text differs"
    for (shown, truncated), got in zip(numbers, found.groups()):
        if not _number_ok(shown, got, truncated) or (exact and not truncated and got != shown):
            return False, f"{got} is shown as {shown}{'...' if truncated else ''}"
    return True, ""


def _literal(text: str) -> str:
    parts = text.split("...")
    return ".*?".join(re.escape(p).replace(r"\ ", r"\s*") for p in parts)


def _number_ok(shown: str, got: str, truncated: bool) -> bool:
    if truncated:
        return got.startswith(shown)
    if re.fullmatch(r"-?\d+", shown):
        return float(got) == int(shown)
    mantissa, _, exponent = shown.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    ulp = 10.0 ** (-decimals) * 10.0 ** int(exponent or 0)
    return abs(float(got) - float(shown)) <= ulp / 2 * (1 + 1e-9)


# -- running ---------------------------------------------------------------------------------

@dataclass
class Claim:
    line: int          # README line of the statement
    source: str
    expected: str
    actual: str
    ok: bool
    why: str


def _comments(code: str) -> dict[int, tuple[int, str]]:
    """Comment tokens by line: {line: (column, text without '#')}."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = (tok.start[1], tok.string[1:].strip())
    return out


def run_script(code: str, namespace: dict, first_line: int = 1, check: bool = True) -> list[Claim]:
    """Execute `code` statement by statement; return the output claims and what they got."""
    tree = ast.parse(code)
    lines = code.splitlines()
    comments = _comments(code)
    claims = []
    for stmt in tree.body:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            if isinstance(stmt, ast.Expr):
                value = eval(compile(ast.Expression(stmt.value), "<README.md>", "eval"), namespace)
            else:
                exec(compile(ast.Module([stmt], []), "<README.md>", "exec"), namespace)
                value = None
        if not check:
            continue
        printed = out.getvalue()
        expected = _claim_for(stmt, lines, comments, printed, value)
        if expected is None:
            continue
        actual = printed if printed else repr(value)
        if isinstance(value, str) and not printed and expected[:1] in "'\"" \
                and expected[-1:] == expected[:1]:
            expected, actual = expected[1:-1], value      # a string shown in either quotes
        ok, why = matches(expected, actual, exact=bool(printed) or isinstance(value, str))
        claims.append(Claim(first_line + stmt.lineno - 1,
                            ast.get_source_segment(code, stmt) or "", expected, actual, ok, why))
        _close_figures()
    _close_figures()
    return claims


def _claim_for(stmt, lines, comments, printed, value):
    """The output a comment claims for `stmt`, or None when its comments are prose."""
    end = stmt.end_lineno
    below, n = [], end + 1
    while n <= len(lines) and lines[n - 1].lstrip().startswith("#"):
        below.append(lines[n - 1].lstrip()[1:].strip())
        n += 1
    if below and (printed or isinstance(stmt, ast.Expr)):
        return "\n".join(below)
    inline = comments.get(end)
    if inline is None:
        return None
    text = inline[1]
    if printed:
        return text
    if isinstance(stmt, ast.Expr) and VALUE_START.match(text):
        return _leading_literal(text)
    return None


def run_doctest(code: str, namespace: dict, name: str, first_line: int) -> tuple[bool, str]:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(code, namespace, name, "README.md", first_line - 1)
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    runner = doctest.DocTestRunner(optionflags=flags)
    report = io.StringIO()
    runner.run(test, out=report.write)
    return runner.failures == 0, report.getvalue()


def _close_figures():
    import sys
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


def depends_on(code: str) -> str:
    """What the shown outputs of a block depend on, for the failure message."""
    sources = []
    if "load_demo" in code:
        sources.append("the bundled demo data set (vecdiag/datasets/data, vd.datasets.load_demo)")
    if "default_rng" in code:
        sources.append("numpy's default_rng stream for the seed in the block")
    return "; ".join(sources) or "only the code in the block"
