"""Serving N variants: curate's one base model + switchable LoRA adapters (train.generate.Generator)
side by side with what a user would otherwise write: one PeftModel.from_pretrained(base) per variant.

Prints load time, resident parameter memory and time for one short answer from each variant.
    .venv/bin/python benchmarks/bench_app_generate.py [--adapters 3] [--tokens 16] [--model smollm2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def _param_mb(models) -> float:
    seen, total = set(), 0
    for m in models:
        for p in m.parameters():
            if p.data_ptr() not in seen:
                seen.add(p.data_ptr())
                total += p.numel() * p.element_size()
    return total / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--adapters", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--model", default="smollm2")
    args = ap.parse_args()

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from app.testing import make_adapter
    from curate.models import resolve
    from curate.rundir import write_json
    from train.generate import Generator, list_variants

    torch.set_num_threads(1)
    base = resolve(args.model)
    msgs = [{"role": "user", "content": "Name three uses of a paperclip."}]
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        for i in range(args.adapters):
            make_adapter(base, run / "models" / f"v{i}" / "adapter", seed=i)
            write_json(run / "models" / f"v{i}" / "metrics.json", {"base_model": base, "subset": f"v{i}", "rows": 1})
        names = [f"v{i}" for i in range(args.adapters)]

        t = time.perf_counter()
        gen = Generator(list_variants(run), device="cpu")
        for n in names:
            gen.load(n)
        ours_load = time.perf_counter() - t
        ours_mb = _param_mb([gen._bases[base].model])
        t = time.perf_counter()
        for n in names:
            gen.generate(n, msgs, max_new_tokens=args.tokens, temperature=0)
        ours_gen = time.perf_counter() - t

        t = time.perf_counter()
        tok = AutoTokenizer.from_pretrained(base)
        separate = {n: PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base),
                                                 str(run / "models" / n / "adapter")).eval() for n in names}
        theirs_load = time.perf_counter() - t
        theirs_mb = _param_mb(separate.values())
        t = time.perf_counter()
        for m in separate.values():
            enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            with torch.inference_mode():
                m.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                           max_new_tokens=args.tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        theirs_gen = time.perf_counter() - t

    print(f"{args.adapters} adapters on {args.model}, {args.tokens} new tokens each")
    print(f"{'':28}{'curate Generator':>18}{'PeftModel per variant':>24}{'ratio':>8}")
    print(f"{'load (s)':28}{ours_load:>18.1f}{theirs_load:>24.1f}{theirs_load / ours_load:>8.2f}")
    print(f"{'parameter memory (MiB)':28}{ours_mb:>18.0f}{theirs_mb:>24.0f}{theirs_mb / ours_mb:>8.2f}")
    print(f"{'one answer per variant (s)':28}{ours_gen:>18.1f}{theirs_gen:>24.1f}{theirs_gen / ours_gen:>8.2f}")


if __name__ == "__main__":
    main()
