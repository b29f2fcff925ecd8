"""Selection: filters, rank-normalized top-k, budgets, quotas, diversity and baselines.

``curate.select(df, spec)`` returns a :class:`Selection` with a reason for every row;
``write_subset`` writes it to ``RUN/subsets/<name>/``.
"""

from curate.selection.config import Budget, Diversity, Quotas, SubsetSpec, make_spec
from curate.selection.core import Selection, select
from curate.selection.explain import explain, format_explanation, shortfall
from curate.selection.expr import parse_filter
from curate.selection.output import push_to_hub, write_subset

__all__ = [
    "Budget", "Diversity", "Quotas", "Selection", "SubsetSpec", "explain", "format_explanation", "make_spec",
    "parse_filter", "push_to_hub", "select", "shortfall", "write_subset",
]
