"""A synthetic The Tome: N conversations (default 1.75M, ~2.6 KB each), nine named sources, planted
exact and near duplicates, made by resampling and perturbing the bundled ShareGPT sample rows.

    .venv/bin/python benchmarks/make_synthetic_tome.py --rows 150000 --out /tmp/tome-150k.jsonl

Every base row gets a unique marker in its first user turn, so only the planted copies are
duplicates: ``--exact`` of the rows repeat an earlier row verbatim, ``--near`` repeat one with 2-6% of
its words edited (case changes, stripped punctuation, filler words swapped in, doubled spaces:
``curate.duplicates.edits``). Written as one ShareGPT-format JSONL (``conversations`` + ``source``).
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
from tqdm.auto import tqdm

import curate
from curate.duplicates.edits import edited_copy

SOURCES = (  # The Tome's nine constituents (arcee-ai/The-Tome)
    "infini-instruct-top-500k", "WebInstructSub-prometheus", "financial-instructions-cleaned-2",
    "the-tome-flan", "open-platypus-commercial", "reasoning-instructions", "ultrainteract_trajectories_sharegpt",
    "code-feedback-sharegpt", "arcee-tool-use",
)
ROLE = {"user": "human", "assistant": "gpt", "system": "system"}


def base_rows(max_chars: int) -> list[list[dict[str, str]]]:
    """The sample's conversations as ShareGPT turns, each message cut to ``max_chars``."""
    from curate.scorers.heuristics import _role_order_ok

    table = curate.load("sharegpt-sample").table
    out = []
    for msgs in table["messages"].to_pylist():
        if not _role_order_ok(msgs[:4]):
            continue  # The Tome is curated: keep its rows mostly valid
        turns = [{"from": ROLE[m["role"]], "value": m["content"][:max_chars]} for m in msgs[:4]]
        if len(turns) >= 2:
            out.append(turns)
    return out


def rewrite(turns: list[dict[str, str]], vocab: list[str], rng: np.random.Generator, frac: float = 0.2):
    """A fresh row from a resampled one: ``frac`` of its words swapped for random vocabulary words, so
    two draws of one base row share few 5-gram shingles (Jaccard ~0.1) and are not near duplicates."""
    out = []
    for t in turns:
        words = t["value"].split(" ")
        for j in np.nonzero(rng.random(len(words)) < frac)[0]:
            words[j] = vocab[int(rng.integers(len(vocab)))]
        out.append({"from": t["from"], "value": " ".join(words)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_750_000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--exact", type=float, default=0.03, help="share of planted exact duplicates")
    ap.add_argument("--near", type=float, default=0.03, help="share of planted near duplicates")
    ap.add_argument("--max-chars", type=int, default=1300, help="cap per message (sets the ~2.6 KB mean)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    edit_rng = random.Random(args.seed)
    base = base_rows(args.max_chars)
    vocab = sorted({w for turns in base[:2000] for t in turns for w in t["value"].split()})
    kind = rng.choice(3, size=args.rows, p=[1 - args.exact - args.near, args.exact, args.near])
    kind[0] = 0
    t0, total = time.perf_counter(), 0
    counts = {"unique": 0, "exact": 0, "near": 0}
    emitted: list[tuple[list[dict[str, str]], str]] = []  # a bounded pool of earlier rows to copy
    with open(args.out, "w", encoding="utf-8") as f:
        for i in tqdm(range(args.rows), unit="rows", desc="synthesize", mininterval=2):
            if kind[i] == 0 or not emitted:
                turns = rewrite(base[int(rng.integers(len(base)))], vocab, rng)
                turns[0]["value"] = f"[{i}] " + turns[0]["value"]
                src = SOURCES[int(rng.integers(len(SOURCES)))]
                counts["unique"] += 1
                if len(emitted) < 50_000:
                    emitted.append((turns, src))
                else:
                    emitted[int(rng.integers(len(emitted)))] = (turns, src)
            else:
                turns, src = emitted[int(rng.integers(len(emitted)))]
                if kind[i] == 2:
                    turns = edited_copy(turns, edit_rng, key="value")
                counts["exact" if kind[i] == 1 else "near"] += 1
            line = json.dumps({"conversations": turns, "source": src}, ensure_ascii=False)
            total += len(line.encode()) + 1
            f.write(line + "\n")
    dt = time.perf_counter() - t0
    print(json.dumps({"rows": args.rows, "bytes": total, "mean_bytes": round(total / args.rows), "planted": counts,
                      "seconds": round(dt, 1), "out": args.out}))


if __name__ == "__main__":
    main()
