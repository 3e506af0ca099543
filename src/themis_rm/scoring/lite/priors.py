"""What static analysis says before any data: a prior weight per aspect and feature.

Units are logits per standard deviation of a feature (the fit's own units); signs and rough
sizes come from the criteria texts (`criteria.py`) and common linter and CWE guidance, not
from the benchmarks. The fit pulls towards these values, so an aspect with no training pairs
is scored by them alone and an aspect with many pairs mostly by its data. Unlisted features
have prior 0: size, for one, is left entirely to the data.
"""

from __future__ import annotations

import numpy as np

from themis_rm.schema import CODE_ASPECTS, Aspect
from themis_rm.scoring.lite.features import FEATURE_INDEX

_BROKEN = {"parse_error": -0.5, "error_share": -0.3}

PRIORS: dict[Aspect, dict[str, float]] = {
    Aspect.FUNCTIONAL_CORRECTNESS: {
        "parse_error": -1.0, "error_nodes": -0.5, "error_share": -0.5, "unparsed": -0.3,
        "novel_singletons": -0.3, "unresolved_calls": -0.6, "unreachable": -0.5, "assign_in_cond": -0.5,
        "bug_patterns": -0.3,
        "empty_catch": -0.2,
    },
    Aspect.RUNTIME_EFFICIENCY: {
        **_BROKEN,
        "nested_loops": -0.5, "max_loop_depth": -0.3, "search_in_loop": -0.5, "sort_in_loop": -0.5,
        "concat_in_loop": -0.3, "alloc_in_loop": -0.3, "copy_in_loop": -0.3, "io_in_loop": -0.3,
        "hash_structs": 0.3, "builtin_calls": 0.2, "fast_io": 0.3, "memo": 0.3, "prealloc": 0.2,
        "boxed_types": -0.2, "unused_imports": -0.3, "novel_singletons": -0.2,
    },
    Aspect.MEMORY_EFFICIENCY: {
        **_BROKEN,
        "alloc_in_loop": -0.4, "copy_in_loop": -0.4, "copy_calls": -0.3, "alloc_calls": -0.2,
        "streaming": 0.3, "release_calls": 0.4, "resource_blocks": 0.3, "unreleased": -0.4,
        "compact_types": 0.3, "prealloc": 0.2, "boxed_types": -0.2,
    },
    Aspect.READABILITY_MAINTAINABILITY: {
        **_BROKEN,
        "comment_share": 0.2, "docstrings": 0.3, "long_line_share": -0.3, "max_nesting": -0.3,
        "cyclomatic_per_function": -0.3, "function_lines_max": -0.2, "short_ident_share": -0.3,
        "ident_len_mean": 0.2, "style_mix": -0.3, "unused_imports": -0.5, "smells": -0.5,
        "duplicate_lines": -0.3, "magic_numbers": -0.2, "unreachable": -0.3, "empty_catch": -0.3,
        "todo": -0.2, "singleton_share": -0.2,
    },
    Aspect.SECURITY_HARDNESS: {
        **_BROKEN,
        "sec_memory": -0.6, "sec_format": -0.6, "sec_exec": -0.6, "sec_exec_built": -0.6, "sec_deser": -0.6, "sec_html": -0.6,
        "sec_sql": -0.6, "sec_hash": -0.4, "sec_random": -0.3, "sec_tls": -0.6, "sec_secret": -0.6,
        "sec_compare": -0.4, "sec_misc": -0.3, "danger_topic": -0.6,
        "safe_escape": 0.4, "safe_validate": 0.3, "safe_param_sql": 0.5, "safe_memory": 0.3, "safe_crypto": 0.4,
        "safe_topic": 0.4, "null_checks": 0.2, "compares": 0.2, "coerce": 0.2, "err_checks": 0.1,
    },
}


def prior_vector(aspect: Aspect | None) -> np.ndarray:
    """The prior of one aspect; None gives the combined prior, the mean over the code aspects."""
    if aspect is None:
        return np.mean([prior_vector(a) for a in CODE_ASPECTS], axis=0)
    vector = np.zeros(len(FEATURE_INDEX))
    for name, value in PRIORS.get(aspect, {}).items():
        vector[FEATURE_INDEX[name]] = value
    return vector
