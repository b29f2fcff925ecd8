"""Training, evaluation and sampling settings in validated objects, so a typo in a key is an error and not
a silent default.

The defaults follow the Unsloth Llama-3.2 conversational notebook (r=16, alpha=16, dropout 0, every
attention and MLP projection, lr 2e-4 linear with 5 warmup steps, batch 2 x grad-accum 4, weight decay
0.01, seed 3407, 60 steps, max length 2048, loss on assistant turns only).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from curate.errors import UserError

TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class TrainConfig(BaseModel):
    """Everything that changes a trained adapter (and so its fingerprint)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    model: str = "smollm2"
    r: int = Field(16, gt=0)
    lora_alpha: int | None = Field(16, gt=0, description="None: alpha = r (scale 1), as in rank grids")
    lora_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: list(TARGET_MODULES))
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler_type: str = "linear"
    warmup_steps: int = Field(5, ge=0)
    batch_size: int = Field(2, gt=0)
    grad_accum: int = Field(4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    seed: int = 3407
    optim: str = Field("auto", description="auto: adamw_8bit with unsloth, adamw_torch otherwise")
    max_steps: int = Field(60, gt=0)
    max_length: int = Field(2048, gt=8)
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share of the subset held out for eval loss")
    max_val_rows: int = Field(64, ge=0)
    eval_steps: int | None = Field(None, gt=0, description="None: about 5 evaluations per run")
    backend: Literal["auto", "trl", "unsloth"] = "auto"
    load_in_4bit: bool = False
    gradient_checkpointing: bool | None = Field(
        None, description="None: on with CUDA (memory), off on CPU (TRL's default of on costs ~1/3 more compute)")
    merge: bool = Field(False, description="also save a merged 16-bit model next to the adapter")

    @field_validator("target_modules")
    @classmethod
    def _nonempty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("target_modules must name at least one module")
        return v

    @property
    def alpha(self) -> int:
        return self.lora_alpha if self.lora_alpha is not None else self.r

    @property
    def effective_eval_steps(self) -> int:
        return self.eval_steps or max(1, self.max_steps // 5)


@dataclass(frozen=True)
class Sampling:
    """How ``train.generate.Generator`` samples an answer; ``temperature`` 0 is greedy, ``seed`` None is
    unseeded. Checked when made, so a bad setting is a ``UserError`` before any model runs."""

    max_new_tokens: int = 256
    temperature: float = 0.7
    min_p: float = 0.1
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise UserError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0 or not 0 <= self.min_p < 1:
            raise UserError(f"need temperature >= 0 and 0 <= min_p < 1, got {self.temperature}, {self.min_p}")

    def override(self, **changes: Any) -> Sampling:
        """A copy with ``changes``: the ``max_new_tokens=``, ``temperature=``, ... keywords of the generator."""
        return replace(self, **changes) if changes else self


class EvaluateConfig(BaseModel):
    """The recipe's ``train.evaluate:`` block and the settings of ``train.evaluate.evaluate_run``,
    validated with the recipe so a typo fails before training, not after it."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    judge: str = Field("lm:smollm2", description="'lm:<model>' or 'reward:<model>'")
    prompts: str | None = Field(None, description="prompt file (JSONL/JSON); default: the bundled prompt set")
    n_prompts: int | None = Field(None, gt=0, description="use the first N prompts")
    max_new_tokens: int = Field(128, gt=0)
    variants: list[str] | None = Field(None, description="variants to compare (default: every trained one)")
    base_model: str | None = None
    temperature: float = Field(0.7, ge=0.0)
    min_p: float = Field(0.1, ge=0.0, lt=1.0)
    seed: int = 0
    heldout_rows: int = Field(64, ge=0)
    heldout_max_length: int = Field(1024, gt=8)
    device: str = "auto"
    tie_margin: float = Field(0.01, ge=0.0)

    @property
    def sampling(self) -> Sampling:
        """The answers' sampling settings (each prompt adds its position to ``seed``)."""
        return Sampling(self.max_new_tokens, self.temperature, self.min_p, self.seed)
