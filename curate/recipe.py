"""A recipe: one YAML file that declares the input, the scorers, validity checks, dedup, the named
subsets and training. It is one pydantic model composed of the owning modules' models (``DedupConfig``,
``SubsetSpec``, ``ExecutorSettings``, ``ProxyConfig``, ``TrainConfig`` with ``EvaluateConfig``), validated completely
before any work starts (and again on every assignment or override), and every error names the key and
the allowed values, so a typo costs a second, not an hour of scoring."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from curate.detector.config import DetectorConfig
from curate.duplicates.config import DedupConfig
from curate.errors import UserError, format_validation_error
from curate.executors import ExecutorSettings
from curate.proxy.config import ProxyConfig
from curate.schema import REPAIRS
from curate.selection.config import SubsetSpec, check_name
from curate.train.config import EvaluateConfig, TrainConfig
from curate.validity import DEFAULT as DEFAULT_VALIDITY
from curate.validity import NAMES as VALIDITY_CHECKS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class InputSpec(_Strict):
    """The recipe's ``input:`` block: what to read and how (``curate.load``'s arguments, and shard size)."""

    source: str = Field(description="hub dataset id, local file/folder, or 'sharegpt-sample'")
    format: Literal["auto", "sharegpt", "messages", "alpaca"] = "auto"
    limit: int | None = Field(default=None, ge=1, description="read at most this many records")
    split: str = "train"
    chunk_rows: int = Field(default=50_000, ge=1, description="records per shard: memory bound and resume unit")
    repairs: list[Literal[REPAIRS]] = Field(default_factory=lambda: list(REPAIRS),
                                            description="repairs of malformed conversations ([] for none)")

    @field_validator("limit", "chunk_rows", mode="before")
    @classmethod
    def _not_bool(cls, v: Any) -> Any:
        """YAML's ``true`` would count as 1 record."""
        if isinstance(v, bool):
            raise ValueError(f"expected a whole number of records, got {v}")
        return v


def _check_scorer(spec: str | dict[str, Any]) -> str | dict[str, Any]:
    from curate.scorers import build

    try:
        build(spec)
    except UserError as e:
        raise ValueError(str(e)) from None
    return spec


def _check_proxies(proxies: list[ProxyConfig]) -> None:
    """Scorer specs given as mappings are checked now (strings may be store keys, known at run time);
    one proxy per teacher column, since its columns are named after it."""
    for i, proxy in enumerate(proxies):
        specs = {"teacher": proxy.teacher, **{f"features.{j}": f for j, f in enumerate(proxy.features)}}
        for where, spec in specs.items():
            if isinstance(spec, dict):
                try:
                    _check_scorer(spec)
                except ValueError as e:
                    raise ValueError(f"proxies.{i}.{where}: {e}") from None
    columns = [p.column for p in proxies]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ValueError(f"proxies: one proxy per teacher column; repeated: {repeated}")


def _spec_name(spec: str | dict[str, Any]) -> str:
    return spec if isinstance(spec, str) else str(spec.get("name", ""))


ScorerSpec = Annotated[str | dict[str, Any], AfterValidator(_check_scorer)]
BASE_COLUMNS = ("id", "row", "source")  # every run's rows have them (curate.schema); other input columns vary


class TrainSection(TrainConfig):
    """The recipe's ``train:`` block: the training settings plus which subsets to train and how to evaluate."""

    subsets: list[str] | None = Field(None, description="subsets to train (default: every subset)")
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)

    def settings(self) -> dict[str, Any]:
        """The :class:`TrainConfig` part (what ``train_run`` takes as keyword arguments)."""
        return self.model_dump(include=set(TrainConfig.model_fields))


class Recipe(_Strict):
    """A whole run as one YAML file declares it; :func:`parse` reads one, ``curate.run`` runs it.

    Attributes:
        name: the recipe's name; it names the default run directory, ``runs/<name>``.
        input: what to read (:class:`InputSpec`: source, format, limit, split, chunk_rows, repairs).
        run_dir: the run directory; None: ``runs/<name>``.
        executor: where row-wise scoring runs: ``local`` or ``ray``.
        executor_settings: the chosen executor's settings (``ExecutorSettings``: workers, actors, ...).
        scorers: scorer names or settings dicts; ``heuristics`` always runs.
        validity: the validity checks whose failures are removed (``curate.validity``).
        proxies: distilled proxies, fit after scoring (``ProxyConfig``).
        detector: a junk detector learned from corruption planted into the run's own rows
            (``DetectorConfig``), or None.
        dedup: the dedup methods and settings (:class:`DedupConfig`).
        subsets: the named subsets to select (:class:`SubsetSpec`).
        train: which subsets to train and how to evaluate them, or None.

    Raises:
        pydantic.ValidationError: an unknown key, a bad value or an inconsistency (repeated subset
            names, an unknown subset to train, ...), on construction and on every assignment;
            :func:`parse` turns it into a UserError naming the key.
    """

    name: Annotated[str, AfterValidator(check_name)]
    input: InputSpec
    run_dir: str | None = Field(default=None, description="run directory; default runs/<name>")
    executor: Literal["local", "ray"] = "local"
    executor_settings: ExecutorSettings = Field(default_factory=ExecutorSettings)
    scorers: list[ScorerSpec] = Field(default_factory=lambda: ["heuristics"])
    validity: list[Literal[VALIDITY_CHECKS]] = Field(default_factory=lambda: list(DEFAULT_VALIDITY))
    proxies: list[ProxyConfig] = Field(default_factory=list, description="distilled proxies, fit after scoring")
    detector: DetectorConfig | None = Field(None, description="a junk detector learned from corruption planted "
                                            "into this run's own rows: junk_prob per valid row")
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    subsets: list[SubsetSpec] = Field(default_factory=list)
    train: TrainSection | None = None

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "output" in data:
            warnings.warn("recipe key 'output' is deprecated; use 'run_dir'", DeprecationWarning, stacklevel=2)
            data = dict(data)
            out = data.pop("output")
            if data.get("run_dir") not in (None, out):
                raise ValueError(f"'output' ({out}) is the deprecated name of 'run_dir' ({data['run_dir']}); give one")
            data["run_dir"] = out
        if isinstance(data, dict) and data.get("dedup") is None and "dedup" in data:
            data = {k: v for k, v in data.items() if k != "dedup"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        names = [s.name for s in self.subsets]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"subsets: names must be unique; repeated: {repeated}")
        _check_proxies(self.proxies)
        if self.detector is not None and self.detector.scorers is not None:
            run = {_spec_name(s) for part in self.scorer_specs() for s in part}
            if missing := sorted(set(self.detector.scorers) - run):
                raise ValueError(f"detector.scorers: {missing} not among the run's scorers ({', '.join(sorted(run))})")
        unknown = sorted(set(self.train.subsets or []) - set(names)) if self.train else []
        if unknown:
            raise ValueError(f"train.subsets: no subset named {unknown} in `subsets`")
        try:
            self.executor_settings.options(self.executor)
        except UserError as e:
            raise ValueError(str(e)) from None
        return self

    def executor_options(self) -> dict[str, Any]:
        """The settings that apply to the chosen executor (``get_executor(name, **options)``)."""
        return self.executor_settings.options(self.executor)

    def score_columns(self) -> set[str]:
        """The columns the run will have besides the input's: every scorer's (heuristics always run) and
        each proxy's ``<column>_proxy``, ``_best`` and ``_teacher_scored``.

        Returns:
            The column names, with ``id``, ``row`` and ``source``.
        """
        from curate.scorers import build

        columns = set(BASE_COLUMNS) | set(build("heuristics").columns)
        for spec in self.scorers:
            columns |= set(build(spec).columns)
        for p in self.proxies:
            columns |= {f"{p.column}_proxy", f"{p.column}_best", f"{p.column}_teacher_scored"}
        if self.detector is not None:
            from curate.detector import COLUMNS

            columns |= set(build("texture").columns) | set(COLUMNS)
        return columns

    def scorer_specs(self) -> tuple[list[ScorerSpec], list[ScorerSpec]]:
        """The scorers by where they run: heuristics on every row (validity reads them), the rest on the
        valid rows only; a detector adds the ``texture`` scorer it learns from.

        Returns:
            ``(cheap, models)``: the two lists of scorer specs.
        """
        cheap = [s for s in self.scorers if _spec_name(s) == "heuristics"] or ["heuristics"]
        models = [s for s in self.scorers if _spec_name(s) != "heuristics"]
        if self.detector is not None and "texture" not in map(_spec_name, models):
            models.append("texture")
        return cheap, models

    def unknown_columns(self, input_columns: list[str]) -> list[str]:
        """The filter, rank and quota columns that neither a scorer, a proxy nor the input provides.

        Args:
            input_columns: the input's columns, known once ingest has read it.

        Returns:
            One ``subsets.N.filter: 'x'`` line per unknown column; [] when every column is known.
        """
        from curate.selection.expr import parse_filter
        from curate.selection.rank import split_column

        scores = self.score_columns()
        clash = {f"{c}_score" for c in scores & set(input_columns) if c not in BASE_COLUMNS}  # pandas' merge suffix
        known = scores | set(input_columns) | clash
        out = []
        for i, spec in enumerate(self.subsets):
            used = {"filter": parse_filter(spec.filter).columns if spec.filter else [],
                    "rank": [split_column(k)[0] for k in spec.rank or {}],
                    "quotas.column": [spec.quotas.column] if spec.quotas else []}
            out += [f"subsets.{i}.{key}: {c!r}" for key, cols in used.items() for c in cols if c not in known]
        return out

    def run_path(self) -> Path:
        """The run directory: ``run_dir``, else ``runs/<name>``."""
        return Path(self.run_dir or f"runs/{self.name}")


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """``data["input"]["limit"] = value`` for ``key="input.limit"``; list items by index (``subsets.0.budget``)."""
    *parents, last = key.split(".")
    node: Any = data
    for part in parents:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            if not isinstance(node.get(part), dict | list):
                node[part] = {}
            node = node[part]
        else:
            raise UserError(f"override {key!r}: {part!r} is not a mapping")
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise UserError(f"override {key!r}: no item {last!r}")
        node[int(last)] = value
    else:
        node[last] = value


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise UserError(f"recipe not found: {path}")
    if not path.is_file():
        raise UserError(f"{path}: a recipe is a YAML file, not a folder")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start}); save the recipe as UTF-8") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read the recipe: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: a recipe is a YAML mapping with keys {sorted(Recipe.model_fields)}")
    return data


def parse(recipe: str | Path | dict[str, Any] | Recipe, overrides: dict[str, Any] | None = None) -> Recipe:
    """A validated Recipe from a YAML path, a dict or a Recipe, with ``overrides`` applied first.

    Args:
        recipe: a YAML file's path, a dict (not changed) or a Recipe.
        overrides: values by dotted key (``"input.limit"``, ``"dedup.near.threshold"``, ``"subsets.0.budget"``),
            validated by the same model.

    Returns:
        The Recipe.

    Raises:
        UserError: on any problem: a missing or unreadable file, YAML that is not a mapping, an override
            key that does not fit, or a validation error (every line names its key).
    """
    origin = "recipe"
    if isinstance(recipe, Recipe):
        data = recipe.model_dump(exclude_unset=True)
    elif isinstance(recipe, str | Path):
        origin = str(recipe)
        data = _load(Path(recipe))
    else:
        data = copy.deepcopy(dict(recipe))  # overrides must not edit the caller's nested dicts
    for key, value in (overrides or {}).items():
        _set_dotted(data, key, copy.deepcopy(value))  # later dotted keys must not edit the caller's values
    try:
        return Recipe.model_validate(data)
    except ValidationError as e:
        raise UserError(format_validation_error(e, f"{origin}: ", Recipe, sep="\n")) from None


def recipes_dir() -> Path:
    """The shipped recipes (a source checkout or an editable install)."""
    return Path(__file__).resolve().parents[1] / "recipes"
