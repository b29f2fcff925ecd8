"""The declaration of one distilled proxy (``ProxyConfig``), as written under ``proxies:`` in a recipe.

Validated before any work starts: an unknown key or a bad value raises :class:`UserError` naming the
key and the allowed values, so a typo fails before the teacher spends an hour on the sample.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from curate.errors import UserError, format_validation_error

ModelName = Literal["auto", "ridge", "logistic", "hgb"]
Stratum = Literal["source", "length"]
DEFAULT_FEATURES: list[Any] = ["heuristics", {"name": "embedding", "backend": "static"}]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActiveSampling(_Strict):
    """Extra teacher rounds: each scores ``rows`` more rows chosen ``by`` the last fit, then refits.

    ``uncertain``: where the cross-validation fold models disagree most (regression) or the class
    probability is nearest 0.5; ``cut``: whose proxy score is nearest the selection cut, the
    score at the ``cut`` quantile from the better end (0.25 = the top-25% threshold)."""

    rounds: int = Field(1, ge=0)
    rows: int | float = Field(0.5, gt=0)  # per round: a row count, or a fraction of the first sample
    by: Literal["uncertain", "cut"] = "uncertain"
    cut: float = Field(0.25, gt=0, lt=1)


class ProxyConfig(_Strict):
    """Teach a cheap model to predict one expensive score column from stored cheap features.

    ``teacher``: a scorer spec as in a recipe's ``scorers:`` list (scored on the sample through the
    score store); or a store key, or None, to use ``column`` as already stored (the sample is then
    drawn from the rows it scored).
    ``sample``: teacher rows, a count (an integer >= 1) or a fraction of the pool (a float in (0, 1]).
    ``stratify``: draw the sample proportionally from each source x length bucket
    (``length_buckets`` quantile buckets of the heuristics ``tokens`` column).
    ``features``: scorer specs of cheap features, scored on every row first (reused when stored),
    or keys already in the store; all their numeric and vector columns feed the model.
    ``model``: ``auto`` picks by cross-validation (ridge or HistGradientBoosting for a continuous
    teacher, logistic or HistGradientBoosting for a binary one).
    ``target``: what the model learns: ``rank`` (the teacher's quantile, mapped back to its scale;
    robust to heavy tails like perplexity), ``log`` or ``raw``.
    ``better``: which end of the teacher is the good end, for top-k overlap and the ``cut``.
    ``holdout``: share of the sample kept out of the fit to measure agreement.
    """

    teacher: str | dict[str, Any] | None = None
    column: str
    sample: int | float = 2000
    stratify: list[Stratum] = Field(default_factory=lambda: ["source", "length"])
    length_buckets: int = Field(4, ge=1, le=100)
    features: list[str | dict[str, Any]] = Field(default_factory=lambda: list(DEFAULT_FEATURES), min_length=1)
    model: ModelName = "auto"
    target: Literal["rank", "log", "raw"] = "rank"
    better: Literal["high", "low"] = "high"
    holdout: float = Field(0.2, gt=0, lt=0.9)
    active: ActiveSampling | None = None
    seed: int = 0

    @field_validator("sample")
    @classmethod
    def _sample(cls, v: int | float) -> int | float:
        if v <= 0 or (isinstance(v, float) and v > 1):
            raise ValueError("sample is a row count (an integer >= 1) or a fraction of the pool in (0, 1]")
        return v

    @field_validator("stratify")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("stratify lists a key twice")
        return v


def parse_proxy(spec: ProxyConfig | dict[str, Any] | None = None, where: str = "proxy", **overrides: Any) -> ProxyConfig:
    """A validated config from a config, a dict (a recipe entry) and/or keyword overrides."""
    if isinstance(spec, ProxyConfig):
        data = {**spec.model_dump(exclude_unset=True), **overrides}
    elif spec is None or isinstance(spec, dict):
        data = {**(spec or {}), **overrides}
    else:
        raise UserError(f"{where}: expected a mapping of proxy settings, got {type(spec).__name__}")
    try:
        return ProxyConfig.model_validate(data)
    except ValidationError as e:
        raise UserError(format_validation_error(e, f"{where}.", ProxyConfig)) from None
