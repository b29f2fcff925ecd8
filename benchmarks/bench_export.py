"""`curate export` on a trained run: time per phase (merge, each GGUF type, card), file sizes, and the
exported model's time per token in the deploy app's generator (the merged model, no PEFT) against the run
app's (base model + the LoRA adapter switched on), both `train.generate.Generator.stream`, greedy, the
same prompts, torch at 1 thread (what both apps use on 2 cores).

    .venv/bin/python benchmarks/bench_export.py [--run runs/demo] [--variant NAME] [--gguf q8_0,f16]
        [--tokens 64] [--prompts 3] [--threads 1]
Prints a Markdown table, the load average before and after, and process CPU seconds.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

PROMPTS = ["Give me three tips for a good night's sleep, with a reason for each.",
           "Explain the difference between a list and a tuple in Python.",
           "Write a short story about a cat who learns to sail.",
           "What is the capital of Australia, and why is it not Sydney?"]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _ms_per_token(gen, name: str, prompts: list[str], tokens: int) -> tuple[float, int]:
    """Median ms per generated token over ``prompts`` (after one warm-up answer), and tokens made."""
    gen.generate(name, [{"role": "user", "content": "Hi"}], max_new_tokens=4, temperature=0)
    per, total = [], 0
    for p in prompts:
        start = time.perf_counter()
        n = sum(1 for _ in gen.stream(name, [{"role": "user", "content": p}], max_new_tokens=tokens, temperature=0))
        seconds = time.perf_counter() - start
        made = gen.last_stats.tokens if gen.last_stats else n
        per.append(1000 * seconds / max(made, 1))
        total += made
    return statistics.median(per), total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default="runs/demo")
    ap.add_argument("--variant", default=None)
    ap.add_argument("--gguf", default="q8_0,f16")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--prompts", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    import curate
    from curate.exporting.best import best_variant
    from curate.rundir import RunDir
    from curate.train.generate import Generator, Variant, list_variants

    torch.set_num_threads(args.threads)
    variant = args.variant or best_variant(RunDir(args.run))[0]
    print(f"load before: {os.getloadavg()}  variant {variant}  torch threads {args.threads}")
    to = Path(tempfile.mkdtemp(prefix="bench-export-")) / variant
    wall, cpu = time.perf_counter(), _cpu()
    out = curate.export(args.run, variant, to, gguf=args.gguf, app=True)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    print("| phase | seconds |\n|---|---:|")
    for phase, s in out.seconds.items():
        print(f"| {phase} | {s:.1f} |")
    print(f"| whole call (wall / process CPU) | {wall:.1f} / {cpu:.1f} |")
    print("\n| file | MB |\n|---|---:|")
    for f in sorted(p for p in to.iterdir() if p.is_file()):
        print(f"| {f.name} | {f.stat().st_size / 1e6:.1f} |")
    prompts = PROMPTS[:args.prompts]
    deploy = Generator([Variant(variant, str(to))], device="cpu")
    ms_deploy, n_deploy = _ms_per_token(deploy, variant, prompts, args.tokens)
    del deploy
    run_app = Generator([v for v in list_variants(args.run) if v.name in ("base", variant)], device="cpu")
    ms_run, n_run = _ms_per_token(run_app, variant, prompts, args.tokens)
    print(f"\n| app | ms/token (median of {len(prompts)} prompts) | tokens |\n|---|---:|---:|")
    print(f"| deploy app (merged, no PEFT) | {ms_deploy:.1f} | {n_deploy} |")
    print(f"| run app (base + LoRA adapter) | {ms_run:.1f} | {n_run} |")
    print(f"ratio run/deploy: {ms_run / ms_deploy:.2f}x   load after: {os.getloadavg()}")
    shutil.rmtree(to.parent, ignore_errors=True)  # the run's report leaves out exports that are gone


if __name__ == "__main__":
    main()
