"""What every model scorer shares: device and dtype choice, model resolution and loading (one-line
errors instead of hub tracebacks), :class:`ModelSettings` (which model, where, in what batches) and
:class:`ModelScorer`, the lazy-loading base of the LM, reward and classifier scorers."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from curate.errors import UserError
from curate.models import resolve_model
from curate.scorers.base import Resources

T = TypeVar("T")


def resolve_device(device: str = "auto", mps: bool = False) -> str:
    """``auto`` -> ``cuda`` when a CUDA GPU is visible, else (with ``mps``: generation, whose kernels run
    there) Apple's ``mps`` when available, else ``cpu``."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    backend = getattr(torch.backends, "mps", None)
    return "mps" if mps and backend is not None and backend.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto`` -> bf16 on CUDA (fast, same range as fp32), fp32 on CPU (bf16 matmuls are slow there)."""
    allowed = ("auto", "float32", "bfloat16", "float16")
    if dtype not in allowed:
        raise UserError(f"dtype {dtype!r} is not one of {', '.join(allowed)}")
    if dtype != "auto":
        return dtype
    return "bfloat16" if resolve_device(device).startswith("cuda") else "float32"


def load_pretrained(loader: Callable[..., T], model: str, what: str, **kw: Any) -> T:
    """``loader.from_pretrained`` with a one-line UserError instead of a hub traceback."""
    path = resolve_model(model)
    try:
        return loader.from_pretrained(path, **kw)  # type: ignore[attr-defined]
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot load {what} {model!r}: {first}") from e


def fastest_attention() -> str:
    """``flash_attention_2`` when the flash-attn package is installed, else PyTorch's fused ``sdpa``."""
    import importlib.util

    return "flash_attention_2" if importlib.util.find_spec("flash_attn") is not None else "sdpa"


def gpu_batch_tokens(per_80gb: int, device: str) -> int:
    """A padded-token budget per batch scaled to the GPU's memory (the default is sized for 80 GB)."""
    import torch

    total = torch.cuda.get_device_properties(torch.device(device)).total_memory
    return max(2048, int(per_80gb * total / 80e9) // 256 * 256)


@dataclasses.dataclass(frozen=True)
class ModelSettings:
    """Which model a scorer runs and how: the settings every model scorer takes as keywords.

    ``window`` is the rows handed to ``score`` at once (sorted by length inside it);
    ``max_batch_tokens`` caps padded tokens per forward pass (None: sized to the device)."""

    model: str
    revision: str | None = None
    batch_size: int = 8
    window: int = 128
    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False
    max_batch_tokens: int | None = None


_FIELDS = frozenset(f.name for f in dataclasses.fields(ModelSettings))


class HoldsModelSettings:
    """A scorer whose model settings are one :class:`ModelSettings`; ``device`` stays assignable,
    since the scoring call's device applies to a scorer left on ``auto``."""

    name = "model"
    model_settings: ModelSettings

    def pick_settings(self, settings: ModelSettings | None, **given: Any) -> ModelSettings:
        """``settings``, or the model keywords ``given`` to ``__init__`` as one; a keyword changed from
        its default beside ``settings`` is an error, not silently dropped."""
        if settings is None:
            return ModelSettings(**given)
        params = inspect.signature(type(self)).parameters
        changed = [f"{k}=" for k, v in given.items() if v != params[k].default]
        if changed:
            raise TypeError(f"{self.name}: give settings= or {', '.join(changed)}, not both")
        return settings

    def __getattr__(self, name: str) -> Any:
        """The settings read as the scorer's own attributes (``scorer.model``, ``scorer.batch_size``)."""
        if name in _FIELDS and "model_settings" in self.__dict__:
            return getattr(self.model_settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def device(self) -> str:
        return self.model_settings.device

    @device.setter
    def device(self, value: str) -> None:
        self.model_settings = dataclasses.replace(self.model_settings, device=value)


class ModelScorer(HoldsModelSettings):
    """Plumbing every model scorer shares: lazy load, device/dtype choice, revision metadata.

    Subclasses set ``name``, ``columns``, ``auto_class`` (a transformers Auto class) and implement
    ``score``; ``settings()`` adds their number-changing fields to the model, revision and dtype.
    """

    columns: tuple[str, ...] = ()
    auto_class = "AutoModel"
    default_max_batch_tokens = {"cpu": 8192, "cuda": 65536}

    def __init__(self, settings: ModelSettings):
        if settings.batch_size < 1 or settings.window < 1:
            raise UserError(f"{self.name}: batch_size and window must be >= 1")
        self.model_settings = settings
        self.resources = Resources(device="auto", batch_size=settings.window)
        resolve_dtype(settings.dtype, "cpu")  # validate early
        self._tok: Any = None
        self._model: Any = None

    def base_settings(self) -> dict[str, Any]:
        s = self.model_settings
        return {"model": s.model, "revision": s.revision, "dtype": resolve_dtype(s.dtype, s.device)}

    @property
    def batch_tokens(self) -> int:
        dev = resolve_device(self.device)
        if self.model_settings.max_batch_tokens:
            return self.model_settings.max_batch_tokens
        if dev.startswith("cuda"):
            return gpu_batch_tokens(self.default_max_batch_tokens["cuda"], dev)
        return self.default_max_batch_tokens["cpu"]

    def load(self) -> None:
        """Load tokenizer and model once (first ``score`` call or an explicit call)."""
        if self._model is not None:
            return
        import torch
        import transformers

        s = self.model_settings
        kw = {"revision": s.revision, "trust_remote_code": s.trust_remote_code}
        tok = load_pretrained(transformers.AutoTokenizer, s.model, f"{self.name} tokenizer", **kw)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        auto = getattr(transformers, self.auto_class)
        dtype = getattr(torch, resolve_dtype(s.dtype, s.device))
        if resolve_device(s.device).startswith("cuda"):
            kw["attn_implementation"] = fastest_attention()
        model = load_pretrained(auto, s.model, f"{self.name} model", dtype=dtype, **kw)
        if getattr(model.config, "pad_token_id", None) is None:
            model.config.pad_token_id = tok.pad_token_id
        self._device = resolve_device(s.device)
        self._tok, self._model = tok, model.to(self._device).eval()

    def meta(self) -> dict[str, Any]:
        self.load()
        s = self.model_settings
        return {"model_path": resolve_model(s.model),
                "model_revision": s.revision or getattr(self._model.config, "_commit_hash", None),
                "device": self._device}
