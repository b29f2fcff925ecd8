"""A recipe: one YAML file that declares the input, the scorers, validity checks, dedup and the named
subsets. It is validated completely before any work starts, and every error names the key and the
allowed values, so a typo costs a second, not an hour of scoring."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from curate.errors import UserError, format_validation_error

TRAIN_RUN_KEYS = ("subsets", "evaluate")  # the rest of `train:` is train.config.TrainConfig
VALIDITY_CHECKS = ("role_order", "template_leak", "truncated", "refusal", "ends_with_assistant")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputSpec(_Strict):
    source: str = Field(description="hub dataset id, local file/folder, or 'sharegpt-sample'")
    format: Literal["auto", "sharegpt", "messages", "alpaca"] = "auto"
    limit: int | None = Field(default=None, ge=1, description="read at most this many records")
    split: str = "train"
    chunk_rows: int = Field(default=50_000, ge=1, description="records per shard: memory bound and resume unit")


class ExecutorSettings(_Strict):
    workers: int | None = Field(default=None, ge=1, description="local executor: processes scoring CPU scorers "
                                "shard by shard (default one per core from 100k rows; 1 = in this process)")


class Recipe(_Strict):
    name: str
    input: InputSpec
    output: str | None = Field(default=None, description="run directory; default runs/<name>")
    executor: Literal["local", "ray"] = "local"
    executor_settings: ExecutorSettings = Field(default_factory=ExecutorSettings)
    scorers: list[str | dict[str, Any]] = Field(default_factory=lambda: ["heuristics"])
    validity: list[Literal[VALIDITY_CHECKS]] = Field(default_factory=lambda: ["role_order", "template_leak"])
    dedup: dict[str, Any] | None = None
    subsets: list[dict[str, Any]] = Field(default_factory=list)
    train: dict[str, Any] | None = None

    def train_settings(self) -> dict[str, Any]:
        return {k: v for k, v in (self.train or {}).items() if k not in TRAIN_RUN_KEYS}

    def executor_options(self) -> dict[str, Any]:
        """The settings that apply to the chosen executor (``get_executor(name, **options)``)."""
        return {k: v for k, v in self.executor_settings.model_dump().items() if v is not None}

    def run_dir(self) -> Path:
        return Path(self.output or f"runs/{self.name}")


def parse(recipe: str | Path | dict[str, Any], overrides: dict[str, Any] | None = None) -> Recipe:
    """A validated Recipe from a YAML path or a dict, with ``overrides`` (e.g. ``{"input.limit": 5}``
    or ``{"input": {"limit": 5}}``) merged in before validation; UserError on any problem."""
    origin = "recipe"
    if isinstance(recipe, (str, Path)):
        path = Path(recipe)
        if not path.exists():
            raise UserError(f"recipe not found: {path}")
        origin = str(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise UserError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise UserError(f"{path}: a recipe is a YAML mapping with keys {sorted(Recipe.model_fields)}")
    else:
        data = dict(recipe)
    data = _merge(data, overrides or {})
    try:
        parsed = Recipe.model_validate(data)
    except ValidationError as e:
        raise UserError(format_validation_error(e, f"{origin}: ", Recipe, sep="\n")) from None
    _validate_parts(parsed, origin)
    return parsed


def _merge(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` on top of ``data``: mappings merge key by key; a dotted key is a path."""
    out = dict(data)
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if rest:
            value = {rest: value}
        base = out.get(head)
        out[head] = _merge(base if isinstance(base, dict) else {}, value) if isinstance(value, dict) else value
    return out


def _validate_parts(recipe: Recipe, origin: str) -> None:
    """Each part is checked by the module that owns it, with the recipe path in the message."""
    from curate.duplicates.config import DedupConfig
    from curate.scorers import build
    from curate.selection.config import SubsetSpec

    for i, spec in enumerate(recipe.scorers):
        try:
            build(spec)
        except UserError as e:
            raise UserError(f"{origin}: scorers.{i}: {e}") from None
    checks = [(DedupConfig, recipe.dedup, "dedup.")] if recipe.dedup is not None else []
    checks += [(SubsetSpec, s, f"subsets.{i}.") for i, s in enumerate(recipe.subsets)]
    if recipe.train is not None:
        from train.config import TrainConfig

        settings = {k: v for k, v in recipe.train.items() if k not in TRAIN_RUN_KEYS}
        checks.append((TrainConfig, settings, "train."))
        unknown = sorted(set(recipe.train.get("subsets") or []) - {s.get("name") for s in recipe.subsets})
        if unknown:
            raise UserError(f"{origin}: train.subsets: no subset named {unknown} in `subsets`")
    for model, value, prefix in checks:
        try:
            model.model_validate(value)
        except ValidationError as e:
            raise UserError(format_validation_error(e, f"{origin}: {prefix}", model, sep="\n")) from None
    if recipe.executor != "local" and recipe.executor_settings.workers is not None:
        raise UserError(f"{origin}: executor_settings.workers applies to executor 'local' only, not {recipe.executor!r}")
    names = [s.get("name") for s in recipe.subsets]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"{origin}: subsets: names must be unique; repeated: {repeated}")


def recipes_dir() -> Path:
    """The shipped recipes (a source checkout or an editable install)."""
    return Path(__file__).resolve().parents[1] / "recipes"
