"""LM scores with a causal LM: response perplexity and instruction-following difficulty (IFD).

IFD (Cherry LLM, Li et al. 2023; Superfiltering) = loss(answer | instruction) / loss(answer): near
or above 1, the instruction does not help predict the answer (hard or mismatched); well below 1, the
answer follows from its instruction. Each assistant turn is scored with all turns before it as its
instruction (rendered with the model's chat template); ``ifd`` is the mean over turns. The
unconditioned loss sees the answer after only a BOS (else EOS) token, and both losses average over
exactly the same answer tokens. ``ppl`` is exp of the mean conditioned loss over all answer tokens.
Sequences longer than ``max_length`` keep the answer's start and the context's end
(``lm_truncated``). ``max_turns`` scores only the first assistant turns: each turn costs two forward
passes over its whole context, so long chats dominate the bill otherwise.
"""

from __future__ import annotations

import inspect
import math
import statistics
from typing import Any

from curate.schema import Message, conversation_text
from curate.scorers.batching import ModelScorer, run_sorted


class LMScorer(ModelScorer):
    name = "lm"
    columns = ("ppl", "ifd", "ifd_turns", "lm_truncated")
    auto_class = "AutoModelForCausalLM"
    default_max_batch_tokens = {"cpu": 4096, "cuda": 32768}  # logits are tokens x vocab floats

    def __init__(self, model: str = "smollm2", revision: str | None = None, max_length: int = 2048,
                 batch_size: int = 8, window: int = 128, device: str = "auto", dtype: str = "auto",
                 trust_remote_code: bool = False, max_batch_tokens: int | None = None,
                 max_turns: int | None = None):
        super().__init__(model, revision, batch_size, window, device, dtype, trust_remote_code, max_batch_tokens)
        if max_turns is not None and max_turns < 1:
            raise ValueError("max_turns must be >= 1 (or null for every assistant turn)")
        self.max_length = max_length
        self.max_turns = max_turns
        self.stats: dict[str, int] = {}

    def settings(self) -> dict[str, Any]:
        return {**self.base_settings(), "max_length": self.max_length, "max_turns": self.max_turns,
                "method": "ifd-v1"}

    def _prompt(self, context: list[Message]) -> list[int]:
        tok = self._tok
        if not context:  # an answer with nothing before it: its only "instruction" is the start token
            return [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id]
        if tok.chat_template:
            text = tok.apply_chat_template(context, tokenize=False, add_generation_prompt=True)
        else:
            text = (conversation_text(context) + "\n" if context else "") + "assistant: "
        return tok(text, add_special_tokens=False)["input_ids"]

    def pairs(self, msgs: list[Message]) -> tuple[list[tuple[list[int], list[int]]], bool]:
        """(conditioned ids, unconditioned ids) per assistant turn, each ending in the answer."""
        tok, cap = self._tok, self.max_length
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        out, cut = [], False
        for t, m in enumerate(msgs):
            if m["role"] != "assistant":
                continue
            if self.max_turns is not None and len(out) >= self.max_turns:
                break  # cost grows with turns x context; long chats can be scored on their first turns
            answer = tok(m["content"], add_special_tokens=False)["input_ids"]
            if not answer:
                continue
            prompt = self._prompt(msgs[:t])
            if len(prompt) + len(answer) > cap:
                cut = True
                answer = answer[: max(cap // 2, cap - len(prompt))]
                prompt = prompt[len(prompt) - (cap - len(answer)):] if cap > len(answer) else []
            out.append((prompt + answer, [start, *answer], len(answer)))
        return out, cut

    def _losses(self, batch: list[tuple[list[int], int]]) -> list[float]:
        """Mean NLL of the last ``n`` tokens of each left-padded sequence."""
        import torch
        import torch.nn.functional as F

        seqs = [s for s, _ in batch]
        width = max(len(s) for s in seqs)
        pad = self._tok.pad_token_id if self._tok.pad_token_id is not None else 0
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], device=self._device)
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=self._device)
        kw: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        params = self._forward_params
        if "position_ids" in params:
            kw["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
        keep = min(width, max(n for _, n in batch) + 1)
        if "logits_to_keep" in params:
            kw["logits_to_keep"] = keep
        with torch.inference_mode():
            logits = self._model(**kw).logits[:, -keep:]
            out = []
            for row, (seq, n) in enumerate(batch):
                pred = logits[row, keep - n - 1: keep - 1].float()
                target = torch.tensor(seq[-n:], device=self._device)
                out.append(F.cross_entropy(pred, target).item())
        return out

    def load(self) -> None:
        super().load()
        self._forward_params = set(inspect.signature(self._model.forward).parameters)

    def score(self, conversations: list[list[Message]]) -> dict[str, list[Any]]:
        self.load()
        items: list[tuple[list[int], int]] = []
        owners: list[tuple[int, int]] = []  # (row, n answer tokens) per conditioned/unconditioned pair
        truncated = []
        for r, msgs in enumerate(conversations):
            pairs, cut = self.pairs(msgs)
            truncated.append(cut)
            for cond, uncond, n in pairs:
                items += [(cond, n), (uncond, n)]
                owners.append((r, n))
        losses = run_sorted(items, [len(s) for s, _ in items], self._losses, self.batch_size,
                            self.batch_tokens, self.stats)
        nll_sum = [0.0] * len(conversations)
        n_tok = [0] * len(conversations)
        ifd_turns: list[list[float]] = [[] for _ in conversations]
        for k, (r, n) in enumerate(owners):
            cond, uncond = losses[2 * k], losses[2 * k + 1]
            nll_sum[r] += cond * n
            n_tok[r] += n
            ifd_turns[r].append(cond / uncond if uncond > 0 else math.inf)
        ok = [bool(t) for t in ifd_turns]
        return {
            "ppl": [math.exp(nll_sum[r] / n_tok[r]) if ok[r] else None for r in range(len(conversations))],
            "ifd": [statistics.fmean(t) if t else None for t in ifd_turns],
            "ifd_turns": [t or None for t in ifd_turns],
            "lm_truncated": [truncated[r] if ok[r] else None for r in range(len(conversations))],
            "lm_error": [None if o else "no assistant turn" for o in ok],
        }
