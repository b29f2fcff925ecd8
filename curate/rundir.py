"""The run directory: the one module that knows where a run's outputs live, and the reads every
consumer shares (the pool of kept rows, scores, embeddings by scorer name, removals, subsets, models,
evaluation). Writes are atomic; per-step markers let an interrupted run resume without redoing work.

Layout::

    RUN/manifest.json                    recipe, versions, counts, timings, status
    RUN/quarantine.jsonl                 records that could not be read, with line/row and reason
    RUN/data/shards/part-NNNNN.parquet   normalized input (id, messages, source, extras, row), one shard per
                                         ``input.chunk_rows`` records: the run's conversations
    RUN/data/quarantine/part-NNNNN.jsonl the quarantine lines of each shard (resume unit)
    RUN/data/conversations.json          the shards of a finished ingest, in order, with their rows and digests
                                         (checked on every read; runs made before 2026-12 have
                                         data/conversations.parquet instead)
    RUN/validity.parquet                 rows removed by validity checks (id, row, reason)
    RUN/scores/<scorer-key>/             score store (StoreFiles): part-*.parquet, meta.json, cache/<column>.npy
                                         and <column>.ids.json (curate.store)
    RUN/detector/                        junk.parquet (id, junk_prob, atypical, qa_margin), detector.json, training.parquet
    RUN/dedup/                           DedupFiles: <method>.parquet removals, pairs/<method>.parquet,
                                         rows.parquet, against.parquet (cross mode), meta.json, signatures.npy
    RUN/subsets/<name>/                  SubsetFiles: data.parquet, data.jsonl, selection.parquet,
                                         rejected.parquet, meta.json (``write_subset`` to any folder: the same)
    RUN/report/                          report.html and PNGs
    RUN/models/<variant>/                ModelFiles: adapter/, metrics.json, log_history.json, loss.png,
                                         merged/ (with ``merge``)
    RUN/models/results.{csv,md}          the experiment matrix: one row per trained variant
    RUN/grid/<subset>/                   GridFiles, `curate grid`: a ModelFiles folder per point (r<R>/),
                                         grid.{csv,md}, grid.png, best.json
    RUN/eval/                            EvalFiles: heldout_ids.json, answers.jsonl, answers_meta.json,
                                         winrates.json, winrates.png, heldout.json, results.md
    RUN/votes.sqlite                     blind A/B votes of the app's arena
    RUN/exports.json                     `curate export`s of this run's variants: where each went (its card)
    RUN/steps/<step>.json                done markers: a step whose marker matches its fingerprint is skipped
    RUN/.lock                            held by the `curate run` writing RUN (a second one is refused)
    RUN-audit/                           AuditFiles, `curate audit` of this run's recipe: a sibling folder, so
                                         planted rows never enter RUN (pool.jsonl, labels.parquet, run/,
                                         audit.json, audit.html, heatmap.png; IN_PROGRESS while an audit runs,
                                         so a killed one leaves no stale summary)

Removals are keyed by input ``row`` when the data has it: exact copies share an ``id`` with the copy
that is kept.

The ``*Files`` objects hold the paths of one folder's files. Modules below this one in the import graph
(``curate.store``) are handed them; the others ask ``RunDir`` for them; none spells a file name itself
(tests/test_run_layout.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate._deprecated import moved
from curate.errors import UserError
from curate.files import (  # noqa: F401  (re-exported: curate.rundir.write_json etc. are imported across curate, tests, benchmarks)
    TMP_SUFFIX,
    atomic_path,
    fingerprint,
    write_json,
    write_jsonl,
    write_parquet,
    write_text,
)
from curate.store import ScoreStore, join_frames, scalar_columns


class RunDirError(UserError):
    """The run directory is not what it says it holds (a damaged index, a replaced shard)."""


# --- the files of one folder ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Folder:
    folder: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", Path(self.folder))


class SubsetFiles(_Folder):
    """One subset folder: ``RUN/subsets/<name>/``, or any folder ``write_subset`` is given (``load_subset``
    and ``curate train --subset FOLDER`` read it)."""

    @property
    def data(self) -> Path:
        """The chosen rows with their scores and messages."""
        return self.folder / "data.parquet"

    @property
    def jsonl(self) -> Path:
        """The chosen conversations as ShareGPT or OpenAI messages, for trainers."""
        return self.folder / "data.jsonl"

    @property
    def selection(self) -> Path:
        """id, rank, score and reason of each chosen row."""
        return self.folder / "selection.parquet"

    @property
    def rejected(self) -> Path:
        """The id, row, source and first rejecting rule of every row not chosen."""
        return self.folder / "rejected.parquet"

    @property
    def meta(self) -> Path:
        """The spec, counts (rows per rejecting rule), fill, filter-part impact, tokens and source mix."""
        return self.folder / "meta.json"

    def written(self) -> bool:
        """Whether the folder holds a subset's rows (either data file)."""
        return self.data.exists() or self.jsonl.exists()


class DedupFiles(_Folder):
    """A dedup folder (``RUN/dedup/``, or the folder ``DedupResult.save`` is given)."""

    def removals(self, method: str) -> Path:
        """The rows ``method`` removed (id, row, method, duplicate_of, ...)."""
        return self.folder / f"{method}.parquet"

    def pairs(self, method: str) -> Path:
        """``method``'s candidate pairs and their similarity, down to its floor (for re-thresholding)."""
        return self.folder / "pairs" / f"{method}.parquet"

    @property
    def rows(self) -> Path:
        """The id, row and keep rank of every data row."""
        return self.folder / "rows.parquet"

    @property
    def against(self) -> Path:
        """The id and row of every reference row, when dedup ran against another dataset."""
        return self.folder / "against.parquet"

    @property
    def meta(self) -> Path:
        """The keep rule, methods, counts and each method's threshold, floor and settings."""
        return self.folder / "meta.json"

    @property
    def signatures(self) -> Path:
        """The MinHash signatures memmap of the run's kept rows."""
        return self.folder / "signatures.npy"

    @classmethod
    def of(cls, path: str | os.PathLike) -> DedupFiles:
        """``path`` itself when it is a dedup folder, else the dedup folder of the run directory ``path``."""
        own = RunDir(path).dedup_files
        return cls(path) if Path(path).name == own.folder.name or cls(path).meta.exists() else own


@dataclass(frozen=True)
class StoreFiles:
    """The score store's folder (``RUN/scores/``): a folder per scorer key holding ``part-*.parquet``,
    ``meta.json`` and ``cache/``. ``curate.store`` sits below this module and is handed one."""

    root: Path

    def keys(self) -> list[str]:
        """The scorer keys that have a ``meta.json``."""
        return sorted(p.parent.name for p in self.root.glob("*/meta.json")) if self.root.exists() else []

    def meta(self, key: str) -> Path:
        """The key's scorer name, settings and columns."""
        return self.root / key / "meta.json"

    def parts(self, key: str) -> list[Path]:
        """The key's parts, oldest first (their names start with the time they were written)."""
        return sorted((self.root / key).glob("part-*.parquet"))

    def new_part(self, key: str) -> Path:
        """A path for the key's next part, named by the time, so parts sort oldest first."""
        return self.root / key / f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:6]}.parquet"

    def cache_dir(self, key: str) -> Path:
        """Derived files of the key (vector memmaps), rebuilt when its parts change."""
        return self.root / key / "cache"

    def cache(self, key: str, column: str) -> tuple[Path, Path]:
        """A vector column's memmap and its ids index (``cache/<column>.npy``, ``<column>.ids.json``)."""
        return self.cache_dir(key) / f"{column}.npy", self.cache_dir(key) / f"{column}.ids.json"


class ModelFiles(_Folder):
    """A trained variant's folder: ``RUN/models/<variant>/``, or ``curate train --out-dir DIR``."""

    @property
    def adapter(self) -> Path:
        """The LoRA adapter (``save_pretrained``)."""
        return self.folder / "adapter"

    @property
    def metrics(self) -> Path:
        """The variant's training settings and results (losses, rows, seconds), as ``curate train`` returns them."""
        return self.folder / "metrics.json"

    @property
    def log_history(self) -> Path:
        """The trainer's log: one entry per logged step (loss, eval_loss)."""
        return self.folder / "log_history.json"

    @property
    def loss_plot(self) -> Path:
        """Train and eval loss over the steps."""
        return self.folder / "loss.png"

    @property
    def merged(self) -> Path:
        """The merged 16-bit model (training with ``merge``)."""
        return self.folder / "merged"


class GridFiles(_Folder):
    """A rank grid's folder: ``RUN/grid/<subset>/``, or ``curate grid --out-dir DIR``."""

    def point(self, name: str) -> ModelFiles:
        """The variant trained at one grid point (``r8``, ``r8-lr0.0001``)."""
        return ModelFiles(self.folder / name)

    @property
    def table(self) -> Path:
        """One row per grid point; ``write_tables`` writes its Markdown copy beside it (``.md``)."""
        return self.folder / "grid.csv"

    @property
    def plot(self) -> Path:
        """Eval loss per rank over steps."""
        return self.folder / "grid.png"

    @property
    def best(self) -> Path:
        """The grid point with the lowest final eval loss."""
        return self.folder / "best.json"


class EvalFiles(_Folder):
    """``RUN/eval/``: what ``curate evaluate`` writes."""

    @property
    def heldout_ids(self) -> Path:
        """The held-out conversations, frozen at the first evaluation."""
        return self.folder / "heldout_ids.json"

    @property
    def answers(self) -> Path:
        """Every variant's answer to every prompt (reused while ``answers_meta``'s fingerprint matches)."""
        return self.folder / "answers.jsonl"

    @property
    def answers_meta(self) -> Path:
        """The fingerprint and settings the answers were generated with."""
        return self.folder / "answers_meta.json"

    @property
    def winrates(self) -> Path:
        """The judged pairwise win rates."""
        return self.folder / "winrates.json"

    @property
    def winrates_plot(self) -> Path:
        """The win rates as a plot."""
        return self.folder / "winrates.png"

    @property
    def heldout(self) -> Path:
        """Held-out loss per variant."""
        return self.folder / "heldout.json"

    @property
    def results(self) -> Path:
        """The evaluation's own report (Markdown)."""
        return self.folder / "results.md"


class AuditFiles(_Folder):
    """An audit folder (``RunDir.audit_dir``, or ``curate audit --run-dir DIR``)."""

    @property
    def pool(self) -> Path:
        """The planted sample, the audit run's input."""
        return self.folder / "pool.jsonl"

    @property
    def labels(self) -> Path:
        """Which pool row is which kind (never given to a scorer)."""
        return self.folder / "labels.parquet"

    @property
    def run(self) -> Path:
        """The recipe's run on the pool."""
        return self.folder / "run"

    @property
    def summary(self) -> Path:
        """The audit's measurements (``curate.audit``'s ``AuditResult.summary``)."""
        return self.folder / "audit.json"

    @property
    def html(self) -> Path:
        """The audit's report."""
        return self.folder / "audit.html"

    @property
    def heatmap(self) -> Path:
        """AUROC per score column and planted kind."""
        return self.folder / "heatmap.png"

    @property
    def in_progress(self) -> Path:
        """Present while an audit runs: a killed one leaves no summary passing for the new pool's."""
        return self.folder / "IN_PROGRESS"


def shard_digest(path: Path) -> str:
    """A cheap content digest of a Parquet shard: its size and a hash of its footer (row groups, column
    offsets, sizes and statistics), read in microseconds, so every read of a run can check its shards.

    Returns:
        16 hex digits.

    Raises:
        RunDirError: ``path`` is too short or has no Parquet footer.
    """
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size < 12:
            raise RunDirError(f"{path} is not a Parquet file ({size} bytes)")
        f.seek(size - 8)
        tail = f.read(8)
        footer = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1" or footer + 8 > size:
            raise RunDirError(f"{path} is not a Parquet file (damaged or truncated)")
        f.seek(size - 8 - footer)
        return hashlib.sha256(size.to_bytes(8, "little") + f.read(footer)).hexdigest()[:16]


def _row_groups_holding(path: str, ids: pa.Array) -> list[int]:
    """The row groups of a Parquet file whose ``id`` column holds any of ``ids`` (read from that
    column alone)."""
    pf = pq.ParquetFile(path)
    hit = pc.is_in(pf.read(columns=["id"]).column("id"), value_set=ids).to_numpy(zero_copy_only=False)
    bounds = np.cumsum([0] + [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)])
    return [g for g in range(pf.num_row_groups) if hit[bounds[g]:bounds[g + 1]].any()]


def _num_rows(path: Path) -> int:
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowInvalid) as e:
        raise RunDirError(f"{path} is not a readable Parquet file ({e})") from None


class RunDir:
    """Paths, reads and bookkeeping of one run; cheap to construct, creates folders on demand.

    The layout is the module's docstring (``help(curate.rundir)``). Most reads of an output the run does
    not have give an empty result or None; those that need it (the conversations, a named subset) raise
    :class:`UserError`.

    Args:
        root: the run directory (``self.root``); it need not exist yet.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, *parts: str) -> Path:
        """``root / parts``, its parent folder created."""
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def exists(self) -> bool:
        """Whether a run was made here: it has a manifest or conversations."""
        return self.manifest_path.exists() or self.conversations_path.exists()

    def ensure_dir(self) -> None:
        """Create the run directory; one clear error when it (or a folder above it) is a file."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise UserError(f"run directory {self.root} is a file (or inside one); give a folder") from None

    def clean_temp_files(self) -> int:
        """Remove temp files a killed writer left (call only while holding the run's lock); their count."""
        stale = [p for p in self.root.rglob(f".*{TMP_SUFFIX}") if p.is_file()]
        for p in stale:
            p.unlink(missing_ok=True)
        return len(stale)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold ``RUN/.lock`` while writing the run; a second writer is refused rather than mixed in."""
        import fcntl

        self.ensure_dir()
        with open(self.root / ".lock", "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UserError(f"another `curate run` is writing {self.root}; wait for it to finish") from None
            yield

    # --- paths (the layout above; nothing is created by reading a path) --------------------------
    @property
    def conversations_path(self) -> Path:
        """The conversations' index (``conversations_table`` reads through it); it exists once an
        ingest finished, or an older run's single file when that is what the run has."""
        index = self.root / "data" / "conversations.json"
        legacy = self.root / "data" / "conversations.parquet"
        return legacy if legacy.exists() and not index.exists() else index

    def shard(self, k: int) -> Path:
        """Conversation shard ``k``."""
        return self.root / "data" / "shards" / f"part-{k:05d}.parquet"

    def quarantine_shard(self, k: int) -> Path:
        """The records of shard ``k`` that could not be read."""
        return self.root / "data" / "quarantine" / f"part-{k:05d}.jsonl"

    @property
    def quarantine(self) -> Path:
        """Every record that could not be read, with its row and reason (its folder created)."""
        return self.path("quarantine.jsonl")

    @property
    def validity_path(self) -> Path:
        """Rows the validity checks removed (id, row, reason)."""
        return self.root / "validity.parquet"

    @property
    def scores_dir(self) -> Path:
        """The score store's folder."""
        return self.root / "scores"

    def score_store(self) -> ScoreStore:
        """The run's score store (``RUN/scores/``)."""
        return ScoreStore(StoreFiles(self.scores_dir))

    @property
    def dedup_dir(self) -> Path:
        """Dedup's folder."""
        return self.root / "dedup"

    @property
    def dedup_files(self) -> DedupFiles:
        """The files of dedup's folder."""
        return DedupFiles(self.dedup_dir)

    @property
    def subsets_dir(self) -> Path:
        """The folder holding a folder per subset."""
        return self.root / "subsets"

    def subset_dir(self, name: str) -> Path:
        """Subset ``name``'s folder, created."""
        d = self.subsets_dir / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def subset_files(self, name: str) -> SubsetFiles:
        """The files of subset ``name`` (the folder is not created)."""
        return SubsetFiles(self.subsets_dir / name)

    @property
    def report_dir(self) -> Path:
        """The report's folder (``report.html`` and PNGs)."""
        return self.root / "report"

    @property
    def report_path(self) -> Path:
        """The run's report."""
        return self.report_dir / "report.html"

    @property
    def models_dir(self) -> Path:
        """The folder holding a folder per trained variant."""
        return self.root / "models"

    def model_dir(self, name: str) -> Path:
        """Variant ``name``'s folder (not created)."""
        return self.models_dir / name

    def model_files(self, name: str) -> ModelFiles:
        """The files of variant ``name``'s folder."""
        return ModelFiles(self.model_dir(name))

    @property
    def results_table(self) -> Path:
        """The experiment matrix (``curate train``): one row per trained variant; ``write_tables`` writes its
        Markdown copy beside it (``results.md``)."""
        return self.models_dir / "results.csv"

    def grid_files(self, subset: str) -> GridFiles:
        """The rank grid of subset ``subset`` (the folder is not created)."""
        return GridFiles(self.root / "grid" / subset)

    @property
    def eval_dir(self) -> Path:
        """The folder ``curate evaluate`` writes."""
        return self.root / "eval"

    @property
    def eval_files(self) -> EvalFiles:
        """The files of the evaluation's folder."""
        return EvalFiles(self.eval_dir)

    @property
    def detector_dir(self) -> Path:
        """The learned junk detector's outputs: ``junk.parquet`` (id, junk_prob, atypical, qa_margin),
        ``detector.json`` (settings, features, cross-validated and held-out AUROC) and ``training.parquet``
        (its examples)."""
        return self.root / "detector"

    @property
    def detector_outputs(self) -> list[Path]:
        """The files a finished detector step leaves: ``junk.parquet`` and its report ``detector.json``."""
        return [self.detector_dir / "junk.parquet", self.detector_dir / "detector.json"]

    def detector(self) -> dict | None:
        """The detector's report (``detector.json``), or None when the run has no detector."""
        p = self.detector_dir / "detector.json"
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None

    def write_detector(self, scores: pd.DataFrame, report: dict, examples: pd.DataFrame) -> None:
        """The detector step's outputs: ``junk.parquet``, ``detector.json``, ``training.parquet`` (atomic each;
        the report last, so a killed step leaves no report beside stale scores)."""
        out = self.detector_dir
        write_parquet(out / "training.parquet", pa.Table.from_pandas(examples, preserve_index=False))
        write_parquet(out / "junk.parquet", pa.Table.from_pandas(scores, preserve_index=False))
        write_json(out / "detector.json", report)

    def detector_examples(self) -> pd.DataFrame | None:
        """The detector's training examples: originals and planted copies with their features.

        Returns:
            ``training.parquet`` as pandas, or None when the run has no detector.
        """
        p = self.detector_dir / "training.parquet"
        return pq.read_table(p).to_pandas() if p.exists() else None

    def junk_scores(self) -> pd.DataFrame | None:
        """``id``, ``junk_prob``, ``atypical``, ``qa_margin`` of the valid rows, or None without a detector."""
        p = self.detector_dir / "junk.parquet"
        return pq.read_table(p).to_pandas() if p.exists() else None

    @property
    def audit_dir(self) -> Path:
        """Where ``curate audit`` of this run's recipe writes by default: beside the run, never in it."""
        return self.root.with_name(self.root.name + "-audit")

    @property
    def audit_files(self) -> AuditFiles:
        """The files of the audit folder."""
        return AuditFiles(self.audit_dir)

    def audit(self) -> dict | None:
        """The audit summary (``audit.json``) of this run's recipe.

        Returns:
            The summary, or None when no audit was made or one is in progress (a killed re-audit must
            not pass off the old pool's summary as the new one's).
        """
        files = self.audit_files
        if files.in_progress.exists():
            return None
        return json.loads(files.summary.read_text()) if files.summary.exists() else None

    @property
    def votes_path(self) -> Path:
        """The app arena's blind A/B votes."""
        return self.root / "votes.sqlite"

    @property
    def manifest_path(self) -> Path:
        """The manifest: recipe, versions, counts, timings, status (its folder created)."""
        return self.path("manifest.json")

    def marker_path(self, step: str) -> Path:
        """The done marker of ``step``."""
        return self.root / "steps" / f"{step}.json"

    @staticmethod
    def shard_step(k: int) -> str:
        """The marker name of ingest shard ``k`` (``steps/ingest-NNNNN.json``: ingest resumes by shard)."""
        return f"ingest-{k:05d}"

    # --- reads ------------------------------------------------------------------------------
    def conversation_shards(self) -> list[Path]:
        """The Parquet files holding the conversations, in row order ([] before an ingest finished); each
        checked against the index (inside the run, listed once, its rows and digest) so a damaged run
        fails with one error rather than giving a subset with missing or doubled rows.

        Returns:
            The shard paths, in row order.

        Raises:
            RunDirError: the index is damaged, or a shard is missing, outside the run, listed twice or
                not the one the ingest wrote.
        """
        path = self.conversations_path
        if path.suffix == ".parquet":
            return [path] if path.exists() else []
        return self._checked_shards(path) if path.exists() else []

    def _checked_shards(self, index: Path) -> list[Path]:
        def bad(why: str) -> RunDirError:
            return RunDirError(f"{index}: {why}; the run's conversations cannot be trusted: run the recipe again "
                               "(`curate run RECIPE`: it rewrites data/ and keeps the scores)")

        try:
            data = json.loads(index.read_text(encoding="utf-8"))
            names, rows = list(data["shards"]), list(data["rows"])
        except (ValueError, KeyError, TypeError) as e:
            raise bad(f"not a conversations index ({type(e).__name__})") from None
        digests = data.get("digests")
        if not names or len(rows) != len(names) or (digests is not None and len(digests) != len(names)):
            raise bad("lists no shards" if not names else "lists shards, rows and digests of different lengths")
        base = (self.root / "data").resolve()
        paths = [index.parent / str(n) for n in names]
        for n, p in zip(names, paths, strict=True):
            if base not in p.resolve().parents:
                raise bad(f"shard {n!r} is outside the run")
            if not p.is_file():
                raise bad(f"shard {n!r} is missing")
        if len({p.resolve() for p in paths}) < len(paths):
            raise bad("lists a shard twice")
        if digests is None:
            warnings.warn(f"{index} has no shard digests (made before 2026-12): shards are checked by row count "
                          "only; run the recipe again to add them", UserWarning, stacklevel=3)
        for k, p in enumerate(paths):
            try:
                changed = shard_digest(p) != digests[k] if digests is not None else _num_rows(p) != rows[k]
            except RunDirError as e:
                raise bad(str(e)) from None
            if changed:
                raise bad(f"shard {names[k]!r} is not the one the ingest wrote")
        return paths

    def write_conversations_index(self, shards: list[Path]) -> None:
        """Record ``shards`` (written by ingest) as the run's conversations, with their rows and digests;
        atomic, so a reader sees all of them or none."""
        rows = [pq.ParquetFile(p).metadata.num_rows for p in shards]
        write_json(self.root / "data" / "conversations.json",
                   {"shards": [str(p.relative_to(self.root / "data")) for p in shards], "rows": rows,
                    "digests": [shard_digest(p) for p in shards]})
        (self.root / "data" / "conversations.parquet").unlink(missing_ok=True)  # an older run's copy

    def drop_conversations_index(self) -> None:
        """An ingest is starting: its shards will replace the listed ones, so none is listed meanwhile
        (a reader says the run has no conversations rather than mix two inputs)."""
        (self.root / "data" / "conversations.json").unlink(missing_ok=True)

    def write_conversations(self, table: pa.Table) -> None:
        """``table`` as the run's conversations, one shard (tests, and runs built without ingest)."""
        write_parquet(self.shard(0), table)
        self.write_conversations_index([self.shard(0)])

    def _conversations_schema(self) -> pa.Schema:
        """The shards' schemas unified: a column missing from a shard reads as nulls there."""
        schemas = [pq.read_schema(p) for p in self.conversation_shards()]
        return pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])

    def conversation_columns(self) -> list[str]:
        """The conversations' columns (every shard's, unified)."""
        return self._conversations_schema().names

    def conversations_table(self, columns: list[str] | None = None, ids: pa.Array | None = None) -> pa.Table:
        """The normalized input (given ``columns`` that exist), every row including removed ones, in
        input order; with ``ids``, only the rows with those ids, read from the row groups that hold
        them (a filtered scan would decode every row's text first: 7 GB for The Tome).

        Args:
            columns: the columns to read (those the conversations lack are left out); None: all.
            ids: read only the rows with these ids.

        Returns:
            The conversations as a pyarrow Table.

        Raises:
            UserError: the run has no conversations yet.
            RunDirError: its conversations are damaged (:meth:`conversation_shards`).
        """
        import pyarrow.dataset as ds

        if not self.conversations_path.exists():
            raise UserError(f"{self.conversations_path} does not exist; run a recipe (curate run) first")
        schema = self._conversations_schema()
        names = [c for c in columns if c in schema.names] if columns else schema.names
        data = ds.dataset(self.conversation_shards(), schema=schema, format="parquet")
        if ids is None:
            return data.to_table(columns=names)
        held = [f.subset(row_group_ids=groups) for f in data.get_fragments() if (groups := _row_groups_holding(f.path, ids))]
        data = ds.FileSystemDataset(held, schema, data.format, data.filesystem)
        return data.to_table(columns=names, filter=ds.field("id").isin(ids))

    def scores(self, keys: list[str] | None = None, vectors: bool = True, ids: list[str] | None = None) -> pd.DataFrame:
        """Every score column (or those of the given keys / scorer names) joined on ``id``.

        Args:
            keys: score store keys or scorer names (a name means its newest key); None: every key, and
                the detector's ``junk_prob``, ``atypical`` and ``qa_margin``.
            vectors: False leaves out vector and ``*_error`` columns and keeps one row per id.
            ids: only these rows (filtered in Arrow before pandas, so a sample of a large run stays small).

        Returns:
            One DataFrame with an ``id`` column (empty when the run has no scores); a column two keys
            share is suffixed ``__<key>``.

        Raises:
            UserError: a key or scorer name the store does not have.
        """
        if not self.scores_dir.is_dir():
            return pd.DataFrame({"id": pd.Series([], dtype=object)})
        store = self.score_store()
        chosen = [store.resolve_key(k) for k in keys] if keys else store.keys()
        df = join_frames({k: store.frame(k, ids) for k in chosen}, ids)
        junk = self.junk_scores() if not keys else None
        if junk is not None:  # the detector's column: learned from the scores above, kept beside them
            df = df.merge(junk, on="id", how="left")
        return df if vectors else df[["id", *scalar_columns(df)]].drop_duplicates("id")

    def embeddings(self, name: str = "embedding", column: str = "embedding") -> tuple[list[str], np.ndarray]:
        """``(ids, float16 matrix)`` of scorer ``name``'s vector ``column`` (``ScoreStore.embeddings``)."""
        return self.score_store().embeddings(name, column)

    def invalid(self) -> pd.DataFrame:
        """Rows validity checks removed (id, row, reason ``invalid:<check>``)."""
        if not self.validity_path.exists():
            return pd.DataFrame(columns=["id", "row", "reason"])
        return pq.read_table(self.validity_path).to_pandas()

    def duplicates(self) -> pd.DataFrame:
        """Every dedup removal (id, row, method, duplicate_of, similarity) in one table."""
        frames = [pq.read_table(p).to_pandas() for p in sorted(self.dedup_dir.glob("*.parquet"))
                  if {"id", "duplicate_of"} <= set(pq.read_schema(p).names)]
        if not frames:
            return pd.DataFrame(columns=["id", "method", "duplicate_of", "similarity"])
        return pd.concat(frames, ignore_index=True)

    def removals(self, duplicates: bool = True) -> pd.DataFrame:
        """Rows validity (and, unless ``duplicates`` is False, dedup) removed, validity first."""
        frames = [f for f in (self.invalid(), self.duplicates() if duplicates else None) if f is not None and len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["id", "row", "reason"])

    def rows(self, columns: list[str] | None = None, scores: bool = True, kept: bool = False,
             duplicates: bool = True) -> pd.DataFrame:
        """Input rows as pandas (``messages`` as Python lists) joined with their scalar scores.

        Args:
            columns: the conversation columns to read; None: all.
            scores: join the scalar scores (a score column named like an input column gets ``_score``).
            kept: leave out what validity and (with ``duplicates``) dedup removed: the pool selection
                chooses from.
            duplicates: with ``kept``, leave out dedup's removals too.

        Returns:
            One row per input row, in input order.

        Raises:
            UserError: the run has no conversations yet.
            RunDirError: its conversations are damaged.
        """
        table = self.conversations_table(columns)
        df = table.drop_columns([c for c in ("messages",) if c in table.column_names]).to_pandas()
        if "messages" in table.column_names:
            df.insert(1, "messages", table.column("messages").to_pylist())
        if scores and self.scores_dir.is_dir():
            df = df.merge(self.scores(vectors=False), on="id", how="left", suffixes=("", "_score"))
        if kept:
            key = "row" if "row" in df.columns else "id"
            removed = self.removals(duplicates)
            by_key = removed[key].notna() if key in removed else pd.Series(False, index=removed.index)
            gone = set(removed.loc[by_key, key].tolist()) | set(removed.loc[~by_key, "id"].tolist())
            df = df[~df[key].isin(gone)].reset_index(drop=True)
        return df

    def pool(self, drop_duplicates: bool = True) -> pd.DataFrame:
        """The rows a run selects from: conversations + scalar scores, validity failures and (unless
        ``drop_duplicates`` is False) dedup removals dropped.

        Args:
            drop_duplicates: leave out dedup's removals.

        Returns:
            :meth:`rows` with ``kept=True``.

        Raises:
            UserError: the run has no conversations yet.
        """
        return self.rows(kept=True, duplicates=drop_duplicates)

    def subsets(self) -> list[str]:
        """Names of the written subsets (folders holding data.parquet or data.jsonl), less those the
        manifest lists as ``retired``: a subset the recipe renamed or dropped leaves its folder on disk
        (nothing is deleted), but it is no longer listed, trained or audited.

        Returns:
            The names, sorted.
        """
        if not self.subsets_dir.is_dir():
            return []
        retired = set(self.manifest().get("retired", []))
        return sorted(d.name for d in self.subsets_dir.iterdir() if d.is_dir() and d.name not in retired
                      and SubsetFiles(d).written())

    def retired_subsets(self, current: list[str]) -> list[str]:
        """The recipe subsets of earlier runs (the manifest's ``subsets`` and ``retired``) not in ``current``."""
        m = self.manifest()
        return sorted((set(m.get("subsets") or {}) | set(m.get("retired", []))) - set(current))

    def unretire(self, name: str) -> None:
        """A subset written again under a retired name (``curate select``) is listed again."""
        retired = self.manifest().get("retired", [])
        if name in retired:
            self.update_manifest(retired=[n for n in retired if n != name])

    def subset_meta(self, name: str) -> dict:
        """A written subset's ``meta.json`` (its spec, counts, fill and filter rules)."""
        path = self.subset_files(name).meta
        if not path.exists():
            have = ", ".join(self.subsets()) or "none"
            raise UserError(f"no subset {name!r} in {self.root} (subsets: {have})")
        return json.loads(path.read_text(encoding="utf-8"))

    def selections(self) -> dict[str, pd.DataFrame]:
        """Each listed subset's ``selection.parquet`` (id, reason, ...) by subset name."""
        names = set(self.subsets())
        return {p.parent.name: pq.read_table(p).to_pandas()
                for p in sorted(self.subsets_dir.glob("*/selection.parquet")) if p.parent.name in names}

    def models(self) -> dict[str, dict]:
        """Each trained variant's ``metrics.json`` by variant name."""
        return {p.parent.name: json.loads(p.read_text()) for p in sorted(self.models_dir.glob("*/metrics.json"))}

    def winrates(self) -> list[dict] | None:
        """The judged win rates (``eval/winrates.json``); an older ``{"winrates": [...]}`` file reads as its list.

        Returns:
            One dict per pair (variant, opponent, win_rate, ci_low, ...), or None when there are none.
        """
        rows = self._eval_json(self.eval_files.winrates)
        return rows.get("winrates") if isinstance(rows, dict) else rows

    def heldout(self) -> dict | None:
        """The held-out losses (``eval/heldout.json``: rows, losses per variant, ...), or None."""
        return self._eval_json(self.eval_files.heldout)

    def evaluation(self, name: str = "winrates.json") -> Any:
        """Deprecated: ``winrates()`` or ``heldout()``."""
        moved("RunDir.evaluation", "name", "RunDir.winrates() or RunDir.heldout()")
        return self._eval_json(self.eval_dir / name)

    @staticmethod
    def _eval_json(path: Path) -> Any:
        return json.loads(path.read_text()) if path.exists() else None

    def subset_ids(self, name: str) -> list[str]:
        """The ids of a written subset's rows, in its order (its ``data.parquet``)."""
        p = self.subset_files(name).data
        if not p.exists():
            raise UserError(f"subset {name!r} has no {p.name} in {self.subsets_dir}")
        return pq.read_table(p, columns=["id"]).column("id").to_pylist()

    @property
    def exports_path(self) -> Path:
        """Where each ``curate export`` of this run's variants went."""
        return self.root / "exports.json"

    def exports(self) -> list[dict]:
        """The recorded exports of this run's variants ({variant, path, card, ...}), oldest first."""
        return json.loads(self.exports_path.read_text()) if self.exports_path.exists() else []

    def record_export(self, entry: dict) -> None:
        """Add ``entry`` (with ``path``) to ``exports.json``, replacing an earlier export to the same path."""
        kept = [e for e in self.exports() if e.get("path") != entry.get("path")]
        write_json(self.exports_path, [*kept, entry])

    # --- resume markers -------------------------------------------------------------------
    def done(self, step: str, fp: str) -> dict | None:
        """The marker of ``step`` if it finished with fingerprint ``fp``, else None."""
        marker = self.marker_path(step)
        if not marker.exists():
            return None
        info = json.loads(marker.read_text())
        return info if info.get("fingerprint") == fp else None

    def mark_done(self, step: str, fp: str, **info: Any) -> None:
        """Mark ``step`` done with fingerprint ``fp`` and its ``info`` (counts), for :meth:`done`."""
        write_json(self.path("steps", f"{step}.json"), {"fingerprint": fp, **info})

    # --- manifest -------------------------------------------------------------------------
    def manifest(self) -> dict:
        """The manifest as a dict ({} before a run wrote one)."""
        return json.loads(self.manifest_path.read_text()) if self.manifest_path.exists() else {}

    def update_manifest(self, **fields: Any) -> dict:
        """Set ``fields`` in the manifest (atomic write); returns the new manifest."""
        m = self.manifest()
        m.update(fields)
        write_json(self.manifest_path, m)
        return m


def scores(run: str | os.PathLike, keys: list[str] | None = None) -> pd.DataFrame:
    """``curate.scores``: every score column of ``run`` joined on ``id`` (:meth:`RunDir.scores`).

    Args:
        run: the run directory.
        keys: score store keys or scorer names (a name means its newest key); None: every key, and the
            detector's ``junk_prob``, ``atypical`` and ``qa_margin``.

    Returns:
        One DataFrame with an ``id`` column and the score columns (vectors as numpy arrays); empty when
        the run has no scores.

    Raises:
        UserError: a key or scorer name the store does not have.
    """
    return RunDir(run).scores(keys)


def load_embeddings(
    run: str | os.PathLike, name: str = "embedding", column: str = "embedding"
) -> tuple[list[str], np.ndarray]:
    """``curate.load_embeddings``: a scorer's vectors from the run's score store (:meth:`RunDir.embeddings`).

    Args:
        run: the run directory.
        name: a scorer name (its newest key) or a score store key.
        column: the vector column.

    Returns:
        ``(ids, matrix)``: the ids of the rows with a vector and a float16 memmap, one row each (rows
        whose vector failed are left out).

    Raises:
        UserError: no scores for ``name``, or no ``column`` under it.
        ValueError: the stored vectors have different lengths.
    """
    return RunDir(run).embeddings(name, column)
