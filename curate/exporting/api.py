"""``curate.export(run_dir, variant, to)``: ship one trained variant as a merged model folder with its
card and lineage, GGUF files and a deploy app on request, optionally pushed to the hub.

Everything is written into a temporary folder beside ``to`` and renamed into place at the end, so a
failed or interrupted export leaves nothing half-written; the run records the export
(``RunDir.record_export``) so its report links the card.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import UserError
from curate.exporting import checks
from curate.exporting.gguf_file import parse_types
from curate.rundir import RunDir

log = logging.getLogger("curate.export")


@dataclass
class Exported:
    """Where an export went and what it measured.

    Attributes:
        path: the export folder.
        variant: the variant exported.
        files: what was written: ``model`` (bytes, dtype), ``gguf`` (file name -> bytes), ``app``.
        seconds: seconds per phase (merge, each GGUF type, card, total).
        hub_url: the hub repo's URL after ``push_to_hub``; else None.
    """

    path: Path
    variant: str
    files: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    hub_url: str | None = None

    @property
    def card(self) -> Path:
        """The model card (``README.md``)."""
        return self.path / "README.md"


def _write_gguf(tmp: Path, kinds: list[str], variant: str, seconds: dict) -> dict[str, int]:
    from curate.exporting.gguf_file import write_gguf

    out = {}
    for kind in kinds:
        start = time.perf_counter()
        path = write_gguf(tmp, tmp / f"model-{kind}.gguf", kind, name=variant)
        seconds[f"gguf_{kind}"] = round(time.perf_counter() - start, 2)
        out[path.name] = path.stat().st_size
    return out


def _write_card(run: RunDir, variant: str, tmp: Path, files: dict, ids: bool) -> dict:
    """lineage.json, scores.png and README.md into ``tmp``; returns the lineage."""
    from curate.exporting import card, lineage, plot
    from curate.rundir import write_json, write_text

    facts = lineage.lineage(run, variant, ids=ids)
    pool, subset = lineage.score_frames(run, facts["training_rows"]["ids"] or run.subset_ids(facts["subset"]["name"]))
    png = plot.subset_vs_pool(pool, subset, list(facts["score_distributions"]), tmp / "scores.png",
                              f"{facts['subset']['name']}: subset vs pool")
    write_json(tmp / "lineage.json", {**facts, "files": files})
    write_text(tmp / "README.md", card.render(facts, files, png.name if png else None))
    return facts


def _swap_in(tmp: Path, to: Path) -> None:
    """Rename ``tmp`` to ``to``; an existing ``to`` (``force``) goes only once the new one is in place."""
    old = None
    if to.exists():
        old = to.with_name(f".{to.name}.replaced-{time.time_ns()}")
        to.rename(old)
    for path in (tmp, *tmp.rglob("*")):  # mkdtemp and atomic writes leave 0700/0600: an export is for sharing
        path.chmod(0o755 if path.is_dir() else 0o644)
    tmp.rename(to)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _build(run: RunDir, variant: str, adapter: Path, base_path: str, tmp: Path, kinds: list[str], app: bool,
           dtype: str, ids: bool) -> tuple[dict, dict]:
    from curate.exporting.merge import merge_variant

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    merged = merge_variant(base_path, adapter, tmp, dtype)
    seconds["merge"] = round(time.perf_counter() - start, 2)
    files: dict[str, Any] = {"model": merged, "gguf": _write_gguf(tmp, kinds, variant, seconds), "app": app}
    start = time.perf_counter()
    facts = _write_card(run, variant, tmp, files, ids)
    seconds["card"] = round(time.perf_counter() - start, 2)
    if app:
        from curate.exporting.card import summary
        from curate.exporting.deploy import write_app

        write_app(tmp / "app", tmp, variant, summary(facts))
    return files, seconds


def export(run_dir: str | Path, variant: str, to: str | Path, gguf: str | list[str] | None = None,
           app: bool = False, push_to_hub: str | None = None, force: bool = False, ids: bool = True,
           dtype: str = "float32", token: str | None = None) -> Exported:
    """Export ``variant`` of the run in ``run_dir`` to the folder ``to``.

    Args:
        run_dir: a run with trained models (``RUN/models/<variant>/adapter``).
        variant: the variant to ship (``curate export RUN X`` lists the trained ones when it is wrong).
        to: the folder to create: merged model (safetensors, tokenizer, chat template), README.md (model
            card), lineage.json, scores.png; ``model-<type>.gguf`` and ``app/`` on request.
        gguf: GGUF types to write, ``"q8_0,f16"`` or a list (``f32``, ``f16``, ``bf16``, ``q8_0``).
        app: write ``app/``, a Streamlit chat serving the model on CPU (a Hugging Face Space folder).
        push_to_hub: upload the folder to this hub model repo after writing it.
        force: replace ``to`` if it exists.
        ids: list the training rows' ids in lineage.json (else only their count and sha256).
        dtype: the merged weights' dtype, ``float32`` (default) or ``bfloat16``.
        token: hub token for ``push_to_hub`` (default ``HF_TOKEN`` or the saved login).

    Returns:
        :class:`Exported` (path, files with sizes, seconds per phase, hub URL).

    Raises:
        UserError: unknown variant, no trained models, an unknown ``dtype`` or GGUF type, ``to`` exists,
            too little disk, a model GGUF cannot hold, or a failed push (the export is complete then).
    """
    from curate.exporting.merge import DTYPE_BYTES, estimate_bytes
    from curate.models import resolve_model

    run, to = RunDir(run_dir), Path(to).expanduser().resolve()
    metrics, adapter = checks.trained_variant(run, variant)
    kinds = parse_types(gguf)
    checks.output_folder(to, force, run)
    if dtype not in DTYPE_BYTES:
        raise UserError(f"unknown dtype {dtype!r}; use float32 or bfloat16")
    base_path = resolve_model(metrics.get("base_model") or "smollm2")
    checks.disk_space(to.parent, checks.needed_bytes(estimate_bytes(base_path, dtype), DTYPE_BYTES[dtype], kinds))
    to.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=to.parent, prefix=f".{to.name}.export-"))
    start = time.perf_counter()
    try:
        files, seconds = _build(run, variant, adapter, base_path, tmp, kinds, app, dtype, ids)
        _swap_in(tmp, to)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds["total"] = round(time.perf_counter() - start, 2)
    result = Exported(to, variant, files, seconds)
    run.record_export({"variant": variant, "path": str(to), "card": str(result.card), "dtype": dtype,
                       "gguf": list(files["gguf"]), "app": app, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                       "seconds": seconds})
    _refresh_report(run)
    if push_to_hub:
        from curate.exporting.hub import push

        result.hub_url = push(to, push_to_hub, token=token)
    log.info("exported %s to %s in %.1f s", variant, to, seconds["total"])
    return result


def _refresh_report(run: RunDir) -> None:
    """Rebuild the run's report (when it has one) so it links the new card; a failure only warns."""
    if not run.report_path.exists():
        return
    from curate.reporting import report

    try:
        report(run.root)
    except Exception as e:  # the export is complete; the report can be rebuilt with `curate report`
        log.warning("export done, but rebuilding %s failed: %s", run.report_path, e)


def describe(result: Exported) -> str:
    """A few lines saying what an export wrote (the CLI prints them)."""
    lines = [f"exported {result.variant} to {result.path} in {result.seconds.get('total', 0):.1f} s"]
    model = result.files.get("model") or {}
    lines.append(f"  merged model  {model.get('bytes', 0) / 1e6:.1f} MB ({model.get('dtype')}, safetensors)")
    for name, size in (result.files.get("gguf") or {}).items():
        lines.append(f"  {name:<13} {size / 1e6:.1f} MB")
    lines.append(f"  card          {result.card}")
    if result.files.get("app"):
        lines.append(f"  chat app      cd {result.path / 'app'} && streamlit run app.py")
    if result.hub_url:
        lines.append(f"  pushed        {result.hub_url}")
    return "\n".join(lines)


def read_lineage(folder: str | Path) -> dict:
    """An export folder's ``lineage.json``."""
    return json.loads((Path(folder) / "lineage.json").read_text(encoding="utf-8"))
