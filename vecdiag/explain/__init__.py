"""Why did this query fail? :func:`explain_neighbors` and the records it returns.

Reading order: :mod:`.core` (the function: validate, search, locate, check, re-rank),
:mod:`.ranking` (whole-corpus scores and exact ranks), :mod:`.stats` (corpus-wide
statistics, cached per Index), :mod:`.counterfactuals` (the ranking under each fix),
:mod:`.causes` (the vector checks and how confidence is set), :mod:`.text_checks`
(checks that need texts or an embedder), :mod:`.contributions` (per-dimension shares),
:mod:`.result` (Explanation, Cause, ExpectedDoc, Counterfactual).
"""

from .core import explain_neighbors
from .explanation import Explanation
from .result import Cause, Counterfactual, ExpectedDoc

__all__ = ["explain_neighbors", "Explanation", "Cause", "ExpectedDoc", "Counterfactual"]
