"""Does the recipe's subset train a better model than random rows at the same budget?

Pool: the first ``pool`` well-formed ShareGPT-sample conversations from row ``offset`` on, with 30%
planted corruption (curate.auditing.plant). Held-out: later clean conversations, minus any whose prompt or near copy is in
the pool. SmolLM2-135M LoRA on CPU, every variant at the same steps, batch, length and learning rate:

- ``recipe``: the named subset of ``--recipe`` run on the pool (its scorers, validity, dedup, filter, rank)
- ``random``: the same number of rows drawn at random from the pool (a new draw per seed)
- ``whole``: the whole pool
- ``oracle``: the same number of rows drawn from the clean rows only (an upper bound)
- ``heuristics``: optional, the recipe's subset with only its no-model filters (which lever matters)

Each (variant, seed) trains in its own process (torch on 1 thread, ``--parallel`` at once) and writes
``OUT/results/<variant>-s<seed>.json`` as it finishes, so a run cut short still yields numbers;
``OUT/summary.json`` and ``OUT/curation.png`` are rebuilt after every job. The recipe's subset is
computed when its first job starts (``curate run`` in a subprocess), from the recipe file as it is then,
with only the no-model scorers unless ``--model-scorers`` (the shipped quality subset reads only theirs).

    .venv/bin/python benchmarks/bench_curation.py --out runs/bench-curation --seeds 3 --steps 80
    .venv/bin/python benchmarks/bench_curation.py --out runs/bench-curation --summary   # tables only
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = ("recipe", "random", "whole", "oracle", "heuristics")
CHEAP = ("heuristics", "consistency")  # scorers without a model


def _convs(table) -> list[list[dict]]:
    return [[{"role": m["role"], "content": m["content"]} for m in msgs] for msgs in table.column("messages").to_pylist()]


def _write_jsonl(path: Path, convs: list[list[dict]]) -> None:
    from curate.rundir import write_jsonl
    from curate.schema import conversation_id

    write_jsonl(path, ({"id": conversation_id(c), "messages": c} for c in convs))


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def prepare(args: argparse.Namespace, out: Path) -> None:
    """Pool (planted), labels and the held-out set, once; later calls reuse them."""
    if (out / "heldout.jsonl").exists():
        return
    import pyarrow as pa

    from curate import dedup, load
    from curate.auditing.plant import plant
    from curate.rundir import write_parquet
    from curate.schema import instruction_text
    from curate.scorers.heuristics import heuristics

    # Well-formed conversations only (user first, roles alternate): a third of ShareGPT is not, and the
    # recipe's validity step would drop those whatever was planted, leaving it short of the budget.
    convs = [c for c in _convs(load("sharegpt-sample", limit=args.offset + 2 * (args.pool + args.heldout * 6)).table)[args.offset:]
             if heuristics(c)["role_order_ok"]]
    pool = plant(convs[: args.pool], rate=args.rate, seed=0)
    _write_jsonl(out / "pool.jsonl", pool.conversations)
    write_parquet(out / "labels.parquet", pa.Table.from_pandas(pool.labels, preserve_index=False))
    key = lambda c: " ".join(instruction_text(c).lower().split())  # noqa: E731
    prompts = {key(c) for c in pool.conversations}
    cands = [c for c in convs[args.pool:] if c[-1]["role"] == "assistant" and key(c) not in prompts]
    from curate.loaders import to_table
    from curate.schema import conversation_id

    def table(cs: list[list[dict]]):
        return to_table([{"id": conversation_id(c), "messages": c, "row": i} for i, c in enumerate(cs)])
    kept = dedup(table(cands), methods=["exact", "near"], against=table(pool.conversations), progress=False).keep_mask
    held = [c for c, k in zip(cands, kept, strict=True) if k][: args.heldout]
    _write_jsonl(out / "heldout.jsonl", held)


def _subset_rows(args: argparse.Namespace, out: Path, variant: str, seed: int) -> list[dict]:
    import pandas as pd

    pool = _read_jsonl(out / "pool.jsonl")
    labels = pd.read_parquet(out / "labels.parquet")
    budget = round(args.budget * len(pool))
    rng = random.Random(f"{variant}:{seed}")
    if variant == "whole":
        return pool
    if variant == "random":
        return rng.sample(pool, budget)
    if variant == "oracle":
        clean = [r for r, k in zip(pool, labels["kind"], strict=True) if not k]
        return rng.sample(clean, min(budget, len(clean)))
    return _recipe_subset(args, out, variant, budget)


def _recipe_subset(args: argparse.Namespace, out: Path, variant: str, budget: int) -> list[dict]:
    """The recipe's subset on the pool (``heuristics``: its no-model filters, random order)."""
    import pyarrow.parquet as pq
    import yaml

    run = out / f"run-{variant}"
    data = run / "subsets" / args.subset / "data.parquet"
    if not data.exists():
        recipe = yaml.safe_load(Path(args.recipe).read_text())
        if variant == "heuristics" or not args.model_scorers:  # model scores (and rank terms on them): skipped unless asked for
            from bench_audit import without_models

            recipe = without_models(recipe)
        spec = next(s for s in recipe["subsets"] if s["name"] == args.subset)
        spec = {**spec, "budget": {"rows": budget}}
        if variant == "heuristics":
            spec = {"name": args.subset, "filter": args.heuristics_filter, "baseline": "random", "budget": {"rows": budget}}
        # its own name and run directory: the recipe's run_dir (runs/demo) holds the real demo run
        recipe.update(name=f"bench-{variant}", input={"source": str(out / "pool.jsonl"), "format": "messages"},
                      run_dir=str(run), subsets=[spec])
        recipe.pop("output", None)
        recipe.pop("train", None)
        (out / f"recipe-{variant}.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
        subprocess.run([sys.executable, "-m", "curate", "run", str(out / f"recipe-{variant}.yaml")], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    table = pq.read_table(data, columns=["id", "messages"])
    return [{"id": i, "messages": _convs_one(m)} for i, m in zip(table.column("id").to_pylist(),
                                                                 table.column("messages").to_pylist(), strict=True)]


def _convs_one(msgs: list[dict]) -> list[dict]:
    return [{"role": m["role"], "content": m["content"]} for m in msgs]


def job(args: argparse.Namespace, out: Path, variant: str, seed: int) -> None:
    """Train one (variant, seed) and measure its held-out loss; writes results/<variant>-s<seed>.json."""
    import pandas as pd
    import pyarrow as pa
    import torch

    from curate.rundir import write_json, write_parquet
    from curate.train.config import TrainConfig
    from curate.train.heldout import heldout_losses
    from curate.train.sft import train_variant

    torch.set_num_threads(1)
    wall, cpu = time.time(), time.process_time()
    name = f"{variant}-s{seed}"
    held = [r["messages"] for r in _read_jsonl(out / "heldout.jsonl")][: args.heldout]
    if variant == "base":
        v = type("V", (), {"name": "base", "adapter": None, "base_model": args.model})
        res = {"variant": "base", "seed": seed, **heldout_losses([v], held, max_length=args.max_length)[0]}
        write_json(out / "results" / f"{name}.json", res)
        return
    rows = _subset_rows(args, out, variant, seed)
    labels = pd.read_parquet(out / "labels.parquet").set_index("id")["kind"]
    kinds = [labels.get(r["id"], "") for r in rows]
    subset = out / "subsets" / name
    write_parquet(subset / "data.parquet", pa.table({"id": [r["id"] for r in rows],
                                                     "messages": [r["messages"] for r in rows]}))
    cfg = TrainConfig(max_steps=args.steps, batch_size=1, grad_accum=1, max_length=args.max_length,
                      val_fraction=0.0, seed=seed, warmup_steps=min(5, args.steps), learning_rate=args.lr,
                      model=args.model)
    metrics = train_variant(subset, out / "models" / name, cfg, variant=name)
    v = type("V", (), {"name": name, "adapter": out / "models" / name / "adapter", "base_model": args.model})
    loss = heldout_losses([v], held, max_length=args.max_length)[0]
    write_json(out / "results" / f"{name}.json", {
        "variant": variant, "seed": seed, "rows": len(rows), "planted": sum(bool(k) for k in kinds),
        "planted_share": round(sum(bool(k) for k in kinds) / max(len(rows), 1), 4),
        "loss": loss["loss"], "tokens": loss["tokens"], "train_loss": metrics["train_loss"],
        "train_seconds": metrics["train_seconds"], "wall_s": round(time.time() - wall, 1),
        "cpu_s": round(time.process_time() - cpu, 1)})


def summarize(out: Path) -> dict:
    """Mean and 95% t-interval over seeds per variant, the gap recipe closes, a plot."""
    import numpy as np
    from scipy import stats

    res = [json.loads(p.read_text()) for p in sorted((out / "results").glob("*.json"))]
    by: dict[str, list[dict]] = {}
    for r in res:
        by.setdefault(r["variant"], []).append(r)
    table = {}
    for v, rs in by.items():
        x = np.array([r["loss"] for r in rs])
        half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")
        table[v] = {"seeds": len(x), "mean": float(x.mean()), "ci95": [float(x.mean() - half), float(x.mean() + half)],
                    "losses": x.tolist(), "planted_share": float(np.mean([r.get("planted_share", 0) for r in rs])),
                    "rows": rs[0].get("rows"), "wall_s_mean": float(np.mean([r.get("wall_s", 0) for r in rs]))}
    summary = {"variants": table, "paired_vs_random": _paired(by), "load": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "settings": json.loads((out / "settings.json").read_text()) if (out / "settings.json").exists() else {}}
    if {"recipe", "random", "oracle"} <= table.keys():
        rc, rd, orc = (table[k]["mean"] for k in ("recipe", "random", "oracle"))
        summary["gap_closed"] = (rd - rc) / (rd - orc) if rd != orc else None
        lo, hi = table["recipe"]["ci95"]
        summary["recipe_ci_excludes_random_mean"] = None if lo != lo else not lo <= rd <= hi  # None: one seed, no CI
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _plot(table, out / "curation.png")
    return summary


def _paired(by: dict[str, list[dict]]) -> dict:
    """Per variant: loss minus random's at the same seed (same LoRA init and data order), mean and 95% CI."""
    import numpy as np
    from scipy import stats

    rand = {r["seed"]: r["loss"] for r in by.get("random", [])}
    out = {}
    for v, rs in by.items():
        d = np.array([r["loss"] - rand[r["seed"]] for r in rs if r["seed"] in rand and v not in ("random", "base")])
        if len(d) > 1:
            half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
            out[v] = {"seeds": len(d), "mean": float(d.mean()), "ci95": [float(d.mean() - half), float(d.mean() + half)]}
    return out


def _plot(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [v for v in ("base", *VARIANTS) if v in table]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for i, v in enumerate(names):
        t = table[v]
        ax.scatter([i] * len(t["losses"]), t["losses"], color="0.6", s=12, zorder=2)
        if t["seeds"] > 1:
            ax.errorbar(i, t["mean"], yerr=[[t["mean"] - t["ci95"][0]], [t["ci95"][1] - t["mean"]]], fmt="o",
                        color="C0", capsize=4, zorder=3)
        else:
            ax.scatter(i, t["mean"], color="C0", zorder=3)
    ax.set_xticks(range(len(names)), [f"{v}\n{table[v]['planted_share']:.0%} planted" for v in names], fontsize=8)
    ax.set_ylabel("held-out loss (assistant tokens)")
    ax.set_title("LoRA on each subset: mean and 95% CI over seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _alive(marker: Path) -> bool:
    """A ``.running`` marker whose process still exists."""
    try:
        os.kill(int(marker.read_text()), 0)
        return True
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False


def orchestrate(args: argparse.Namespace, out: Path) -> None:
    prepare(args, out)
    (out / "settings.json").write_text(json.dumps(vars(args), indent=2, default=str) + "\n")
    variants = [v for v in args.variants.split(",") if v]
    seeds = range(args.seeds)
    # The comparison that matters first (recipe, random, oracle), seed by seed, so a run cut short
    # still has it; then the whole pool, the optional variant and the base model.
    core = [v for v in ("recipe", "random", "oracle") if v in variants]
    order = [(v, s) for s in seeds for v in core] + [(v, s) for v in variants if v not in core for s in seeds]
    order.append(("base", 0))
    todo = [(v, s) for v, s in order if not (out / "results" / f"{v}-s{s}.json").exists()
            and not _alive(out / "results" / f"{v}-s{s}.running")]  # another orchestrator's job still runs
    running: list[tuple[subprocess.Popen, str]] = []
    t0 = time.time()
    while todo or running:  # (jobs started by an earlier orchestrator count against --parallel)
        mine = {n for _, n in running}
        elsewhere = [m.stem for m in (out / "results").glob("*.running") if m.stem not in mine and _alive(m)]
        computing = {n.split("-s")[0] for n in (*mine, *elsewhere)}  # one process computes a recipe's subset
        ready = [(v, s) for v, s in todo if v not in computing or v not in ("recipe", "heuristics")
                 or (out / f"run-{v}" / "subsets" / args.subset / "data.parquet").exists()]
        for v, s in ready[: max(0, args.parallel - len(running) - len(elsewhere))]:
            todo.remove((v, s))
            log = open(out / "logs" / f"{v}-s{s}.log", "w")  # noqa: SIM115 (closed with the process)
            cmd = [sys.executable, __file__, "--job", v, str(s), *sys.argv[1:], "--out", str(out)]
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
            (out / "results" / f"{v}-s{s}.running").write_text(str(proc.pid))
            running.append((proc, f"{v}-s{s}"))
            print(f"[{time.time() - t0:6.0f}s] start {v}-s{s}", flush=True)
        time.sleep(args.poll)
        for p, name in list(running):
            if p.poll() is not None:
                running.remove((p, name))
                (out / "results" / f"{name}.running").unlink(missing_ok=True)
                print(f"[{time.time() - t0:6.0f}s] done {name} rc={p.returncode}", flush=True)
                summarize(out)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    s = summarize(out)
    s["wall_s"], s["cpu_s_children"] = round(time.time() - t0, 1), round(usage.ru_utime + usage.ru_stime, 1)
    (out / "summary.json").write_text(json.dumps(s, indent=2) + "\n")
    print(json.dumps(s, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/bench-curation")
    ap.add_argument("--recipe", default=str(ROOT / "recipes" / "demo.yaml"))
    ap.add_argument("--subset", default="quality")
    ap.add_argument("--heuristics-filter", default="not lang_mismatch and mojibake_rate == 0 and restate_overlap < 0.5"
                    " and not open_end and not refusal and dup_ngram_frac < 0.3")
    ap.add_argument("--variants", default="recipe,random,whole,oracle")
    ap.add_argument("--pool", type=int, default=400, help="pool rows (30%% planted)")
    ap.add_argument("--offset", type=int, default=2000, help="first ShareGPT-sample row of the pool")
    ap.add_argument("--heldout", type=int, default=32, help="held-out conversations (the first N of those prepared)")
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--budget", type=float, default=0.5, help="subset size as a share of the pool")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--max-length", type=int, default=192)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--model", default="smollm2", help="base model to LoRA-train (an alias, hub id or folder)")
    ap.add_argument("--poll", type=float, default=5.0, help="seconds between checks on the running jobs")
    ap.add_argument("--model-scorers", action="store_true",
                    help="run the recipe's model scorers and semantic dedup too (default: only the no-model scorers, "
                         "enough for a subset that reads only their columns; hours of CPU saved on a shared machine)")
    ap.add_argument("--summary", action="store_true", help="only rebuild summary.json and the plot")
    ap.add_argument("--job", nargs=2, metavar=("VARIANT", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    out = Path(args.out).resolve()  # the jobs and `curate run` work from the repository root
    (out / "logs").mkdir(parents=True, exist_ok=True)
    (out / "results").mkdir(parents=True, exist_ok=True)
    if args.job:
        job(args, out, args.job[0], int(args.job[1]))
    elif args.summary:
        print(json.dumps(summarize(out), indent=2))
    else:
        orchestrate(args, out)


if __name__ == "__main__":
    main()
