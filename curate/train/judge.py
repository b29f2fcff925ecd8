"""Pluggable pairwise judges: ``prefer(prompt, a, b)`` is the judge's probability that answer ``a`` beats
``b``. Two kinds ship:

- ``RewardJudge``: a reward model (``AutoModelForSequenceClassification`` with one output, e.g. a Skywork
  reward model from the hub or a local folder) scores each answer with its prompt; P(a > b) is the
  Bradley-Terry sigmoid of the score difference. Scores are cached, so each answer is scored once.
- ``LMJudge``: a chat LM is asked which response is better and the next-token logits of "A" and "B" are
  compared. Position bias is real for LM judges, so the evaluation asks both orders and averages.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Protocol

from curate.errors import UserError
from curate.scorers.model import resolve_device

JUDGE_PROMPT = (
    "You are judging two responses to the same user request. Pick the one that is more helpful, correct "
    "and clear.\n\n[User request]\n{question}\n\n[Response A]\n{a}\n\n[Response B]\n{b}\n\n"
    "Which response is better? Answer with a single letter: A or B."
)


class Judge(Protocol):
    name: str

    def prefer(self, prompt: list[dict], a: str, b: str) -> float:
        """Probability that ``a`` is the better answer to ``prompt`` (a list of messages)."""
        ...


def _load(model: str, kind: str) -> tuple[str, Any, Any]:
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    from curate.models import resolve

    try:
        path = resolve(model)
        tok = AutoTokenizer.from_pretrained(path)
        cls = AutoModelForSequenceClassification if kind == "reward" else AutoModelForCausalLM
        net = cls.from_pretrained(path)
    except (OSError, ValueError, FileNotFoundError) as e:
        raise UserError(f"cannot load {kind} judge {model!r}: {e}") from e
    return path, tok, net.eval()


def question_text(prompt: list[dict]) -> str:
    if len(prompt) == 1:
        return prompt[0]["content"]
    return "\n".join(f"{m['role']}: {m['content']}" for m in prompt)


class RewardJudge:
    """Bradley-Terry preference from a reward model's scalar scores."""

    def __init__(self, model: str, device: str = "auto", max_length: int = 1024):
        _, self.tokenizer, self.model = _load(model, "reward")
        if self.model.config.num_labels != 1:
            raise UserError(f"reward judge {model!r} has {self.model.config.num_labels} outputs; need 1 (a reward head)")
        self.device = resolve_device(device)
        self.model.to(self.device)
        self.tokenizer.truncation_side = "left"  # keep the answer when a long prompt must be cut
        self.max_length = max_length
        self.name = f"reward:{Path(model).name}"
        self._cache: dict[str, float] = {}

    def score(self, prompt: list[dict], answer: str) -> float:
        key = json.dumps([prompt, answer], ensure_ascii=False)
        if key not in self._cache:
            import torch

            chat = [*prompt, {"role": "assistant", "content": answer}]
            if getattr(self.tokenizer, "chat_template", None):
                text = self.tokenizer.apply_chat_template(chat, tokenize=False)
            else:
                text = "\n\n".join(m["content"] for m in chat)
            enc = self.tokenizer(text, truncation=True, max_length=self.max_length, return_tensors="pt",
                                 add_special_tokens=not getattr(self.tokenizer, "chat_template", None))
            with torch.inference_mode():
                out = self.model(**{k: v.to(self.device) for k, v in enc.items()})
            self._cache[key] = float(out.logits[0, 0])
        return self._cache[key]

    def prefer(self, prompt: list[dict], a: str, b: str) -> float:
        d = self.score(prompt, a) - self.score(prompt, b)
        return 1 / (1 + math.exp(-max(min(d, 50.0), -50.0)))


class LMJudge:
    """Pairwise judge LM: softmax over the next-token logits of "A" and "B"."""

    def __init__(self, model: str = "smollm2", device: str = "auto", max_length: int = 2048):
        _, self.tokenizer, self.model = _load(model, "lm")
        self.device = resolve_device(device)
        self.model.to(self.device)
        self.max_length = max_length
        self.name = f"lm:{Path(model).name}"
        ids = [self.tokenizer.encode(x, add_special_tokens=False) for x in ("A", "B")]
        if any(len(i) != 1 for i in ids) or ids[0] == ids[1]:
            raise UserError(f"judge LM {model!r}: 'A' and 'B' are not single distinct tokens in its vocabulary")
        self.ids = (ids[0][0], ids[1][0])

    def prefer(self, prompt: list[dict], a: str, b: str) -> float:
        import torch

        content = JUDGE_PROMPT.format(question=question_text(prompt), a=a.strip() or "(empty)", b=b.strip() or "(empty)")
        msgs = [{"role": "user", "content": content}]
        if getattr(self.tokenizer, "chat_template", None):
            enc = self.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt",
                                                     return_dict=True)
        else:
            enc = self.tokenizer(content + "\nAnswer:", return_tensors="pt")
        enc = {k: v[:, -self.max_length:].to(self.device) for k, v in enc.items()}
        with torch.inference_mode():
            logits = self.model(**enc).logits[0, -1]
        pa, pb = torch.softmax(logits[list(self.ids)].float(), dim=0).tolist()
        return float(pa)


def make_judge(spec: str | Judge, device: str = "auto") -> Judge:
    """``reward:PATH_OR_ID`` | ``lm:PATH_OR_ID`` | an alias/path whose config says which kind | a Judge."""
    if not isinstance(spec, str):
        return spec
    kind, _, model = spec.partition(":")
    if kind in ("reward", "lm") and model:
        return RewardJudge(model, device) if kind == "reward" else LMJudge(model, device)
    from curate.models import resolve

    try:
        path = Path(resolve(spec))
    except FileNotFoundError as e:
        raise UserError(f"judge model not found: {spec!r}") from e
    archs: list[str] = []
    if (path / "config.json").exists():
        archs = json.loads((path / "config.json").read_text()).get("architectures") or []
    if any(a.endswith("ForSequenceClassification") for a in archs):
        return RewardJudge(spec, device)
    return LMJudge(spec, device)
