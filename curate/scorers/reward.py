"""Reward-model scores: every assistant turn scored with its context, then aggregated.

Any ``AutoModelForSequenceClassification`` reward model (Skywork-Reward, OpenAssistant DeBERTa,
ArmoRM with ``trust_remote_code=True``). The conversation goes through the model's own chat template
(models without one get ``(context, answer)`` text pairs). A sequence longer than ``max_length``
keeps its end (the answer being judged) and is flagged in ``reward_truncated``.

Decoder reward models score all turns of a conversation in one forward pass (``shared_prefix``):
the reward of turn k is read at the position where turn k's own sequence would be pooled, which
causal attention makes exactly the same number; see ``prefix_chains``.
"""

from __future__ import annotations

import statistics
from typing import Any

from curate.errors import UserError
from curate.schema import Message, conversation_text
from curate.scorers.batching import pad_batch, prefix_chains, run_sorted
from curate.scorers.classifier import classify
from curate.scorers.model import ModelScorer, ModelSettings

AGGREGATES = ("last", "mean", "min")


class RewardScorer(ModelScorer):
    name = "reward"
    columns = ("reward", "reward_min", "reward_mean", "reward_last", "reward_turns", "reward_truncated")
    auto_class = "AutoModelForSequenceClassification"

    def __init__(self, model: str = "Skywork/Skywork-Reward-V2-Qwen3-0.6B", revision: str | None = None,
                 aggregate: str = "last", max_length: int = 4096, label: int = 0, batch_size: int = 8,
                 window: int = 128, device: str = "auto", dtype: str = "auto",
                 trust_remote_code: bool = False, max_batch_tokens: int | None = None,
                 shared_prefix: bool = True, *, settings: ModelSettings | None = None):
        super().__init__(self.pick_settings(
            settings, model=model, revision=revision, batch_size=batch_size, window=window, device=device,
            dtype=dtype, trust_remote_code=trust_remote_code, max_batch_tokens=max_batch_tokens))
        self.shared_prefix = shared_prefix
        self._head: tuple[Any, Any] | None = None
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

    def load(self) -> None:
        if self._model is not None:
            return
        super().load()
        self._head = self._position_head() if self.shared_prefix else None

    def _position_head(self) -> tuple[Any, Any] | None:
        """(backbone, score head) when any position's reward can be read off one causal forward pass.

        True for the transformers decoder reward models (Llama, Qwen, Mistral, Gemma ... with a
        linear ``score`` head pooled at the last non-pad token); encoders (DeBERTa) and custom
        remote-code heads (ArmoRM) keep one sequence per turn. Checked on a probe, not assumed.
        """
        import torch
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        model = self._model
        head, backbone = getattr(model, "score", None), getattr(model, model.base_model_prefix, None)
        if (self.model_settings.trust_remote_code or backbone is None or not isinstance(head, torch.nn.Linear)
                or model.config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES):
            return None
        probe, _ = self.encode([{"role": "user", "content": "Is this a probe?"},
                                {"role": "assistant", "content": "Yes, it is."}])
        pooled = classify(self, [probe], self.label, raw=True)[0]
        read = self._read_positions([(probe, [self._read_at(probe)])], (backbone, head))[0][0]
        return (backbone, head) if abs(read - pooled) <= 1e-3 * max(1.0, abs(pooled)) else None

    def _read_at(self, ids: list[int]) -> int:
        """Where the model pools: its last token that is not the pad token (as transformers does)."""
        pad = self._model.config.pad_token_id
        return next((i for i in range(len(ids) - 1, -1, -1) if ids[i] != pad), len(ids) - 1)

    def _read_positions(self, batch: list[tuple[list[int], list[int]]],
                        head: tuple[Any, Any] | None = None) -> list[list[float]]:
        """One right-padded forward per batch; the head's value at each requested position."""
        import torch

        backbone, score = head or self._head
        ids, mask = pad_batch([s for s, _ in batch], self._tok.pad_token_id, left=False, device=self._device)
        rows = torch.tensor([b for b, (_, pos) in enumerate(batch) for _ in pos], device=self._device)
        cols = torch.tensor([c for _, pos in batch for c in pos], device=self._device)
        with torch.inference_mode():
            hidden = backbone(input_ids=ids, attention_mask=mask).last_hidden_state
            flat = score(hidden[rows, cols]).float()[:, self.label].tolist()
        out, at = [], 0
        for _, pos in batch:
            out.append(flat[at:at + len(pos)])
            at += len(pos)
        return out

    def _pooled(self, batch: list[tuple[list[int], list[int]]]) -> list[list[float]]:
        return [[v] for v in classify(self, [ids for ids, _ in batch], self.label, raw=True)]

    def score(self, conversations: list[list[Message]]) -> dict[str, list[Any]]:
        self.load()
        items: list[tuple[list[int], list[int]]] = []  # (token ids, positions whose reward to read)
        owners: list[int] = []
        truncated = [False] * len(conversations)
        for r, msgs in enumerate(conversations):
            seqs = []
            for t, m in enumerate(msgs):
                if m["role"] == "assistant":
                    ids, cut = self.encode(msgs[: t + 1])
                    seqs.append(ids)
                    truncated[r] |= cut
            groups = prefix_chains(seqs) if self._head else [[k] for k in range(len(seqs))]
            for g in groups:
                items.append((seqs[g[-1]], [self._read_at(seqs[k]) for k in g]))
                owners.append(r)
        forward = self._read_positions if self._head else self._pooled
        values = run_sorted(items, [len(ids) for ids, _ in items], forward, self.model_settings.batch_size,
                            self.batch_tokens, self.stats)
        self.stats["turns"] = self.stats.get("turns", 0) + sum(len(pos) for _, pos in items)
        turns: list[list[float]] = [[] for _ in conversations]
        for r, v in zip(owners, values, strict=True):
            turns[r].extend(float(x) for x in v)
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
