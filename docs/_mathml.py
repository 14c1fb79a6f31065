"""Math as MathML, written at build time (latex2mathml): no script, no font, nothing fetched.

Browsers draw MathML Core natively (Chromium since 109, Firefox, Safari). A formula that
latex2mathml cannot read is shown as its TeX source in a ``<code>`` and logged as a warning
(so `make docs`, warnings being errors, names it).
"""

from __future__ import annotations

import html

from docutils import nodes
from sphinx.util import logging

LOG = logging.getLogger(__name__)


def _mathml(self, node, display: bool) -> None:
    from latex2mathml.converter import convert

    tex = node.astext()
    try:
        markup = convert(tex, display="block" if display else "inline")
    except Exception as exc:  # noqa: BLE001  latex2mathml raises several types
        LOG.warning("formula not converted to MathML (%s): %s", exc, tex, location=node)
        markup = f"<code>{html.escape(tex)}</code>"
    tag = "div" if display else "span"
    self.body.append(f'<{tag} class="math">{markup}</{tag}>')
    raise nodes.SkipNode


def visit_inline(self, node):
    _mathml(self, node, display=False)


def visit_block(self, node, math_env=""):
    _mathml(self, node, display=True)


def setup(app):
    app.add_html_math_renderer("mathml", (visit_inline, None), (visit_block, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
