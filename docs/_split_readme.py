"""Move the README's detailed sections into the site's pages (a one-off, kept for the record).

``python docs/_split_readme.py`` reads README.md, writes each ``## `` section after
"Ten lines" into the page named by PAGES (its heading levels raised by one, its relative
links re-pointed from the page's folder), and with ``--shrink`` rewrites README.md as the
first screen (KEEP sections plus links into the site). A section that PAGES does not name
stops the script: nothing is dropped silently.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
KEEP = ("Set up: two commands", "Ten lines")
PAGES = {  # heading prefix -> page (relative to docs/)
    "Modules in reading order": "guide/modules.md",
    "Vector math": "guide/vector-math.md",
    "Nearest neighbours": "guide/nearest-neighbours.md",
    "Projections": "guide/projections.md",
    "Corpus health check": "guide/check-corpus.md",
    "Why did this query fail?": "guide/explain-query.md",
    "See it move": "guide/explorer.md",
    "Numbers, not vibes": "guide/evaluate-and-fixes.md",
    "Real text, bundled data and the command line": "guide/data-and-cli.md",
    "Embedding with a hosted model": "guide/hosted-embeddings.md",
    "The course and the field guides": "course.md",
    "Scripts for engineers": "guide/examples.md",
    "Drift and model upgrades": "guide/drift.md",
    "Where embeddings live": "guide/vector-stores.md",
}
FOOTERS = {  # page -> text appended after the moved section
    "course.md": "\n```{toctree}\n:maxdepth: 1\n:glob:\n\nnotebooks/*\n```\n",
}
LINK = re.compile(r"(!?\[[^\]]*\])\(([^)\s]+)\)")


def sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The preamble and the (heading, body) of every ``## `` section (fences respected)."""
    lines, fence, current = text.splitlines(keepends=True), False, None
    pre, out = [], []
    for line in lines:
        if line.lstrip().startswith("```"):
            fence = not fence
        if not fence and line.startswith("## "):
            current = [line[3:].strip(), []]
            out.append(current)
        elif current is None:
            pre.append(line)
        else:
            current[1].append(line)
    return "".join(pre), [(h, "".join(b)) for h, b in out]


def slug(heading: str) -> str:
    s = re.sub(r"[^\w\- ]", "", heading.lower().replace("`", "")).strip()
    return re.sub(r"\s+", "-", s)


def repoint(body: str, page: str, anchors: dict[str, str]) -> str:
    """Relative links of README.md, as seen from docs/<page>."""
    depth = page.count("/")
    up = "../" * depth

    def fix(m):
        label, target = m.group(1), m.group(2)
        if re.match(r"^[a-z]+:", target):
            return m.group(0)
        if target.startswith("#"):
            where = anchors.get(target[1:])
            if where is None or where == page:
                return m.group(0)
            return f"{label}({up}{where}{target})"
        path, _, frag = target.partition("#")
        if path.startswith("docs/"):
            return f"{label}({up}{path[5:]}{'#' + frag if frag else ''})"
        if path.startswith("notebooks/") and path.endswith(".ipynb"):
            return f"{label}({up}{path})"
        if label.startswith("!"):
            raise SystemExit(f"picture outside docs/: {target}")
        return f"{label[1:-1]} (`{path}`)" if label[1:-1] != f"`{path}`" else label[1:-1]

    out, fence = [], False
    for line in body.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            fence = not fence
        out.append(line if fence else LINK.sub(fix, line))
    return "".join(out)


def raise_headings(body: str) -> str:
    out, fence = [], False
    for line in body.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            fence = not fence
        out.append(line[1:] if not fence and re.match(r"^#{3,6} ", line) else line)
    return "".join(out)


def main(shrink: bool) -> None:
    pre, secs = sections((ROOT / "README.md").read_text(encoding="utf-8"))
    pages: dict[str, list[str]] = {}
    anchors = {}
    for heading, body in secs:
        if heading.startswith(KEEP):
            continue
        page = next((p for k, p in PAGES.items() if heading.startswith(k)), None)
        if page is None:
            raise SystemExit(f"README section {heading!r} has no page in PAGES: add one")
        anchors[slug(heading)] = page
        for sub in re.findall(r"^### (.+)$", body, flags=re.M):
            anchors.setdefault(slug(sub), page)
    for heading, body in secs:
        if heading.startswith(KEEP):
            continue
        page = anchors[slug(heading)]
        text = f"# {heading}\n" + raise_headings(repoint(body, page, anchors))
        pages.setdefault(page, []).append(text)
    for page, parts in pages.items():
        path = DOCS / page
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(parts).rstrip() + "\n" + FOOTERS.get(page, ""), encoding="utf-8")
        print(f"wrote docs/{page}")
    if shrink:
        kept = "".join(f"## {h}\n{b}" for h, b in secs if h.startswith(KEEP))
        (ROOT / "README.md").write_text(pre + kept.rstrip() + "\n\n" + TAIL, encoding="utf-8")
        print("README.md shrunk")


TAIL = (DOCS / "_readme_tail.md").read_text(encoding="utf-8") if (DOCS / "_readme_tail.md").exists() else ""

if __name__ == "__main__":
    main(shrink="--shrink" in sys.argv)
