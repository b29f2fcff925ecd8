"""`curate demo`: the offline end-to-end job on shipped data and models.

curate the bundled ShareGPT sample (recipes/demo.yaml) -> LoRA-train SmolLM2 on two subsets ->
evaluate them against each other and the base model -> export the best variant (merged model, card,
GGUF q8_0, chat app) beside the run -> print where everything is.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from curate.cli._args import add_limit, add_prompts, add_run_dir, deprecated


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="offline demo: curate the ShareGPT sample, train, evaluate",
                       description="Run recipes/demo.yaml, LoRA-train its `train.subsets`, evaluate them.")
    add_run_dir(p, "run directory (default runs/demo)", old=("--out",))
    add_limit(p, "input records to read (default from the recipe)", type=int)  # the recipe checks it
    p.add_argument("--no-train", action="store_true", help="stop after curation")
    p.add_argument("--max-steps", type=int, metavar="N", help="training steps per subset (default from the recipe)")
    deprecated(p, "--steps", new="--max-steps", dest="max_steps", type=int)
    add_prompts(p, default="the recipe's train.evaluate (the shipped 22 prompts, first 4)")
    p.add_argument("--no-export", action="store_true",
                   help="do not export the best variant (default: RUN_DIR-export/<variant>, GGUF q8_0 + chat app)")
    p.set_defaults(func=main)


def recipe_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The demo recipe's keys the options set, validated with the recipe (`curate.recipe.parse`)."""
    keys = {"input.limit": args.limit, "run_dir": args.run_dir, "train.max_steps": args.max_steps,
            "train.evaluate.prompts": args.prompts, "train.evaluate.n_prompts": args.n_prompts}
    return {k: v for k, v in keys.items() if v is not None}


def main(args: argparse.Namespace) -> int:
    from curate.pipeline import run
    from curate.recipe import parse, recipes_dir
    from curate.rundir import RunDir

    t0 = time.perf_counter()
    recipe = parse(recipes_dir() / "demo.yaml", overrides=recipe_overrides(args))
    summary = run(recipe)
    print(summary.table())
    run_dir = summary.run_dir
    rd = RunDir(run_dir)
    if not args.no_train and recipe.train:
        import torch

        from curate.train.evaluate import evaluate_run
        from curate.train.matrix import train_run

        torch.set_num_threads(1)  # faster than 2 threads for a 135M model on 2 cores
        settings = recipe.train.settings()
        print("\n[curate] training (smoke-scale: a few LoRA steps of SmolLM2-135M on CPU)", flush=True)
        results = train_run(run_dir, subsets=recipe.train.subsets, **settings)
        cols = [c for c in ("variant", "rows", "steps", "train_loss", "eval_loss", "train_seconds") if c in results]
        print(results[cols].to_string(index=False))
        print("\n[curate] evaluating (smoke-scale: SmolLM2 judges SmolLM2; near a coin flip)", flush=True)
        evaluate_run(run_dir, recipe.train.evaluate)
        print(rd.eval_files.results.read_text())
    exported = _export_best(run_dir) if not args.no_train and recipe.train and not args.no_export else None
    minutes = (time.perf_counter() - t0) / 60
    print(f"\ndone in {minutes:.1f} min. Results in {run_dir}/:")
    print(f"  report      {rd.report_path}")
    print(f"  subsets     {rd.subset_files('<name>').jsonl}  (ShareGPT, ready for Unsloth/TRL)")
    if not args.no_train and recipe.train:
        print(f"  models      {rd.model_dir('<variant>')}/  (LoRA adapters, loss curves)")
        print(f"  evaluation  {rd.eval_files.results}")
    if exported is not None:
        print(f"  export      {exported.path}/  (merged model, README.md model card, GGUF, app/)")
    print(f"Compare the variants in the browser:  curate app {run_dir}")
    if exported is not None:
        print(f"Chat with the exported model:         cd {exported.path}/app && streamlit run app.py")
    return 0


def _export_best(run_dir: Path) -> Any:
    """Export the run's best variant beside the run (replacing the demo's earlier export)."""
    from curate.exporting import describe, export
    from curate.exporting.best import best_variant
    from curate.rundir import RunDir

    best = best_variant(RunDir(run_dir))
    if best is None:
        return None
    name, why = best
    to = Path(f"{run_dir}-export") / name
    print(f"\n[curate] exporting {name} ({why}): curate export {run_dir} {name} --to {to} --gguf q8_0 --app",
          flush=True)
    result = export(run_dir, name, to, gguf="q8_0", app=True, force=True)
    print(describe(result))
    return result
