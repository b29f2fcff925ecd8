"""The declaration of one subset (``SubsetSpec``), as written under ``subsets:`` in a recipe.

Validated before any work starts: an unknown key or a bad value raises :class:`UserError` naming
the key and the allowed values, so a typo in a recipe fails in a second, not after an hour of scoring.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from curate.errors import UserError, format_validation_error

Normalize = Literal["rank", "zscore", "none"]
Baseline = Literal["random", "longest", "full"]
Format = Literal["sharegpt", "messages"]


MAX_NAME = 100  # characters; names become folders (subsets/<name>, models/<name>-...), and 255 bytes is the limit


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def check_name(v: str) -> str:
    """A name that becomes a folder: no path separators, no leading dot, short enough for any file system."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v):
        raise ValueError("use letters, digits, '.', '_' or '-' (it names a folder)")
    if len(v) > MAX_NAME:
        raise ValueError(f"at most {MAX_NAME} characters (it names a folder), got {len(v)}")
    return v


class Budget(_Strict):
    """At most ``rows`` rows and/or ``tokens`` tokens (the ``tokens`` column, approximate)."""

    rows: int | None = Field(None, gt=0)
    tokens: int | None = Field(None, gt=0)


class Quotas(_Strict):
    """Per-``column`` caps: ``max`` rows per value, or a target ``mix`` of fractions of the budget
    (values not named in ``mix`` get none)."""

    column: str = "source"
    max: dict[str, int] | None = None
    mix: dict[str, float] | None = None

    @model_validator(mode="after")
    def _one(self) -> Quotas:
        if (self.max is None) == (self.mix is None):
            raise ValueError("give exactly one of 'max' (rows per value) or 'mix' (fractions)")
        if self.max is not None and any(v < 0 for v in self.max.values()):
            raise ValueError("'max' rows must be >= 0")
        if self.mix is not None:
            if any(not 0 <= v <= 1 for v in self.mix.values()):
                raise ValueError("'mix' fractions must be between 0 and 1")
            if not math.isclose(sum(self.mix.values()), 1.0, abs_tol=1e-6):
                raise ValueError(f"'mix' fractions must sum to 1, got {sum(self.mix.values()):g}")
        return self


class Diversity(_Strict):
    """Greedy in rank order: skip a row whose cosine to any already selected row is >= threshold."""

    threshold: float = Field(0.9, gt=0, le=1)
    embedding: str = "embedding"  # scorer name / key in the score store
    column: str = "embedding"


class SubsetSpec(_Strict):
    """One named subset: filter -> order (rank or baseline) -> quotas, diversity, budget.

    Attributes:
        name: the subset's name; it names folders (letters, digits, ``.``, ``_``, ``-``; at most 100
            characters).
        baseline: ``random``, ``longest`` or ``full`` in place of ``rank``: a control to compare with
            (``full``: every row that passes the filter).
        filter: a condition on the columns, e.g. ``"reward > 0.5 and turns >= 2"`` (a safe subset of
            Python, ``curate.selection.expr``).
        rank: score columns and their weights, best first; a ``-`` prefix or a negative weight prefers
            low values (a name or a list weighs 1 each).
        normalize: how rank columns are put on one scale: ``rank`` (percentiles), ``zscore`` or ``none``.
        budget: at most this many rows, or ``{rows, tokens}`` (a number means rows).
        quotas: per-value caps on a column: ``max`` rows per value, or a ``mix`` of fractions of the budget.
        diversity: skip a row whose cosine to a chosen row reaches this threshold (a number, or
            ``{threshold, embedding, column}``).
        seed: the random baseline's seed.
        format: ``data.jsonl``'s format: ``sharegpt`` or ``messages``.

    Raises:
        pydantic.ValidationError: an unknown key, a bad value or a bad combination (``make_spec`` and
            ``curate.select`` turn it into a UserError naming the key).
    """

    name: str = "subset"
    baseline: Baseline | None = None
    filter: str | None = None
    rank: dict[str, float] | None = None
    normalize: Normalize = "rank"
    budget: Budget | None = None
    quotas: Quotas | None = None
    diversity: Diversity | None = None
    seed: int = 3407
    format: Format = "sharegpt"

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)

    @field_validator("rank", mode="before")
    @classmethod
    def _rank(cls, v: Any) -> Any:
        if isinstance(v, str):
            return {v: 1.0}
        if isinstance(v, list):
            return dict.fromkeys(v, 1.0)
        return v

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, v: Any) -> Any:
        return {"rows": v} if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("diversity", mode="before")
    @classmethod
    def _diversity(cls, v: Any) -> Any:
        return {"threshold": v} if isinstance(v, int | float) and not isinstance(v, bool) else v

    @field_validator("filter")
    @classmethod
    def _filter(cls, v: str | None) -> str | None:
        if v is not None:
            from curate.selection.expr import parse_filter

            try:
                parse_filter(v)
            except UserError as e:
                raise ValueError(str(e)) from None
        return v

    @model_validator(mode="after")
    def _combination(self) -> SubsetSpec:
        if self.rank is not None:
            if not self.rank:
                raise ValueError("'rank' needs at least one column")
            if any(w == 0 for w in self.rank.values()):
                raise ValueError("'rank' weights must be non-zero")
        if self.baseline == "full":
            for key in ("rank", "budget", "quotas", "diversity"):
                if getattr(self, key) is not None:
                    raise ValueError(f"baseline 'full' takes every row that passes the filter; remove {key!r}")
        elif self.baseline is not None:
            if self.rank is not None:
                raise ValueError(f"baseline {self.baseline!r} sets its own order; remove 'rank'")
            if self.budget is None:
                raise ValueError(f"baseline {self.baseline!r} needs a 'budget' (rows or tokens) to match")
        if self.budget is not None and self.budget.rows is None and self.budget.tokens is None:
            raise ValueError("'budget' needs 'rows' and/or 'tokens'")
        if self.quotas and self.quotas.mix is not None and self.budget is None:
            raise ValueError("quotas 'mix' is a share of the budget; set 'budget'")
        return self


def make_spec(spec: SubsetSpec | dict[str, Any] | None = None, where: str = "subset", **kwargs: Any) -> SubsetSpec:
    """A validated spec from a spec, a dict (a recipe entry) and/or keyword overrides."""
    if isinstance(spec, SubsetSpec):
        data = spec.model_dump(exclude_unset=True)
    elif spec is None:
        data = {}
    elif isinstance(spec, dict):
        data = dict(spec)
    else:
        raise UserError(f"{where}: expected a mapping of subset settings, got {type(spec).__name__}")
    data.update(kwargs)
    try:
        return SubsetSpec.model_validate(data)
    except ValidationError as e:
        raise UserError(format_validation_error(e, f"{where}.", SubsetSpec)) from None
