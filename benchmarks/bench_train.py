"""LoRA training speed on SmolLM2-135M-Instruct (CPU): tokens/s and peak memory of curate's training step
(TRL SFTTrainer with our assistant-only labels) next to a plain transformers ``Trainer`` + PEFT on the same
tokens, plus what a stock TRL ``SFTTrainer`` on a ``messages`` dataset does on this machine; optionally the
wall time of the demo's training (2 subsets x 20 steps).

    .venv/bin/python benchmarks/bench_train.py --rows 32 --steps 3 --max-length 256 [--demo]

Each contender runs in its own subprocess so its peak RSS (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def conversations(n: int) -> list[list[dict]]:
    from curate.loaders import load

    table = load("sharegpt-sample", limit=n * 3).table
    convs = [[{"role": m["role"], "content": m["content"]} for m in msgs] for msgs in table.column("messages").to_pylist()]
    return [c for c in convs if c[0]["role"] in ("user", "system")][:n]


def write_run(root: Path, subsets: dict[str, int], rows: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.rundir import RunDir
    from curate.schema import conversation_id

    convs = conversations(rows * len(subsets) + 16)  # 16 more rows only in data/: the held-out pool
    RunDir(root).write_conversations(pa.table({"id": [conversation_id(c) for c in convs], "messages": convs,
                                               "source": ["sharegpt"] * len(convs)}))
    for i, name in enumerate(subsets):
        part = convs[i * rows: (i + 1) * rows]
        d = root / "subsets" / name
        d.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"id": [conversation_id(c) for c in part], "messages": part,
                                 "source": ["sharegpt"] * len(part)}), d / "data.parquet")
    return root


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(kind: str, run: Path, steps: int, max_length: int, batch: int) -> dict:
    import torch

    torch.set_num_threads(1)
    from curate.models import resolve_model
    from curate.train.backends import Backend, load_model
    from curate.train.config import TrainConfig
    from curate.train.data import load_subset, tokenize_rows
    from curate.train.sft import fit

    cfg = TrainConfig(max_steps=steps, max_length=max_length, batch_size=batch, grad_accum=1, warmup_steps=0)
    path = resolve_model("smollm2")
    rows = load_subset(run / "subsets" / "a")
    if kind == "trl-default":  # what a user would write first: SFTTrainer on the messages column
        from datasets import Dataset
        from peft import LoraConfig
        from trl import SFTConfig, SFTTrainer

        ds = Dataset.from_dict({"messages": rows.messages})
        args = SFTConfig(output_dir=str(run / "w"), max_steps=steps, per_device_train_batch_size=batch,
                         max_length=max_length, report_to="none", save_strategy="no", bf16=False, use_cpu=True)
        try:
            t = time.perf_counter()
            SFTTrainer(model=path, args=args, train_dataset=ds,
                       peft_config=LoraConfig(r=16, lora_alpha=16, target_modules=cfg.target_modules)).train()
            return {"seconds": time.perf_counter() - t, "peak_mb": peak_mb()}
        except Exception as e:  # the failure is the measurement
            return {"error": f"{type(e).__name__}: {str(e)[:120]}"}
    model, tok, _ = load_model(Backend("trl", "bench"), path, cfg)
    ds, _ = tokenize_rows(tok, rows.messages, max_length)
    if kind == "curate":
        res = fit(model, tok, ds, None, cfg, Backend("trl", "bench"), run / "w")
        return {"tokens": res.tokens, "seconds": res.seconds, "peak_mb": peak_mb()}
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    seen = {"tokens": 0}
    base = DataCollatorForSeq2Seq(tok, label_pad_token_id=-100)

    def collate(feats):
        out = base(feats)
        seen["tokens"] += int(out["attention_mask"].sum())
        return out

    args = TrainingArguments(output_dir=str(run / "w"), max_steps=steps, per_device_train_batch_size=batch,
                             learning_rate=2e-4, warmup_steps=0, report_to="none", save_strategy="no",
                             use_cpu=True, dataloader_num_workers=0, seed=cfg.seed, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collate)
    t = time.perf_counter()
    trainer.train()
    return {"tokens": seen["tokens"], "seconds": time.perf_counter() - t, "peak_mb": peak_mb()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--demo", action="store_true",
                    help="also time the demo: train 2 subsets x 20 steps, then evaluate 8 prompts")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--run", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, Path(a.run), a.steps, a.max_length, a.batch)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
    run = write_run(tmp, {"a": a.rows, "random": a.rows}, a.rows)
    results = {}
    for kind in ("curate", "transformers+peft", "trl-default"):
        cmd = [sys.executable, __file__, "--worker", kind, "--run", str(run), "--steps", str(a.steps),
               "--max-length", str(a.max_length), "--batch", str(a.batch)]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        last = [x for x in out.stdout.splitlines() if x.startswith("{")]
        results[kind] = json.loads(last[-1]) if last else {"error": out.stderr.strip().splitlines()[-1:]}
        r = results[kind]
        if "tokens" in r:
            r["tokens_per_s"] = r["tokens"] / r["seconds"]
            print(f"{kind:18s} {r['tokens_per_s']:8.1f} tokens/s  {r['seconds']:6.1f} s  peak RSS {r['peak_mb']:.0f} MB")
        else:
            print(f"{kind:18s} {r}")
    c, h = results["curate"], results["transformers+peft"]
    if "tokens_per_s" in c and "tokens_per_s" in h:
        print(f"ratio curate / transformers+peft tokens/s: {c['tokens_per_s'] / h['tokens_per_s']:.2f}x")
    if a.demo:
        import torch

        torch.set_num_threads(1)  # 2 threads on a shared 2-core machine oversubscribe badly
        from curate.train.matrix import train_run

        t = time.perf_counter()
        train_run(run, model="smollm2", max_steps=20, batch_size=1, grad_accum=1, max_length=128, eval_steps=10)
        print(f"demo training (2 subsets x 20 steps, batch 1, max_length 128): {time.perf_counter() - t:.0f} s")
        from curate.train.evaluate import evaluate_run

        t = time.perf_counter()
        res = evaluate_run(run, judge="lm:smollm2", n_prompts=8, max_new_tokens=64, heldout_rows=16)
        print(f"demo evaluation (3 variants x 8 prompts x 64 new tokens, lm:smollm2 judge, 16 held-out rows): "
              f"{time.perf_counter() - t:.0f} s")
        print((Path(res["dir"]) / "results.md").read_text())


if __name__ == "__main__":
    main()
