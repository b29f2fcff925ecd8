"""Reward and LM scoring: our batched scorers vs what a user would otherwise write.

* reward: SmolLM2-135M as an ``AutoModelForSequenceClassification`` backbone (one-label head; no
  reward model ships offline) -- ours vs ``transformers.pipeline("text-classification")`` on the same
  chat-template texts of every assistant turn, same batch size and max length.
* lm: SmolLM2 IFD -- ours vs a plain per-row loop (one forward per turn and condition, full logits).

Ours sorts by length within a window (little padding) and scores all turns of a conversation in one
causal forward pass where each turn's tokens prefix the next (``shared_prefix``); ``--ablate`` also
times ours with ``shared_prefix=False`` to separate the two gains. Same ShareGPT conversations for
every contender, one run. Prints rows/s, turn tokens (the per-turn sequences a plain loop or pipeline
must process), forward tokens, padding waste, agreement, and extrapolations to FineTome-100k and The
Tome.

    .venv/bin/python benchmarks/bench_scoring.py --n 40 --max-length 2048 --threads 2
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

    return [list(m) for m in curate.load("sharegpt-sample", limit=n).table["messages"].to_pylist()]


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


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
now = CLOCK["wall"]


def in_order_waste(lengths: list[int], batch: int) -> float:
    """Padding waste of batches cut in input order (what ``pipeline(..., batch_size=)`` does)."""
    padded = sum(max(lengths[i:i + batch]) * len(lengths[i:i + batch]) for i in range(0, len(lengths), batch))
    return padded / sum(lengths) - 1.0


def timed(scorer, convs) -> tuple[float, dict]:
    scorer.load()
    t = now()
    out = scorer.score(convs)
    return now() - t, out


def bench_reward(convs, max_length: int, batch: int, ablate: bool) -> dict:
    from transformers import pipeline

    with tempfile.TemporaryDirectory() as tmp:
        path = reward_backbone(tmp)
        ours = RewardScorer(model=path, max_length=max_length, batch_size=batch, device="cpu")
        t_ours, out = timed(ours, convs)
        assert ours._head is not None, "the shared-prefix path did not engage"
        tok = ours._tok
        texts = [tok.apply_chat_template(c[: i + 1], tokenize=False)
                 for c in convs for i, m in enumerate(c) if m["role"] == "assistant"]
        lengths = [min(len(tok(tx)["input_ids"]), max_length) for tx in texts]
        pipe = pipeline("text-classification", model=path, device="cpu", function_to_apply="none")
        t = now()
        ref = pipe(texts, batch_size=batch, truncation=True, max_length=max_length)
        t_pipe = now() - t
        t_plain = None
        if ablate:
            plain = RewardScorer(model=path, max_length=max_length, batch_size=batch, device="cpu",
                                 shared_prefix=False)
            t_plain, _ = timed(plain, convs)
    ours_flat = [v for ts in out["reward_turns"] for v in ts]
    ref_flat = [r["score"] for r in ref]
    short = [k for k, tx in enumerate(texts) if len(tok(tx)["input_ids"]) <= max_length]  # same input
    diff = max(abs(ours_flat[k] - ref_flat[k]) for k in short)
    return {"t_ours": t_ours, "t_ref": t_pipe, "t_plain": t_plain, "turn_tokens": sum(lengths),
            "tokens": ours.stats["real_tokens"], "waste": padding_waste(ours.stats),
            "ref_waste": in_order_waste(lengths, batch), "sequences": len(texts),
            "agree": f"max |ours - pipeline| {diff:.2g} on the {len(short)} untruncated turns"}


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


def bench_lm(convs, max_length: int, batch: int, ablate: bool) -> dict:
    ours = LMScorer(model="smollm2", max_length=max_length, batch_size=batch, device="cpu")
    t_ours, out = timed(ours, convs)
    all_pairs = [ours.pairs(c)[0] for c in convs]
    t = now()
    ref = [plain_ifd(ours._model, ours._tok, p) for p in all_pairs]
    t_loop = now() - t
    t_plain = None
    if ablate:
        t_plain, _ = timed(LMScorer(model="smollm2", max_length=max_length, batch_size=batch, device="cpu",
                                    shared_prefix=False), convs)
    a = [v for ts in out["ifd_turns"] if ts for v in ts]
    b = [v for ts in ref for v in ts]
    diff = float(np.max(np.abs(np.array(a) - np.array(b))))
    assert math.isfinite(diff)
    return {"t_ours": t_ours, "t_ref": t_loop, "t_plain": t_plain,
            "turn_tokens": sum(len(c) + len(u) for p in all_pairs for c, u, _ in p),
            "tokens": ours.stats["real_tokens"], "waste": padding_waste(ours.stats), "ref_waste": 0.0,
            "sequences": 2 * len(a), "agree": f"max |IFD ours - loop| {diff:.2g}"}


def report(name: str, ref_name: str, r: dict, n: int, params: float) -> None:
    turn_tokens = r["turn_tokens"]
    print(f"\n{name}: {n} conversations, {r['sequences']} per-turn sequences, {turn_tokens} turn tokens; "
          f"ours ran {r['tokens']} forward tokens ({turn_tokens / r['tokens']:.2f}x fewer: shared prefixes)")
    for label, t, waste in (("ours", r["t_ours"], r["waste"]), (ref_name, r["t_ref"], r["ref_waste"]),
                            ("ours, no shared prefix", r["t_plain"], None)):
        if t is not None:
            extra = f"  padding waste {waste:.1%}" if waste is not None else ""
            print(f"  {label:22s} {t:7.1f} s  {n / t:6.3f} rows/s  {turn_tokens / t:7.0f} turn tokens/s{extra}")
    print(f"  speed-up vs {ref_name}: {r['t_ref'] / r['t_ours']:.2f}x   agreement: {r['agree']}")
    if r["t_plain"]:
        print(f"  of which shared prefixes: {r['t_plain'] / r['t_ours']:.2f}x; "
              f"length-sorted batching: {r['t_ref'] / r['t_plain']:.2f}x")
    rows_ours = n / r["t_ours"]
    tok_per_row = r["tokens"] / n
    for data, rows in ROWS.items():
        cpu_h = rows / rows_ours / 3600
        gpu_s = 2 * params * tok_per_row * rows / (0.3 * H100_BF16_FLOPS)
        print(f"  {data}: CPU (this machine) ~{cpu_h:,.0f} h; one H100 at 30% MFU ~{gpu_s / 60:,.1f} min")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip", choices=["reward", "lm"], default=None)
    ap.add_argument("--ablate", action="store_true", help="also time ours with shared_prefix=False")
    ap.add_argument("--clock", choices=list(CLOCK), default="wall",
                    help="cpu: process CPU seconds, robust to other load on a shared machine")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    global now
    now = CLOCK[args.clock]
    convs = conversations(args.n)
    params = 135e6
    print(f"{len(convs)} ShareGPT conversations, max_length {args.max_length}, batch {args.batch}, "
          f"{args.threads} thread(s), {args.clock} clock")
    if args.skip != "reward":
        report("reward (SmolLM2 seq-cls backbone)", "pipeline",
               bench_reward(convs, args.max_length, args.batch, args.ablate), len(convs), params)
    if args.skip != "lm":
        report("lm IFD (SmolLM2)", "row loop", bench_lm(convs, args.max_length, args.batch, args.ablate),
               len(convs), params)


if __name__ == "__main__":
    main()
