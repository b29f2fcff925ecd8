"""Why a subset came out as it did: which rules removed which rows, and a one-line warning when a
subset fills less of its budget than it could.

A filter part that rejects many rows *alone* (rows that pass every other part) is usually a rule that
does not fit the data: casual answers that end without a full stop, short human replies that share
few words with the question. Those counts are what the warning and ``curate select --explain`` show.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from curate.selection.core import Selection, rule_counts

FILLED = 0.95  # a subset below this share of its row budget, with rows left that rules removed, warns


def _rule_rows(selection: Selection) -> list[tuple[str, int, int | None]]:
    """``(rule, rows removed, rows removed by it alone or None)``, most first: each filter part, then
    quota and diversity (which see only rows the filter passed, so 'alone' does not apply)."""
    out: list[tuple[str, int, int | None]] = [(f"filter: {text}", r["removed"], r["alone"])
                                              for text, r in selection.rules.items() if r["removed"]]
    for rule, n in rule_counts(selection.rejected["reason"]).items():
        if rule not in ("filter", "budget"):
            out.append((rule, n, None))
    return sorted(out, key=lambda r: -r[1])


def shortfall(selection: Selection, run_dir: str | None = None) -> str | None:
    """One warning line when the subset holds under 95% of its row budget while rules (not the size of
    the pool) removed rows that could have filled it; None otherwise."""
    fill = selection.fill
    budget, got = fill["budget"], fill["selected"]
    if budget is None or got >= FILLED * budget:
        return None
    rules = _rule_rows(selection)
    if not rules:
        return None  # the pool itself is smaller than the budget: no rule to blame
    parts = [f"{rule} removed {n:,}" + (f" ({alone:,} by it alone)" if alone is not None else "")
             for rule, n, alone in rules[:3]]
    where = run_dir or "RUN_DIR"
    return (f"subset {selection.name!r} filled {got:,} of {budget:,} rows ({got / budget:.0%}): "
            f"{'; '.join(parts)}. See `curate select {where} --explain {selection.name}`")


def explain(selection: Selection, pool: pd.DataFrame, examples: int = 3) -> list[dict[str, Any]]:
    """Per rule, most rows first: rows removed, rows removed by it alone (filter parts), and up to
    ``examples`` removed rows (id, first question and answer, from ``pool``'s ``messages``)."""
    by_id = pool.drop_duplicates("id").set_index("id") if "messages" in pool.columns else None
    reasons = selection.rejected["reason"].astype(str)
    out = []
    for rule, n, alone in _rule_rows(selection):
        hit = (reasons == rule) if rule.startswith("filter: ") else reasons.str.startswith(f"{rule}:")
        picked = selection.rejected["id"][hit].head(examples)
        out.append({"rule": rule, "removed": n, "alone": alone,
                    "examples": [_example(str(i), by_id) for i in picked]})
    return out


def _example(row_id: str, by_id: pd.DataFrame | None) -> dict[str, str]:
    if by_id is None or row_id not in by_id.index:
        return {"id": row_id}
    messages = list(by_id.at[row_id, "messages"])
    first = {role: next((str(m["content"]) for m in messages if m["role"] == role), "") for role in ("user", "assistant")}
    return {"id": row_id, "question": first["user"][:200], "answer": first["assistant"][:200]}


def format_explanation(selection: Selection, rules: list[dict[str, Any]]) -> str:
    """Plain text for terminals."""
    fill = selection.fill
    of = f" of {fill['budget']:,}" if fill["budget"] else ""
    lines = [f"subset {selection.name!r}: {fill['selected']:,}{of} rows selected from {selection.counts['input']:,}"]
    if selection.rejected["reason"].astype(str).eq("budget").any():
        lines.append(f"  budget: {int(selection.rejected['reason'].astype(str).eq('budget').sum()):,} rows passed "
                     "every rule but did not fit")
    for r in rules:
        alone = f", {r['alone']:,} by it alone" if r["alone"] is not None else ""
        lines.append(f"  {r['rule']}: removed {r['removed']:,}{alone}")
        for ex in r["examples"]:
            q, a = (" ".join(ex.get(k, "").split())[:90] for k in ("question", "answer"))
            lines.append(f"    {ex['id'][:12]}  Q: {q!r}  A: {a!r}")
    return "\n".join(lines)
