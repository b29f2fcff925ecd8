"""Reward and LM scoring: our length-sorted batched scorers vs what a user would otherwise write.

* reward: SmolLM2-135M as an ``AutoModelForSequenceClassification`` backbone (one-label head; no
  reward model ships offline) -- ours vs ``transformers.pipeline("text-classification")`` on the same
  chat-template texts of every assistant turn, same batch size and max length.
* lm: SmolLM2 IFD -- ours vs a plain per-row loop (one forward per turn and condition, full logits).

Same ShareGPT conversations for both sides, one run. Prints rows/s, tokens/s, ratio, padding waste,
agreement, and an extrapolation to FineTome-100k (100k rows) and The Tome (1.75M rows).

    .venv/bin/python benchmarks/bench_scoring.py --n 200 --max-length 512
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

import numpy as np
import torch

from curate.models import smollm2_dir
from curate.scorers.batching import padding_waste
from curate.scorers.lm import LMScorer
from curate.scorers.reward import RewardScorer

H100_BF16_FLOPS = 989e12  # dense peak; we assume 30% utilization for a 135M model below
ROWS = {"FineTome-100k": 100_000, "The Tome": 1_750_000}


def conversations(n: int) -> list[list[dict]]:
    import curate

    return [list(m) for m in curate.load("sharegpt-sample", n=n).table["messages"].to_pylist()]


def reward_backbone(tmp: str) -> str:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = str(smollm2_dir())
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    tok = AutoTokenizer.from_pretrained(path)
    model.config.pad_token_id = tok.pad_token_id
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    return tmp


def bench_reward(convs, max_length: int, batch: int) -> dict:
    from transformers import pipeline

    with tempfile.TemporaryDirectory() as tmp:
        path = reward_backbone(tmp)
        ours = RewardScorer(model=path, max_length=max_length, batch_size=batch, device="cpu")
        ours.load()
        t = time.perf_counter()
        out = ours.score(convs)
        t_ours = time.perf_counter() - t
        tok = ours._tok
        texts = [tok.apply_chat_template(c[: i + 1], tokenize=False)
                 for c in convs for i, m in enumerate(c) if m["role"] == "assistant"]
        pipe = pipeline("text-classification", model=path, device="cpu", function_to_apply="none")
        t = time.perf_counter()
        ref = pipe(texts, batch_size=batch, truncation=True, max_length=max_length)
        t_pipe = time.perf_counter() - t
    ours_flat = [v for ts in out["reward_turns"] for v in ts]
    ref_flat = [r["score"] for r in ref]
    short = [k for k, tx in enumerate(texts) if len(tok(tx)["input_ids"]) <= max_length]  # same input
    return {"t_ours": t_ours, "t_ref": t_pipe, "tokens": ours.stats["real_tokens"],
            "waste": padding_waste(ours.stats), "sequences": len(texts),
            "agree": float(np.corrcoef([ours_flat[k] for k in short], [ref_flat[k] for k in short])[0, 1])}


def plain_ifd(model, tok, pairs) -> list[float]:
    """The loop a user writes: one forward per sequence, full logits, loss on the answer tokens."""
    out = []
    for cond, uncond, n in pairs:
        losses = []
        for seq in (cond, uncond):
            with torch.inference_mode():
                logits = model(torch.tensor([seq])).logits[0]
            losses.append(torch.nn.functional.cross_entropy(logits[-n - 1:-1], torch.tensor(seq[-n:])).item())
        out.append(losses[0] / losses[1])
    return out


def bench_lm(convs, max_length: int, batch: int) -> dict:
    ours = LMScorer(model="smollm2", max_length=max_length, batch_size=batch, device="cpu")
    ours.load()
    t = time.perf_counter()
    out = ours.score(convs)
    t_ours = time.perf_counter() - t
    all_pairs = [ours.pairs(c)[0] for c in convs]
    t = time.perf_counter()
    ref = [plain_ifd(ours._model, ours._tok, p) for p in all_pairs]
    t_loop = time.perf_counter() - t
    a = [v for ts in out["ifd_turns"] if ts for v in ts]
    b = [v for ts in ref for v in ts]
    return {"t_ours": t_ours, "t_ref": t_loop, "tokens": ours.stats["real_tokens"],
            "waste": padding_waste(ours.stats), "sequences": 2 * len(a),
            "agree": float(np.max(np.abs(np.array(a) - np.array(b))))}


def report(name: str, ref_name: str, r: dict, n: int, params: float) -> None:
    rows_ours, rows_ref = n / r["t_ours"], n / r["t_ref"]
    print(f"\n{name}: {n} conversations, {r['sequences']} sequences, {r['tokens']} real tokens")
    print(f"  ours      {r['t_ours']:7.1f} s  {rows_ours:6.2f} rows/s  {r['tokens'] / r['t_ours']:8.0f} tokens/s"
          f"  padding waste {r['waste']:.1%}")
    print(f"  {ref_name:9s} {r['t_ref']:7.1f} s  {rows_ref:6.2f} rows/s  {r['tokens'] / r['t_ref']:8.0f} tokens/s")
    print(f"  speed-up  {r['t_ref'] / r['t_ours']:.2f}x   agreement: {r['agree']:.4g}")
    tok_per_row = r["tokens"] / n
    for data, rows in ROWS.items():
        cpu_h = rows / rows_ours / 3600
        gpu_s = 2 * params * tok_per_row * rows / (0.3 * H100_BF16_FLOPS)
        print(f"  {data}: CPU (this machine) ~{cpu_h:,.0f} h; one H100 at 30% MFU ~{gpu_s / 60:,.1f} min")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip", choices=["reward", "lm"], default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    convs = conversations(args.n)
    params = 135e6
    print(f"{len(convs)} ShareGPT conversations, max_length {args.max_length}, batch {args.batch}, "
          f"{args.threads} thread(s)")
    if args.skip != "reward":
        report("reward (SmolLM2 seq-cls backbone)", "pipeline", bench_reward(convs, args.max_length, args.batch),
               len(convs), params)
    if args.skip != "lm":
        r = bench_lm(convs, args.max_length, args.batch)
        report("lm IFD (SmolLM2)", "row loop", r, len(convs), params)
        assert math.isfinite(r["agree"])


if __name__ == "__main__":
    main()
