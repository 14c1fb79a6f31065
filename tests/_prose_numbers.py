"""Numbers in a notebook's prose must come from its code: printed nearby, or set in a cell.

The course's markdown states numbers (``69 judged queries``, ``total 0.3760``,
``259 rows``). A number the prose states is *accounted for* when

- a code cell near it (``WINDOW`` code cells before or after the markdown cell) prints it:
  some number in that cell's text output (stdout, or the ``text/plain`` of a result) has
  its value (``0.3760`` matches a printed ``0.376``, ``5%`` a printed ``5%`` or ``0.05``;
  a printed ``0.37599`` does not: print the value rounded as the prose states it, so a
  nearby number cannot stand in for it by rounding), or
- it is a literal in some code cell of the notebook: a parameter the lesson sets
  (``k=10``, ``rng.normal(size=(200, 5))``) or a value a cell ``assert``\\ s.

Everything else is reported, so changing a number in the prose, or the data behind a
printed number, fails the test. Not checked, because they are not claims about data:
numbers inside math (``$...$``, ``$$...$$``), inline code, link targets, notebook numbers
written with a leading zero (``notebook 05``), section references (``§3``, ``section 6``,
``## 4.``) and list markers (``1. a random rotation``). Claims in words ("document 5 comes
first", "X ranks first") are not numbers: the notebooks ``assert`` them in the cell that
prints them.
"""

from __future__ import annotations

import ast
import html
import re
from dataclasses import dataclass

WINDOW = 3

_NUMBER = re.compile(
    r"(?<![\w.,])(?P<sign>[-−])?(?P<body>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<pct>%)?(?:[x×](?![\w]))?(?![\w])")
_OUTPUT_NUMBER = re.compile(r"(?<![\w.])[-−]?(?:\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+)%?")
_STRIP = [
    re.compile(r"```.*?```", re.S),                    # fenced code
    re.compile(r"\$\$.*?\$\$", re.S),                  # display math
    re.compile(r"(?<!\\)\$[^$\n]+?(?<!\\)\$"),          # inline math
    re.compile(r"`[^`\n]*`"),                          # inline code
    re.compile(r"\]\([^)\s]*\)"),                      # link targets
    re.compile(r"^\s*#+\s*\d+(?:\.\d+)*\s*[.·]?", re.M),   # "## 4." / "## 1 ·"
    re.compile(r"^\s*\d+\.\s", re.M),                  # numbered list items
    re.compile(r"§\s*\d+(?:\s*[-–]\s*\d+)?"),           # §5, §7-8
    re.compile(r"\bsections?\s+\d+(?:\s*[-–]\s*\d+)?", re.I),
    re.compile(r"(?<![\d.,])0\d(?!\d|[.,]\d)"),          # notebook numbers: 01 ... 09
    re.compile(r"<[^>\n]+>"),                          # HTML tags
]


@dataclass(frozen=True)
class ProseNumber:
    cell: int          # index of the markdown cell
    text: str          # as written
    value: float
    decimals: int
    percent: bool
    context: str       # the words around it
    start: int = 0     # offset in the markdown source

    def __str__(self):
        return f"cell {self.cell}: {self.text!r} in '...{self.context}...'"


def prose_numbers(markdown: str, cell: int = 0) -> list[ProseNumber]:
    """The numbers of one markdown cell that make claims (see the module docstring)."""
    text = markdown
    for pattern in _STRIP:                      # blanked, not removed: offsets stay those of the source
        text = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    out = []
    for m in _NUMBER.finditer(text):
        body = m.group("body").replace(",", "")
        value = float(body) * (-1 if m.group("sign") else 1)
        decimals = len(body.split(".")[1]) if "." in body else 0
        lo, hi = max(0, m.start() - 40), min(len(text), m.end() + 40)
        context = " ".join(text[lo:hi].split())
        out.append(ProseNumber(cell, m.group(0), value, decimals, bool(m.group("pct")), context, m.start()))
    return out


def _output_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append("".join(out.get("text", "")))
        elif out.get("output_type") in ("execute_result", "display_data"):
            plain = out.get("data", {}).get("text/plain")
            if plain:
                parts.append(html.unescape("".join(plain)))
    return "\n".join(parts)


def output_numbers(cell: dict) -> list[tuple[float, bool]]:
    """(value, written with a percent sign) of every number a code cell printed."""
    out = []
    for tok in _OUTPUT_NUMBER.findall(_output_text(cell)):
        pct = tok.endswith("%")
        tok = tok.rstrip("%").replace(",", "").replace("−", "-")
        try:
            out.append((float(tok), pct))
        except ValueError:
            continue
    return out


def code_literals(cells: list[dict]) -> set[float]:
    """Every int/float literal in the notebook's code cells (negated ones included)."""
    found: set[float] = set()
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and type(node.value) in (int, float):
                found.add(float(node.value))
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) \
                    and isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float):
                found.add(-float(node.operand.value))
    return found


def _same(claim: ProseNumber, value: float, pct: bool) -> bool:
    """Equal as written: 0.3760 is a printed 0.376, 5% a printed 5% or 0.05; 0.37599 is not 0.3760."""
    if abs(value - claim.value) < 1e-12:
        return True
    return claim.percent and not pct and abs(value * 100 - claim.value) < 1e-9


def printed_near(cells: list[dict], i: int, window: int = WINDOW) -> list[tuple[float, bool]]:
    """The numbers printed by the ``window`` code cells before cell ``i`` and after it."""
    code_at = [j for j, c in enumerate(cells) if c["cell_type"] == "code"]
    before = [j for j in code_at if j < i][-window:]
    after = [j for j in code_at if j > i][:window]
    return [n for j in before + after for n in output_numbers(cells[j])]


def printed(claim: ProseNumber, near: list[tuple[float, bool]]) -> bool:
    """Whether one of the numbers ``near`` (:func:`printed_near`) is the claim as written."""
    return any(_same(claim, v, pct) for v, pct in near)


def unaccounted(cells: list[dict], window: int = WINDOW) -> list[ProseNumber]:
    """The prose numbers of an executed notebook that no nearby output prints and no cell sets."""
    literals = code_literals(cells)
    missing = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        near = printed_near(cells, i, window)
        for claim in prose_numbers("".join(cell["source"]), cell=i):
            if claim.value in literals or (claim.percent and claim.value / 100 in literals):
                continue
            if printed(claim, near):
                continue
            missing.append(claim)
    return missing
