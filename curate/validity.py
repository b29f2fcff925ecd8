"""The validity checks: one table, read by the recipe (``validity:`` accepts these names), the pipeline's
Validity step (which column fails a row, and at what value), the audit (which yes/no columns flag a row
when false) and the glossary (the plain words a report and the app show for ``invalid:<check>``).

Adding a check is one line in ``CHECKS``: its heuristics column must exist (``curate.scorers.heuristics.COLUMNS``).
"""

from __future__ import annotations

from typing import NamedTuple


class Check(NamedTuple):
    name: str  # the recipe's word, and the reason ``invalid:<name>``
    column: str  # the heuristics column it reads
    fails: bool  # the column's value that removes the row
    meaning: str  # plain words: "removed because <meaning>"


CHECKS = (
    Check("role_order", "role_order_ok", False, "the roles are out of order: the first message is not from the user, "
          "or two messages from the same side follow each other"),
    Check("template_leak", "template_leak", True, "chat-template tokens (like <|im_start|>) appear inside the text"),
    Check("truncated", "truncated", True, "the last answer stops mid-sentence"),
    Check("refusal", "refusal", True, "an answer is refusal boilerplate"),
    Check("ends_with_assistant", "ends_with_assistant", False,
          "the conversation does not end with an answer from the assistant"),
)
BY_NAME = {c.name: c for c in CHECKS}
NAMES = tuple(BY_NAME)
DEFAULT = ("role_order", "template_leak")  # a recipe without ``validity:`` runs these
