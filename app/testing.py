"""Build a small fake run directory (adapters, data, dedup, subsets, eval win rates) from any causal
LM folder, for the app's tests and for trying the app without training anything."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from curate.rundir import write_json, write_parquet
from curate.store import ScoreStore


def make_adapter(base_dir: str | Path, out_dir: str | Path, seed: int = 0) -> Path:
    """Save a random (non-identity) LoRA adapter for ``base_dir`` into ``out_dir``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, cfg).save_pretrained(out_dir)
    return Path(out_dir)


def _conversations(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        rows.append({
            "id": f"id{i:03d}",
            "messages": [{"role": "user", "content": f"How do I sort {i} numbers in Python?"},
                         {"role": "assistant", "content": f"Use sorted() on the {i} numbers."}],
            "source": "alpha" if i % 2 else "beta",
            "row": i,
        })
    return rows


def make_fake_run(root: str | Path, base_model: str | Path, adapters: tuple[str, ...] = ("quality", "random"),
                  n_rows: int = 20) -> Path:
    """A run folder shaped like ``curate run`` + training + evaluation output, small and fast."""
    run = Path(root)
    for i, name in enumerate(adapters):
        make_adapter(base_model, run / "models" / name / "adapter", seed=i + 1)
        write_json(run / "models" / name / "metrics.json",
                   {"variant": name, "subset": name, "rows": 10 + i, "base_model": str(base_model)})
    rows = _conversations(n_rows)
    write_parquet(run / "data" / "conversations.parquet", pa.Table.from_pylist(rows))
    store = ScoreStore(run)
    store.write_meta("heuristics-test", {"name": "heuristics"})
    store.append("heuristics-test", pa.table({"id": [r["id"] for r in rows],
                                              "assistant_chars": [20.0 + i for i in range(n_rows)],
                                              "ifd": [0.5 + i / 100 for i in range(n_rows)]}))
    removed = {"exact_duplicate": 2, "near_duplicate": 1}
    write_json(run / "manifest.json", {"counts": {"read": n_rows + 4, "kept": n_rows - 3,
                                                  "removed": removed, "quarantined": 1}})
    write_parquet(run / "dedup" / "exact.parquet", pa.Table.from_pylist([
        {"id": "id001", "row": 1, "method": "exact", "duplicate_of": "id000", "similarity": 1.0},
        {"id": "id003", "row": 3, "method": "exact", "duplicate_of": "id000", "similarity": 1.0},
    ]))
    write_parquet(run / "dedup" / "near.parquet", pa.Table.from_pylist([
        {"id": "id005", "row": 5, "method": "near", "duplicate_of": "id004", "similarity": 0.91},
    ]))
    for name in adapters:
        write_parquet(run / "subsets" / name / "selection.parquet", pa.Table.from_pylist([
            {"id": f"id{i:03d}", "reason": f"{name}: rank {i}"} for i in range(6, 12)
        ]))
    if adapters:
        a = adapters[0]
        write_json(run / "eval" / "winrates.json", [
            {"variant": a, "opponent": "base", "judge": "tiny-reward", "n": 10, "wins": 7, "losses": 2,
             "ties": 1, "win_rate": 0.75, "ci_low": 0.5, "ci_high": 0.95, "mean_tokens": 42.0},
            {"variant": a, "opponent": "random", "judge": "tiny-reward", "n": 10, "wins": 4, "losses": 5,
             "ties": 1, "win_rate": 0.45, "ci_low": 0.15, "ci_high": 0.75, "mean_tokens": 42.0},
        ])
        write_json(run / "eval" / "heldout.json", {"rows": 8, "max_length": 256, "losses": [
            {"variant": v, "loss": 2.5 - 0.1 * i, "perplexity": 12.18, "tokens": 400}
            for i, v in enumerate(("base", *adapters))]})
    (run / "report").mkdir(parents=True, exist_ok=True)
    (run / "report" / "report.html").write_text("<html><body><h1>Run report</h1></body></html>")
    (run / "quarantine.jsonl").write_text(json.dumps({"row": 99, "source": "x", "reason": "no_messages"}) + "\n")
    return run
