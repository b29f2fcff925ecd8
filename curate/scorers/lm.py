"""LM scores with a causal LM: response perplexity and instruction-following difficulty (IFD).

IFD (Cherry LLM, Li et al. 2023; Superfiltering) = loss(answer | instruction) / loss(answer): near
or above 1, the instruction does not help predict the answer (hard or mismatched); well below 1, the
answer follows from its instruction. Each assistant turn is scored with all turns before it as its
instruction (rendered with the model's chat template); ``ifd`` is the mean over turns. The
unconditioned loss sees the answer after only a BOS (else EOS) token, and both losses average over
exactly the same answer tokens. ``ppl`` is exp of the mean conditioned loss over all answer tokens.
``end_logprob`` is the log-probability of the model's end-of-turn token right after the last scored
answer: an answer cut mid-sentence rarely ends where the model would stop, whatever its length. (An
answer cut by ``max_length`` is read from its last tokens, after the end of its prompt, for this.)
Sequences longer than ``max_length`` keep the answer's start and the context's end
(``lm_truncated``). ``max_turns`` scores only the first assistant turns.

The conditioned losses of a conversation's turns come from one forward pass over the conversation
wherever each turn's tokens are an exact prefix of the next turn's (``shared_prefix``; causal
attention makes the numbers the same); the unconditioned pass sees only each short answer.
"""

from __future__ import annotations

import inspect
import math
import statistics
from typing import Any

from curate.schema import Message, conversation_text
from curate.scorers.batching import pad_batch, prefix_chains, run_sorted
from curate.scorers.model import ModelScorer, ModelSettings


class LMScorer(ModelScorer):
    name = "lm"
    columns = ("ppl", "ifd", "ifd_turns", "lm_truncated", "end_logprob")
    auto_class = "AutoModelForCausalLM"
    # logits are tokens x vocab floats; on CPU, long sequences run faster alone than padded together
    default_max_batch_tokens = {"cpu": 2048, "cuda": 32768}

    def __init__(self, model: str = "smollm2", revision: str | None = None, max_length: int = 2048,
                 batch_size: int = 8, window: int = 128, device: str = "auto", dtype: str = "auto",
                 trust_remote_code: bool = False, max_batch_tokens: int | None = None,
                 max_turns: int | None = None, shared_prefix: bool = True, *,
                 settings: ModelSettings | None = None):
        super().__init__(self.pick_settings(
            settings, model=model, revision=revision, batch_size=batch_size, window=window, device=device,
            dtype=dtype, trust_remote_code=trust_remote_code, max_batch_tokens=max_batch_tokens))
        self.shared_prefix = shared_prefix
        if max_turns is not None and max_turns < 1:
            raise ValueError("max_turns must be >= 1 (or null for every assistant turn)")
        self.max_length = max_length
        self.max_turns = max_turns
        self.stats: dict[str, int] = {}

    def settings(self) -> dict[str, Any]:
        return {**self.base_settings(), "max_length": self.max_length, "max_turns": self.max_turns,
                "method": "ifd-v1+end"}

    def _prompt(self, context: list[Message]) -> list[int]:
        tok = self._tok
        if not context:  # an answer with nothing before it: its only "instruction" is the start token
            return [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id]
        if tok.chat_template:
            text = tok.apply_chat_template(context, tokenize=False, add_generation_prompt=True)
        else:
            text = (conversation_text(context) + "\n" if context else "") + "assistant: "
        return tok(text, add_special_tokens=False)["input_ids"]

    def pairs(self, msgs: list[Message]) -> tuple[list[tuple[list[int], list[int], int]], bool, list[int]]:
        """(conditioned ids, unconditioned ids, answer tokens) per assistant turn, each ending in the answer,
        whether any was cut to ``max_length``, and the ids whose last token is the end-of-turn after
        the last answer (the conditioned ids + end-of-turn, or for a cut answer its prompt's last
        tokens, the answer's last tokens and the end-of-turn)."""
        tok, cap = self._tok, self.max_length
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        out, cut, end = [], False, []
        for t, m in enumerate(msgs):
            if m["role"] != "assistant":
                continue
            if self.max_turns is not None and len(out) >= self.max_turns:
                break  # cost grows with turns x context; long chats can be scored on their first turns
            answer = tok(m["content"], add_special_tokens=False)["input_ids"]
            if not answer:
                continue
            prompt = self._prompt(msgs[:t])
            end = prompt + answer + [self._eot]
            if len(prompt) + len(answer) > cap:
                cut = True
                end = prompt[-16:] + answer[-(cap // 2):] + [self._eot]
                answer = answer[: max(cap // 2, cap - len(prompt))]
                prompt = prompt[len(prompt) - (cap - len(answer)):] if cap > len(answer) else []
            out.append((prompt + answer, [start, *answer], len(answer)))
        return out, cut, end

    def _losses(self, batch: list[tuple[list[int], list[tuple[int, int]]]]) -> list[list[float]]:
        """Mean NLL of each span ``(end, n)``: the ``n`` tokens before position ``end`` of a sequence.

        Sequences are left-padded; only the logits from the earliest span on are computed.
        """
        import torch
        import torch.nn.functional as F

        ids, mask = pad_batch([s for s, _ in batch], self._tok.pad_token_id, left=True, device=self._device)
        width = ids.shape[1]
        kw: dict[str, Any] = {"input_ids": ids}
        params = self._forward_params
        if mask is not None:
            kw["attention_mask"] = mask
            if "position_ids" in params:
                kw["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
        keep = min(width, max(len(s) - min(end - n for end, n in spans) + 1 for s, spans in batch))
        if "logits_to_keep" in params:
            kw["logits_to_keep"] = keep
        with torch.inference_mode():
            logits = self._model(**kw).logits[:, -keep:]
            out = []
            for row, (seq, spans) in enumerate(batch):
                shift = keep - len(seq)  # logits index of sequence position p is p + shift
                losses = []
                for end, n in spans:
                    pred = logits[row, end - n - 1 + shift: end - 1 + shift].float()
                    target = torch.tensor(seq[end - n: end], device=self._device)
                    losses.append(F.cross_entropy(pred, target).item())
                out.append(losses)
        return out

    def load(self) -> None:
        super().load()
        self._forward_params = set(inspect.signature(self._model.forward).parameters)
        gen = getattr(getattr(self._model, "generation_config", None), "eos_token_id", None)
        gen = gen[0] if isinstance(gen, list) and gen else gen  # a converted GGUF tokenizer may name another eos
        self._eot = gen if isinstance(gen, int) else self._tok.eos_token_id

    def score(self, conversations: list[list[Message]]) -> dict[str, list[Any]]:
        self.load()
        items: list[tuple[list[int], list[tuple[int, int]]]] = []  # (token ids, answer spans (end, n))
        refs: list[list[tuple[int, int, int]]] = []  # per item span: (row, turn, 0 conditioned / 1 not)
        truncated, n_turns = [], []
        for r, msgs in enumerate(conversations):
            pairs, cut, end = self.pairs(msgs)
            truncated.append(cut)
            n_turns.append([n for _, _, n in pairs])
            conds = [cond for cond, _, _ in pairs]
            groups = prefix_chains(conds) if self.shared_prefix else [[k] for k in range(len(conds))]
            last = len(conds) - 1
            for g in groups:  # a conversation's turns share one conditioned pass where tokens allow
                spans = [(len(conds[k]), pairs[k][2]) for k in g]
                refs.append([(r, k, 0) for k in g])
                if g[-1] == last and end[:-1] == conds[last]:  # the end-of-turn rides on the last pass
                    items.append((end, [*spans, (len(end), 1)]))
                    refs[-1].append((r, last, 2))
                else:
                    items.append((conds[g[-1]], spans))
            if pairs and end[:-1] != conds[last]:
                items.append((end, [(len(end), 1)]))
                refs.append([(r, last, 2)])
            for k, (_, uncond, n) in enumerate(pairs):
                items.append((uncond, [(len(uncond), n)]))
                refs.append([(r, k, 1)])
        out = run_sorted(items, [len(s) for s, _ in items], self._losses, self.model_settings.batch_size,
                         self.batch_tokens, self.stats)
        losses = [[[0.0, 0.0, 0.0] for _ in ns] for ns in n_turns]
        for item_refs, item_losses in zip(refs, out, strict=True):
            for (r, k, which), loss in zip(item_refs, item_losses, strict=True):
                losses[r][k][which] = loss
        nll_sum = [sum(c * n for (c, _, _), n in zip(ls, ns, strict=True)) for ls, ns in zip(losses, n_turns, strict=True)]
        n_tok = [sum(ns) for ns in n_turns]
        ifd_turns = [[c / u if u > 0 else math.inf for c, u, _ in ls] for ls in losses]
        ok = [bool(t) for t in ifd_turns]
        return {
            "ppl": [math.exp(nll_sum[r] / n_tok[r]) if ok[r] else None for r in range(len(conversations))],
            "ifd": [statistics.fmean(t) if t else None for t in ifd_turns],
            "ifd_turns": [t or None for t in ifd_turns],
            "lm_truncated": [truncated[r] if ok[r] else None for r in range(len(conversations))],
            "end_logprob": [-losses[r][-1][2] if ok[r] else None for r in range(len(conversations))],
            "lm_error": [None if o else "no assistant turn" for o in ok],
        }
