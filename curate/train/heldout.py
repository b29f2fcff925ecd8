"""Held-out loss: the assistant-token loss of each variant on a fixed evaluation split that no subset of
the run trained on. The split is drawn once from the run's conversations (``RUN/data/``) minus every subset's
rows (by id, and by prompt text, so a near copy with another answer does not leak), then frozen in
``RUN/eval/heldout_ids.json`` so later evaluations compare like with like."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from curate.rundir import RunDir, write_json
from curate.scorers.model import resolve_device
from curate.train.data import IGNORE, encode


def _prompt_key(messages: list[dict]) -> str:
    from curate.schema import instruction_text

    return " ".join(instruction_text(messages).lower().split())


def _subset_rows(run: RunDir) -> tuple[set[str], set[str]]:
    import pyarrow.parquet as pq

    ids, prompts = set(), set()
    # every subset folder, retired ones too: variants trained on them may still be evaluated
    files = (run.subset_files(d.name).data for d in run.subsets_dir.glob("*"))
    for f in (f for f in files if f.exists()):
        t = pq.read_table(f, columns=["id", "messages"])
        ids.update(t.column("id").to_pylist())
        prompts.update(_prompt_key(m) for m in t.column("messages").to_pylist())
    return ids, prompts


def heldout_split(run_dir: str | Path, n: int = 64, seed: int = 0) -> tuple[list[str], list[list[dict]], dict]:
    """(ids, conversations, info) of the frozen held-out split; empty with ``info["skipped"]`` when the run
    has no conversation left that no subset trained on."""
    run = RunDir(run_dir)
    src = run.conversations_path
    if not src.exists():
        return [], [], {"skipped": f"no {src.relative_to(run.root)} to draw a held-out split from"}
    table = run.conversations_table(["id", "messages"])
    train_ids, train_prompts = _subset_rows(run)
    frozen = run.eval_files.heldout_ids
    by_id = {}
    for rid, msgs in zip(table.column("id").to_pylist(), table.column("messages").to_pylist(), strict=True):
        msgs = [{"role": m["role"], "content": m["content"]} for m in msgs]
        if any(m["role"] == "assistant" for m in msgs):
            by_id.setdefault(rid, msgs)
    clean = {rid for rid, m in by_id.items() if rid not in train_ids and _prompt_key(m) not in train_prompts}
    info: dict[str, Any] = {"source": str(src.relative_to(run.root)), "pool": len(by_id), "eligible": len(clean),
                            "excluded_as_training": len(by_id) - len(clean)}
    if frozen.exists():
        ids = [i for i in json.loads(frozen.read_text())["ids"] if i in by_id]
        leaked = [i for i in ids if i not in clean]
        ids = [i for i in ids if i in clean]
        info.update(frozen=True, dropped_now_in_training=len(leaked))
    else:
        key = lambda i: hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).hexdigest()  # noqa: E731
        ids = sorted(clean, key=key)[:n]
        if ids:
            write_json(frozen, {"seed": seed, "n": len(ids), "ids": ids})
        info.update(frozen=False)
    if not ids:
        info["skipped"] = "every conversation of the run is in some training subset; nothing is held out"
    info["rows"] = len(ids)
    return ids, [by_id[i] for i in ids], info


def heldout_losses(variants: list[Any], convs: list[list[dict]], max_length: int = 1024, batch_size: int = 4,
                   device: str = "auto") -> list[dict]:
    """Mean assistant-token loss (and perplexity) of each variant on ``convs``; the base model loads once
    and adapters are switched in place."""
    import math

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from curate.errors import UserError
    from curate.models import resolve

    device = resolve_device(device)
    base_name = variants[0].base_model
    path = resolve(base_name)
    tok = AutoTokenizer.from_pretrained(path)
    model: Any = AutoModelForCausalLM.from_pretrained(path).to(device).eval()
    encs = [e for e in (encode(tok, c, max_length) for c in convs) if any(x != IGNORE for x in e["labels"])]
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    out, peft_loaded = [], False
    for v in tqdm(variants, desc="held-out loss"):
        if v.adapter is not None:
            from peft import PeftModel

            try:
                if not peft_loaded:
                    model = PeftModel.from_pretrained(model, str(v.adapter), adapter_name=v.name).eval()
                    peft_loaded = True
                else:
                    model.load_adapter(str(v.adapter), adapter_name=v.name)
            except Exception as e:  # an adapter for another base model
                raise UserError(f"cannot load adapter {v.name!r} from {v.adapter}: {e}") from e
            model.set_adapter(v.name)
        total, count = 0.0, 0
        for i in range(0, len(encs), batch_size):
            batch = encs[i: i + batch_size]
            width = max(len(e["input_ids"]) for e in batch)
            ids = torch.tensor([e["input_ids"] + [pad] * (width - len(e["input_ids"])) for e in batch])
            labels = torch.tensor([e["labels"] + [IGNORE] * (width - len(e["labels"])) for e in batch])
            att = (torch.arange(width)[None, :] < torch.tensor([len(e["input_ids"]) for e in batch])[:, None]).long()
            with torch.inference_mode():
                ctx = model.disable_adapter() if (v.adapter is None and peft_loaded) else contextlib.nullcontext()
                with ctx:
                    logits = model(input_ids=ids.to(device), attention_mask=att.to(device)).logits.float()
            tgt = labels[:, 1:].to(device)
            nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), tgt, ignore_index=IGNORE,
                                                    reduction="sum")
            total += float(nll)
            count += int((tgt != IGNORE).sum())
        loss = total / count if count else float("nan")
        out.append({"variant": v.name, "loss": loss, "perplexity": math.exp(loss) if count else float("nan"),
                    "tokens": count})
    return out
