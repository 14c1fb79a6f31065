"""How numbers and documents read in a sentence: percentiles as ordinals, shares that
never print a misleading 0% or 100%, a document by its id, a fix by its name."""

from __future__ import annotations

import re

__all__ = ["ordinal", "share", "standing", "document_name", "names_document", "fix_name",
           "is_fix"]


def ordinal(x: float, digits: int = 0) -> str:
    """``51st``, ``2nd``, ``85th``: a percentile as English reads it. Whole numbers, except
    that a value between 99.5 and 100 keeps one decimal (``99.7th``: rounding would claim
    the top). ``digits`` forces that many decimals.

    Examples
    --------
    >>> ordinal(51), ordinal(12), ordinal(85.1785), ordinal(99.74), ordinal(3), ordinal(96.3, 1)
    ('51st', '12th', '85th', '99.7th', '3rd', '96.3th')
    """
    if not digits and 99.5 <= x < 100:
        digits = 1
        x = min(x, 99.9)
    if digits:
        return f"{x:.{digits}f}th"
    n = int(round(x))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def share(x: float, digits: int = 0) -> str:
    """A fraction as a sentence prints it, never a misleading ``0%`` or ``100%``.

    Examples
    --------
    >>> share(0.0), share(0.003), share(0.31), share(0.9996), share(1.0)
    ('none', 'fewer than 1%', '31%', 'more than 99%', 'all')
    >>> share(0.0004, 1), share(0.0123, 1)
    ('less than 0.1%', '1.2%')
    """
    if x <= 0:
        return "none"
    if x >= 1:
        return "all"
    unit = 10.0 ** -digits  # the smallest step the format shows, in percent
    if x * 100 < unit / 2:
        return "fewer than 1%" if digits == 0 else f"less than {unit:.{digits}f}%"
    if (1 - x) * 100 < unit / 2:
        return "more than 99%" if digits == 0 else f"more than {100 - unit:.{digits}f}%"
    return f"{x:.{digits}%}"


def standing(owner: str, score: float, pct: float, metric: str) -> str:
    """Where a score stands among random document pairs, as a sentence reads it right.

    ``pct`` is :func:`vecdiag.score_percentile`'s: the share of pairs the score beats, so
    higher is closer under every metric. For cosine and dot a score "at the 94th
    percentile" reads that way; a euclidean distance "at the 3rd percentile" would read as
    short when it is longer than 97% of the pairs' distances, so a distance is compared
    to them in words (``pct`` then counts the pairs farther apart).

    Examples
    --------
    >>> standing("its", 0.545, 93.5, "cosine")
    'its score 0.545 is at the 94th percentile of random document pairs'
    >>> standing("its", 16.024, 2.99, "euclidean")
    'its distance 16.024 is longer than 97% of the distances between random document pairs'
    >>> standing("the top", 0.51, 88.0, "euclidean")
    'the top distance 0.51 is shorter than 88% of the distances between random document pairs'
    """
    from ..results import fmt

    if metric != "euclidean":
        return (f"{owner} score {fmt(float(score), 3)} is at the {ordinal(pct)} percentile "
                "of random document pairs")
    longer = pct < 50
    return (f"{owner} distance {fmt(float(score), 3)} is {'longer' if longer else 'shorter'} "
            f"than {share((100 - pct if longer else pct) / 100)} of the distances between "
            "random document pairs")


def document_name(doc_id, has_ids: bool = True) -> str:
    """How a sentence names a document: ``document 15`` for a numeric id, the id itself
    otherwise, ``row 17`` when the corpus has no ids (``doc_id`` is then the row).

    Examples
    --------
    >>> document_name("965"), document_name("d7"), document_name(17, has_ids=False)
    ('document 965', 'd7', 'row 17')
    """
    if not has_ids:
        return f"row {int(doc_id)}"
    name = str(doc_id)
    return f"document {name}" if name.isdigit() else name


def listed_name(doc_id, has_ids: bool = True, quoted: bool = False) -> str:
    """How a list (a printed line, a table heading) names a document: ``row 17`` when the
    corpus has no ids, as :func:`document_name` names it in sentences; otherwise the id
    itself (its ``repr`` when ``quoted``).

    Examples
    --------
    >>> listed_name(40, has_ids=False), listed_name("d7"), listed_name("d7", quoted=True)
    ('row 40', 'd7', "'d7'")
    """
    if not has_ids:
        return document_name(doc_id, False)
    return repr(doc_id) if quoted else str(doc_id)


def names_document(sentence: str, doc_id, has_ids: bool = True) -> bool:
    """Whether ``sentence`` names the document as :func:`document_name` writes it (a whole
    name: ``document 96`` is not named by ``document 965``, nor ``d1`` by ``d10``).

    Examples
    --------
    >>> s = "document 965 is far from the query"
    >>> names_document(s, "965"), names_document(s, "96"), names_document("d10 is a hub", "d1")
    (True, False, False)
    """
    name = re.escape(document_name(doc_id, has_ids))
    return re.search(rf"(?<![\w-]){name}(?![\w-])", sentence) is not None


def fix_name(code: str) -> str:
    """How a sentence names a fix: its label in :data:`vecdiag.fixes.FIXES` (for a
    combination, the labels joined by " + "), or, for a counterfactual that is not a fix
    (``"model: name"``), the code itself.

    Examples
    --------
    >>> fix_name("csls"), fix_name("cosine_metric+center"), fix_name("model: other")
    ('CSLS', 'cosine + centring', 'model: other')
    """
    from ..fixes.registry import FIXES

    if not is_fix(code):
        return code
    return " + ".join(FIXES[part].name for part in code.split("+"))


def is_fix(code: str) -> bool:
    """Whether ``code`` is a fix ``vecdiag.fixes.apply_fix`` runs: a code of
    :data:`vecdiag.fixes.FIXES` or a ``"+"``-joined combination of them (not another
    model's ``"model: name"`` counterfactual)."""
    from ..fixes.registry import FIXES

    return all(part in FIXES for part in str(code).split("+"))
