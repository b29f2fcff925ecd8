"""Reward-model scores: every assistant turn scored with its context, then aggregated.

Any ``AutoModelForSequenceClassification`` reward model (Skywork-Reward, OpenAssistant DeBERTa,
ArmoRM with ``trust_remote_code=True``). The conversation goes through the model's own chat template
(models without one get ``(context, answer)`` text pairs). A sequence longer than ``max_length``
keeps its end (the answer being judged) and is flagged in ``reward_truncated``.
"""

from __future__ import annotations

import statistics
from typing import Any

from curate.errors import UserError
from curate.schema import Message, conversation_text
from curate.scorers.batching import ModelScorer, run_sorted
from curate.scorers.classifier import classify

AGGREGATES = ("last", "mean", "min")


class RewardScorer(ModelScorer):
    name = "reward"
    columns = ("reward", "reward_min", "reward_mean", "reward_last", "reward_turns", "reward_truncated")
    auto_class = "AutoModelForSequenceClassification"

    def __init__(self, model: str = "Skywork/Skywork-Reward-V2-Qwen3-0.6B", revision: str | None = None,
                 aggregate: str = "last", max_length: int = 4096, label: int = 0, batch_size: int = 8,
                 window: int = 128, device: str = "auto", dtype: str = "auto",
                 trust_remote_code: bool = False, max_batch_tokens: int | None = None):
        super().__init__(model, revision, batch_size, window, device, dtype, trust_remote_code, max_batch_tokens)
        if aggregate not in AGGREGATES:
            raise UserError(f"reward aggregate {aggregate!r} is not one of {', '.join(AGGREGATES)}")
        self.aggregate, self.max_length, self.label = aggregate, max_length, label
        self.stats: dict[str, int] = {}

    def settings(self) -> dict[str, Any]:
        return {**self.base_settings(), "aggregate": self.aggregate, "max_length": self.max_length,
                "label": self.label}

    def encode(self, context: list[Message]) -> tuple[list[int], bool]:
        """Token ids of ``context`` (ending with the judged answer) and whether they were cut."""
        tok = self._tok
        if tok.chat_template:
            ids = tok(tok.apply_chat_template(context, tokenize=False), add_special_tokens=False)["input_ids"]
            if len(ids) > self.max_length:
                return ids[-self.max_length:], True
            return ids, False
        prompt, answer = conversation_text(context[:-1]), context[-1]["content"]
        ids = tok(prompt, answer)["input_ids"]
        if len(ids) <= self.max_length:
            return ids, False
        return tok(prompt, answer, truncation="longest_first", max_length=self.max_length)["input_ids"], True

    def score(self, conversations: list[list[Message]]) -> dict[str, list[Any]]:
        self.load()
        owners: list[int] = []
        seqs: list[list[int]] = []
        truncated = [False] * len(conversations)
        for r, msgs in enumerate(conversations):
            for t, m in enumerate(msgs):
                if m["role"] == "assistant":
                    ids, cut = self.encode(msgs[: t + 1])
                    owners.append(r)
                    seqs.append(ids)
                    truncated[r] |= cut
        values = run_sorted(seqs, [len(s) for s in seqs], lambda b: classify(self, b, self.label, raw=True),
                            self.batch_size, self.batch_tokens, self.stats)
        turns: list[list[float]] = [[] for _ in conversations]
        for r, v in zip(owners, values, strict=True):
            turns[r].append(float(v))
        out: dict[str, list[Any]] = {c: [] for c in self.columns}
        out["reward_error"] = []
        for r, ts in enumerate(turns):
            agg = {"last": ts[-1], "mean": statistics.fmean(ts), "min": min(ts)} if ts else {}
            out["reward"].append(agg.get(self.aggregate))
            out["reward_min"].append(agg.get("min"))
            out["reward_mean"].append(agg.get("mean"))
            out["reward_last"].append(agg.get("last"))
            out["reward_turns"].append(ts or None)
            out["reward_truncated"].append(truncated[r] if ts else None)
            out["reward_error"].append(None if ts else "no assistant turn")
        return out
