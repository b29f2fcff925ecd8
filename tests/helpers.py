"""Builders shared by the tests: conversations, JSONL inputs, recipes and small fake run directories.

One copy of each, so a change in the input or run-directory format is made once. Fixtures that
need pytest (tiny models, temp paths) stay in conftest.py and call these.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curate.rundir import RunDir, write_json, write_parquet
from curate.schema import conversation_id


# --- conversations --------------------------------------------------------------------------------
def conv(user: str, assistant: str, system: str | None = None) -> list[dict]:
    """One exchange in the normalized ``messages`` shape (role / content)."""
    head = [{"role": "system", "content": system}] if system else []
    return head + [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def numbered_conv(i: int, topic: str = "sorting") -> list[dict]:
    """Conversation ``i`` of a family that differs only in the number (distinct ids, same length)."""
    return conv(f"Question {i} about {topic}: how do I do it well?",
                f"Answer {i}: for {topic}, start simple and test it. Done.")


def sharegpt(user: str, assistant: str, system: str | None = None) -> dict:
    """The same exchange as an input record in ShareGPT form (``conversations`` / from / value)."""
    turns = [{"from": "system", "value": system}] if system else []
    turns += [{"from": "human", "value": user}, {"from": "gpt", "value": assistant}]
    return {"conversations": turns}


# --- inputs and recipes ---------------------------------------------------------------------------
def write_jsonl(path: Path, rows: Iterable[dict | str | bytes]) -> Path:
    """One line per row: a dict as JSON, a str or bytes as written (for malformed lines)."""
    with open(path, "wb") as f:
        for r in rows:
            line = r if isinstance(r, bytes) else (r if isinstance(r, str) else json.dumps(r)).encode()
            f.write(line + b"\n")
    return path


def recipe(src: str | Path, out: str | Path, chunk_rows: int = 16, **over: Any) -> dict[str, Any]:
    """A small heuristics-only recipe on ``src`` into ``out``: exact + near dedup and two subsets;
    ``over`` replaces top-level keys."""
    r = {"name": "t", "input": {"source": str(src), "chunk_rows": chunk_rows}, "run_dir": str(out),
         "scorers": ["heuristics"], "validity": ["role_order", "template_leak"],
         "dedup": {"methods": ["exact", "near"], "keep": "longest", "near": {"threshold": 0.7}},
         "subsets": [{"name": "long", "rank": {"assistant_chars": 1.0}, "budget": 10, "filter": "turns <= 4"},
                     {"name": "random", "baseline": "random", "budget": 10}]}
    return r | over


def run_outputs(root: Path) -> dict[str, Any]:
    """Every data file of a run (parquet as rows, JSONL as text) except the score store: what two runs
    that should agree must hold byte for byte."""
    return {str(p.relative_to(root)): (pq.read_table(p).to_pylist() if p.suffix == ".parquet" else p.read_text())
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in (".jsonl", ".parquet") and "scores" not in p.parts}


# --- fake run directories -------------------------------------------------------------------------
def write_conversations(run: Path, convs: list[list[dict]], source: str | list[str] = "t",
                        ids: list[str] | None = None) -> None:
    """``run``'s conversations: ``convs`` (ids from the content unless given) as one shard."""
    RunDir(run).write_conversations(pa.table({
        "id": ids or [conversation_id(m) for m in convs], "messages": convs,
        "source": [source] * len(convs) if isinstance(source, str) else source, "row": np.arange(len(convs)),
    }))


def write_subset(run: Path, name: str, convs: list[list[dict]], source: str = "t") -> Path:
    """A subset folder ``run``/subsets/``name`` with data.parquet, as training reads it."""
    d = RunDir(run).subset_dir(name)
    pq.write_table(pa.table({"id": [conversation_id(m) for m in convs], "messages": convs,
                             "source": [source] * len(convs)}), d / "data.parquet")
    return d


def make_run(root: Path, subsets: dict[str, int], pool: int = 0) -> Path:
    """A run with ``subsets`` {name: rows} and ``pool`` extra conversations only in data/ (held out)."""
    run = root / "run"
    convs: list[list[dict]] = []
    for name, n in subsets.items():
        part = [numbered_conv(i) for i in range(len(convs), len(convs) + n)]
        write_subset(run, name, part)
        convs += part
    write_conversations(run, convs + [numbered_conv(i, "cooking") for i in range(1000, 1000 + pool)])
    return run


def scored_run(root: Path, n: int = 120, with_scores: bool = True) -> RunDir:
    """A curated run as `curate run` leaves it: conversations, scores, dedup removals, manifest counts
    and two subsets (for the report and selection)."""
    from curate.selection import select
    from curate.selection import write_subset as write_selection

    rng = np.random.default_rng(0)
    run = RunDir(root)
    messages = [conv(f"question number {i}?", "answer <b>&amp; " * int(rng.integers(1, 60))) for i in range(n)]
    ids = [f"id{i:03d}" for i in range(n)]
    source = list(rng.choice(["finetome", "tome-math"], n, p=[0.7, 0.3]))
    write_conversations(run.root, messages, source, ids)
    lengths = np.array([len(m[1]["content"]) for m in messages])
    reward = lengths / 100 + rng.normal(scale=0.5, size=n)
    if with_scores:
        store = run.score_store()
        store.append("heuristics-aaaa", pa.table({"id": ids, "assistant_chars": lengths, "turns": [2] * n,
                                                  "tokens": lengths // 4 + 5}))
        store.write_meta("heuristics-aaaa", {"name": "heuristics"})
        store.append("reward-bbbb", pa.table({"id": ids, "reward": reward}))
        store.write_meta("reward-bbbb", {"name": "reward"})
    dedup = pd.DataFrame({"id": ids[100:106], "row": range(100, 106), "method": ["exact"] * 3 + ["near"] * 3,
                          "duplicate_of": [ids[0], ids[0], ids[1], ids[2], ids[2], ids[3]],
                          "similarity": [1.0, 1.0, 1.0, 0.91, 0.88, 0.93]})
    for method, g in dedup.groupby("method"):
        write_parquet(run.dedup_dir / f"{method}.parquet", pa.Table.from_pandas(g, preserve_index=False))
    counts = {"read": n + 7, "quarantined": 7, "removed": {"duplicate:exact": 3, "duplicate:near": 3,
                                                           "empty_turn": 0}, "kept": n - 6}
    run.update_manifest(counts=counts, status="done", recipe={"name": "fake-recipe"})
    df = run.conversations_table().to_pandas()
    df["reward"], df["tokens"], df["assistant_chars"] = reward, lengths // 4 + 5, lengths
    for spec in ({"name": "quality", "rank": {"reward": 1}, "budget": 30},
                 {"name": "random", "baseline": "random", "budget": 30}):
        write_selection(select(df, spec), run.subset_dir(spec["name"]))
    return run


def trained_run(root: str | Path, base_model: str | Path, adapters: tuple[str, ...] = ("quality", "random"),
                n_rows: int = 20) -> Path:
    """A run shaped like ``curate run`` + training + evaluation output (random LoRA adapters on
    ``base_model``), small and fast: what the app reads."""
    from curate.app.testing import make_adapter

    run, out = Path(root), RunDir(root)
    for i, name in enumerate(adapters):
        make_adapter(base_model, out.model_dir(name) / "adapter", seed=i + 1)
        write_json(out.model_dir(name) / "metrics.json",
                   {"variant": name, "subset": name, "rows": 10 + i, "base_model": str(base_model)})
    write_conversations(run, [conv(f"How do I sort {i} numbers in Python?", f"Use sorted() on the {i} numbers.")
                              for i in range(n_rows)],
                        source=["alpha" if i % 2 else "beta" for i in range(n_rows)],
                        ids=[f"id{i:03d}" for i in range(n_rows)])
    store = out.score_store()
    store.write_meta("heuristics-test", {"name": "heuristics"})
    store.append("heuristics-test", pa.table({"id": [f"id{i:03d}" for i in range(n_rows)],
                                              "assistant_chars": [20.0 + i for i in range(n_rows)],
                                              "ifd": [0.5 + i / 100 for i in range(n_rows)]}))
    removed = {"exact_duplicate": 2, "near_duplicate": 1}
    write_json(out.manifest_path, {"counts": {"read": n_rows + 4, "kept": n_rows - 3,
                                                  "removed": removed, "quarantined": 1}})
    write_parquet(out.dedup_dir / "exact.parquet", pa.Table.from_pylist([
        {"id": "id001", "row": 1, "method": "exact", "duplicate_of": "id000", "similarity": 1.0},
        {"id": "id003", "row": 3, "method": "exact", "duplicate_of": "id000", "similarity": 1.0},
    ]))
    write_parquet(out.dedup_dir / "near.parquet", pa.Table.from_pylist([
        {"id": "id005", "row": 5, "method": "near", "duplicate_of": "id004", "similarity": 0.91},
    ]))
    for name in adapters:  # a written subset: its rows (data.jsonl) and why each was chosen
        write_parquet(out.subset_dir(name) / "selection.parquet", pa.Table.from_pylist([
            {"id": f"id{i:03d}", "reason": f"{name}: rank {i}"} for i in range(6, 12)
        ]))
        write_jsonl(out.subset_dir(name) / "data.jsonl", [{"id": f"id{i:03d}", "conversations": []} for i in range(6, 12)])
    if adapters:
        write_json(out.eval_dir / "winrates.json", [
            {"variant": adapters[0], "opponent": "base", "judge": "tiny-reward", "n": 10, "wins": 7, "losses": 2,
             "ties": 1, "win_rate": 0.75, "ci_low": 0.5, "ci_high": 0.95, "mean_tokens": 42.0},
            {"variant": adapters[0], "opponent": "random", "judge": "tiny-reward", "n": 10, "wins": 4, "losses": 5,
             "ties": 1, "win_rate": 0.45, "ci_low": 0.15, "ci_high": 0.75, "mean_tokens": 42.0},
        ])
        write_json(out.eval_dir / "heldout.json", {"rows": 8, "max_length": 256, "losses": [
            {"variant": v, "loss": 2.5 - 0.1 * i, "perplexity": 12.18, "tokens": 400}
            for i, v in enumerate(("base", *adapters))]})
    out.report_dir.mkdir(parents=True, exist_ok=True)
    (out.report_dir / "report.html").write_text("<html><body><h1>Run report</h1></body></html>")
    write_jsonl(out.quarantine, [{"row": 99, "source": "x", "reason": "no_messages"}])
    return run
