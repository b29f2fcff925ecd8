"""FineWeb-Edu-style classifier scores: a sequence-classification head over one text view.

Regression heads (one label, like ``HuggingFaceFW/fineweb-edu-classifier``) give their raw value;
multi-class heads give the expected class index (an ordinal score) or, with ``label``, that label's
probability.
"""

from __future__ import annotations

from typing import Any

from curate.errors import UserError
from curate.schema import Message, conversation_text, first_user, instruction_text, response_text
from curate.scorers.batching import run_sorted
from curate.scorers.model import ModelScorer, ModelSettings

TEXT_VIEWS = {
    "assistant": response_text,
    "instruction": instruction_text,
    "first_user": first_user,
    "conversation": conversation_text,
}


def classify(scorer: ModelScorer, batch: list[list[int]], label: int | None, raw: bool = False) -> list[float]:
    """One forward pass over right-padded token ids; a float per sequence.

    ``raw`` takes logit ``label`` as is (reward heads); otherwise one logit is a regression value and
    several are classes (probability of ``label``, or the expected class index).
    """
    import torch

    enc = scorer._tok.pad({"input_ids": batch}, padding=True, return_tensors="pt")
    enc = {k: v.to(scorer._device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
    with torch.inference_mode():
        out = scorer._model(**enc)
    logits = getattr(out, "score", None)  # ArmoRM-style custom heads expose .score
    logits = (out.logits if logits is None else logits).float()
    if logits.ndim == 1:
        logits = logits[:, None]
    if raw or logits.shape[-1] == 1:
        return logits[:, label if raw and label is not None else 0].tolist()
    probs = logits.softmax(-1)
    if label is not None:
        return probs[:, label].tolist()
    return (probs * torch.arange(probs.shape[-1], device=probs.device)).sum(-1).tolist()


class ClassifierScorer(ModelScorer):
    name = "classifier"
    auto_class = "AutoModelForSequenceClassification"

    def __init__(self, model: str = "HuggingFaceFW/fineweb-edu-classifier", revision: str | None = None,
                 text: str = "assistant", column: str = "edu_score", label: int | None = None,
                 max_length: int = 512, batch_size: int = 32, window: int = 512, device: str = "auto",
                 dtype: str = "auto", trust_remote_code: bool = False, max_batch_tokens: int | None = None, *,
                 settings: ModelSettings | None = None):
        super().__init__(self.pick_settings(
            settings, model=model, revision=revision, batch_size=batch_size, window=window, device=device,
            dtype=dtype, trust_remote_code=trust_remote_code, max_batch_tokens=max_batch_tokens))
        if text not in TEXT_VIEWS:
            raise UserError(f"classifier text {text!r} is not one of {', '.join(TEXT_VIEWS)}")
        self.text, self.column, self.label, self.max_length = text, column, label, max_length
        self.columns = (column,)

    def settings(self) -> dict[str, Any]:
        return {**self.base_settings(), "text": self.text, "label": self.label, "max_length": self.max_length}

    def score(self, conversations: list[list[Message]]) -> dict[str, list[Any]]:
        self.load()
        texts = [TEXT_VIEWS[self.text](m) for m in conversations]
        ids = self._tok(texts, truncation=True, max_length=self.max_length)["input_ids"]
        out = run_sorted(ids, [len(i) for i in ids], lambda b: classify(self, b, self.label),
                         self.model_settings.batch_size, self.batch_tokens)
        errors = [None if t.strip() else f"empty {self.text} text" for t in texts]
        return {self.column: [v if e is None else None for v, e in zip(out, errors, strict=True)],
                "classifier_error": errors}
