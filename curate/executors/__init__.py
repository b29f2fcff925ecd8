"""Executors: where row-wise scoring runs. ``local`` (default) scores shard by shard on this machine
(in-process, or a process pool for CPU scorers); ``ray`` spreads the same work over a Ray cluster
(Ray Data ``map_batches`` with an actor pool per scorer, ``num_gpus`` per actor for GPU scorers, so each
GPU loads its model once).

Both write into the same score store under the same scorer keys, so a run can be started on one
executor and resumed on the other. Global steps (exact and MinHash dedup, selection) stay on the
driver over compact per-row arrays (ids, uint32 signatures).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from curate.errors import UserError, format_validation_error
from curate.executors.base import Executor, Shards, score_shards, stored_scores

EXECUTORS = ("local", "ray")


class LocalSettings(BaseModel):
    """Settings of the ``local`` executor."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    workers: int | None = Field(default=None, ge=1, description="processes scoring CPU scorers shard by shard "
                                "(default one per core from 100k rows; 1 = in this process)")


class RaySettings(BaseModel):
    """Settings of the ``ray`` executor."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    actors: int | None = Field(default=None, ge=1, description="actors per CPU scorer (default: the cluster's CPUs)")
    flush_rows: int = Field(default=50_000, ge=1, description="rows per score-store part")
    init_kwargs: dict[str, Any] = Field(default_factory=dict, description="extra ray.init arguments")


SETTINGS: dict[str, type[BaseModel]] = {"local": LocalSettings, "ray": RaySettings}


class ExecutorSettings(BaseModel):
    """The recipe's ``executor_settings:`` block: any executor's settings, unset by default; only the
    chosen executor's may be set (:meth:`options`)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    workers: int | None = LocalSettings.model_fields["workers"]
    actors: int | None = RaySettings.model_fields["actors"]
    flush_rows: int | None = Field(default=None, ge=1, description="ray: rows per score-store part (default 50000)")
    init_kwargs: dict[str, Any] | None = Field(default=None, description="ray: extra ray.init arguments")

    def options(self, executor: str) -> dict[str, Any]:
        """The set settings, checked to belong to ``executor`` (``get_executor(executor, **options)``)."""
        given = self.model_dump(exclude_none=True)
        foreign = sorted(set(given) - set(SETTINGS[executor].model_fields))
        if foreign:
            raise UserError(f"executor_settings.{foreign[0]} does not apply to executor {executor!r} "
                            f"(its settings: {', '.join(SETTINGS[executor].model_fields)})")
        return given


def get_executor(name: str = "local", address: str | None = None, **options: Any) -> Executor:
    """``local`` or ``ray`` (``address``: a Ray cluster, e.g. ``ray://head:10001``; None starts or
    joins a local instance). Options are the executor's settings (:class:`LocalSettings`,
    :class:`RaySettings`); an unknown or bad one raises UserError naming the allowed ones."""
    if name not in SETTINGS:
        raise UserError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}")
    try:
        settings = SETTINGS[name].model_validate(options)
    except ValidationError as e:
        raise UserError(format_validation_error(e, f"executor {name!r}: ", SETTINGS[name])) from None
    if name == "local":
        from curate.executors.local import LocalExecutor

        return LocalExecutor(**settings.model_dump())
    from curate.executors.ray_executor import RayExecutor

    return RayExecutor(address=address, **settings.model_dump())


__all__ = ["EXECUTORS", "Executor", "ExecutorSettings", "LocalSettings", "RaySettings", "Shards", "get_executor", "score_shards",
           "stored_scores"]
