"""Corpus diagnostics: is the vector space itself healthy?

One module per statistic, each usable on its own, and :func:`diagnose` which runs them
all and turns each into a :class:`Finding`:

=====================  ==========================================================
``anisotropy``         mean cosine of distinct pairs, exact in O(n·d)
``isotropy``           Mu & Viswanath partition-function isotropy; IsoScore
``rogue``              per-dimension share of the expected cosine
``hubness``            k-occurrence, skewness, hubs, antihubs, Robin Hood index
``hub_rules``          what a hub is: ``hub_rows`` (N_k ≥ 2k), strong hubs (3k), ``clearly_hubs``
``norms``              spread of vector lengths, and their link with hubness
``duplicates``         exact and near-duplicate groups, in blocks
``sampled_*``          hubness and near-duplicates estimated from sampled rows, with
                       intervals (``sample=``), for corpora too big for the kNN graph
``intrinsic``          TwoNN intrinsic dimension, PCA participation ratio
``shift``              where the queries sit relative to the documents
``rules``              severity thresholds and how they were chosen
``diagnose``           all of the above → Diagnosis
=====================  ==========================================================

Results computed on a :class:`vecdiag.Index` are cached in ``Index.cache``.
"""

from .anisotropy import anisotropy
from .diagnose import DiagnoseOptions, diagnose
from .duplicates import near_duplicates
from .finding import Diagnosis, Finding
from .hub_rules import (HUB_FACTOR, STRONG_HUB_FACTOR, clearly_hubs, hub_rows,
                        k_occurrence_interval)
from .hubness import Hubness, hubness
from .intrinsic import intrinsic_dimension
from .isotropy import isoscore, isotropy, participation_ratio
from .norms import NormSpread, norm_spread
from .rogue import RogueDimensions, rogue_dimensions
from .rules import THRESHOLDS
from .sampled_duplicates import SampledDuplicates
from .sampled_hubness import SampledHubness
from .shift import QueryShift, query_corpus_shift

__all__ = ["diagnose", "DiagnoseOptions", "Diagnosis", "Finding", "anisotropy", "isotropy", "isoscore",
           "participation_ratio", "hubness", "Hubness", "hub_rows", "HUB_FACTOR",
           "STRONG_HUB_FACTOR", "clearly_hubs", "k_occurrence_interval", "rogue_dimensions",
           "RogueDimensions", "near_duplicates", "intrinsic_dimension", "norm_spread",
           "NormSpread", "query_corpus_shift", "QueryShift", "THRESHOLDS", "SampledHubness",
           "SampledDuplicates"]
