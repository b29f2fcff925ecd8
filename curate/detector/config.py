"""The recipe's ``detector:`` block (:class:`DetectorConfig`): how the learned junk detector plants,
learns and scores. ``detector: {}`` turns it on with the defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from curate.detector.planting import expand, learnable

COLUMN = "junk_prob"  # the detector's score column: calibrated P(the row is junk)


class DetectorConfig(BaseModel):
    """Plant corruption into ``sample`` of the run's own valid rows, learn planted-vs-original from the
    run's score columns, and give every valid row ``junk_prob``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    sample: int = Field(1000, ge=20, description="rows of the run planted from (all valid rows if fewer)")
    copies: float = Field(2.7, gt=0, le=10, description="corrupted copies planted per sampled row (in rounds "
                          "of at most 0.9 per row): more copies, more damage learned, more rows scored")
    kinds: list[str] | Literal["all"] = Field("all", description="corruption variants or families planted; "
                                              "'all': every variant except near_dup")
    exclude: list[str] = Field(default_factory=list, description="variants or families never planted "
                               "(to measure the detector on damage it was not shown)")
    scorers: list[str] | None = Field(None, description="the run's scorers (by name) whose columns the detector "
                                      "learns from and that score its copies; default: all of them. Leaving out "
                                      "a costly one (lm) saves scoring every copy with it")
    model: Literal["boosting", "logistic"] = Field("boosting", description="gradient-boosted trees "
                                                   "(handles missing scores) or a logistic regression")
    alignment: bool = Field(True, description="learn also from qa_margin: how much better an answer fits its "
                             "own question than any other question of the run (misplaced answers)")
    folds: int = Field(4, ge=2, le=10, description="cross-validation folds: out-of-fold scores for the sampled "
                       "rows and the held-out figures")
    seed: int = 0

    @field_validator("kinds", "exclude")
    @classmethod
    def _known(cls, v: list[str] | str) -> list[str] | str:
        if isinstance(v, list):
            expand(v)  # raises naming the allowed variants and families
        return v

    def variants(self) -> tuple[str, ...]:
        """The variants planted: ``kinds`` expanded (families to their variants), minus ``exclude``."""
        chosen = learnable() if self.kinds == "all" else expand(self.kinds)
        dropped = set(expand(self.exclude))
        out = tuple(v for v in chosen if v not in dropped)
        if not out:
            raise ValueError("detector: 'exclude' leaves no corruption variant to plant")
        return out
