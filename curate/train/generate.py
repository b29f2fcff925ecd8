"""Answers from the model variants of a run, shared by the evaluation and the Streamlit app.

A run's variants are the base model plus one LoRA adapter per ``RUN/models/<name>/adapter/``. The
base model and tokenizer load once; every adapter is loaded into the same ``PeftModel`` under its
own name and switched with ``set_adapter`` (or disabled for "base"), so memory stays at one model
plus a few megabytes per adapter, however many variants there are.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import UserError
from curate.rundir import ModelFiles, RunDir
from curate.scorers.model import resolve_device
from curate.train.config import Sampling

BASE = "base"
DEFAULT_BASE_MODEL = "smollm2"


@dataclass
class Variant:
    """One answerable model: the base model, or the base plus a LoRA adapter trained on a subset."""

    name: str
    base_model: str
    adapter: Path | None = None
    subset: str | None = None
    rows: int | None = None

    @property
    def label(self) -> str:
        """The short label of pickers and exports: the name, the subset it was trained on and its size."""
        if self.adapter is None:
            return f"{self.name} (no fine-tuning)"
        bits = [b for b in (self.subset, self._size) if b]
        return f"{self.name} ({', '.join(bits)})" if bits else self.name

    @property
    def description(self) -> str:
        """The same facts as a phrase for someone who has not read the docs (under a column's title)."""
        if self.adapter is None:
            return "the base model, no fine-tuning"
        return f"LoRA trained on subset `{self.subset or self.name}`" + (f", {self._size}" if self._size else "")

    @property
    def _size(self) -> str | None:
        return f"{self.rows:,} rows" if self.rows is not None else None


@dataclass
class GenerationStats:
    """How long the last answer took: new tokens, wall seconds, tokens per second."""

    variant: str
    tokens: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Answer:
    """One answer of a batch, filled in place while it is sampled so another thread can show it.

    ``finish`` is None while sampling, then "eos" (the model ended it), "length" (it hit
    ``max_new_tokens``: cut), "stopped" (``stop_requested`` was set) or "error" (``error`` says why).
    """

    variant: str
    text: str = ""
    tokens: int = 0
    seconds: float = 0.0
    first_token_s: float | None = None
    finish: str | None = None
    error: str | None = None
    stop_requested: bool = False
    _ids: list[int] = field(default_factory=list, repr=False)

    @property
    def done(self) -> bool:
        return self.finish is not None

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def _read_metrics(files: ModelFiles) -> dict:
    path = files.metrics
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}  # the adapter itself is checked when it loads; metrics only add labels
    return data if isinstance(data, dict) else {}


def list_variants(run_dir: str | Path, base_model: str | None = None) -> list[Variant]:
    """"base" plus one variant per ``RUN/models/<name>/adapter/`` folder, sorted by name.

    The base model is ``base_model`` when given (the user's explicit choice), else the one recorded
    in the adapters' ``metrics.json``, else the offline default ``smollm2``. Broken adapter folders
    are still listed: they fail with a ``UserError`` when loaded, so the app can say which one.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise UserError(f"run directory not found: {run}")
    found: list[tuple[str, Path, dict]] = []
    rd = RunDir(run)
    if rd.models_dir.is_dir():
        for d in sorted(p for p in rd.models_dir.iterdir() if p.is_dir()):
            files = rd.model_files(d.name)
            if files.adapter.is_dir() and d.name != BASE:
                found.append((d.name, files.adapter, _read_metrics(files)))
    recorded = next((m["base_model"] for _, _, m in found if m.get("base_model")), None)
    base = base_model or recorded or DEFAULT_BASE_MODEL
    variants = [Variant(BASE, base)]
    for name, adapter, m in found:
        rows = m.get("rows")
        variants.append(Variant(
            name=name,
            base_model=base_model or m.get("base_model") or base,
            adapter=adapter,
            subset=m.get("subset"),
            rows=int(rows) if isinstance(rows, (int, float)) else None,
        ))
    return variants


def _check_adapter(variant: Variant) -> None:
    """Fail early with a readable message instead of a half-loaded adapter."""
    path = variant.adapter
    assert path is not None
    if not (path / "adapter_config.json").exists():
        raise UserError(f"broken adapter folder for variant {variant.name!r}: no adapter_config.json in {path}")
    weights = [p for p in (path / "adapter_model.safetensors", path / "adapter_model.bin") if p.exists()]
    if not weights:
        raise UserError(f"broken adapter folder for variant {variant.name!r}: no adapter_model weights in {path}")
    try:
        json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
        if weights[0].suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(weights[0]), framework="pt") as f:
                list(f.keys())
    except Exception as e:  # corrupt JSON or weights: the user can fix or delete the folder
        raise UserError(f"broken adapter folder for variant {variant.name!r} ({path}): {e}") from e


class _Base:
    """One loaded base model (and the PeftModel wrapping it once the first adapter loads)."""

    def __init__(self, name_or_path: str, device: str):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from curate.models import resolve

        try:
            path = resolve(name_or_path)
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            dtype = torch.bfloat16 if device == "cuda" else torch.float32
            self.model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
        except (OSError, ValueError) as e:
            raise UserError(f"cannot load base model {name_or_path!r}: {e}") from e
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise UserError(f"base model {name_or_path!r} has no chat template; pick an instruct/chat model")
        self.device = device
        self.adapters: set[str] = set()
        self.is_peft = False

    def activate(self, variant: Variant) -> None:
        """Make ``variant`` the active adapter, loading it on first use."""
        if variant.adapter is None:
            return
        if variant.name not in self.adapters:
            _check_adapter(variant)
            from peft import PeftModel

            try:
                if not self.is_peft:
                    self.model = PeftModel.from_pretrained(self.model, str(variant.adapter),
                                                           adapter_name=variant.name).eval()
                    self.is_peft = True
                else:
                    self.model.load_adapter(str(variant.adapter), adapter_name=variant.name)
            except Exception as e:  # mismatched shapes/targets: an adapter for another base model
                raise UserError(f"cannot load adapter {variant.name!r} from {variant.adapter} "
                                f"onto {variant.base_model!r}: {e}") from e
            self.adapters.add(variant.name)
        self.model.set_adapter(variant.name)


class _BatchStreamer:
    """A ``generate`` streamer for a batch: decodes each row's new tokens into its ``Answer``."""

    def __init__(self, tokenizer: Any, answers: list[Answer], eos_ids: set[int], max_new_tokens: int):
        self.tokenizer, self.answers, self.eos_ids = tokenizer, answers, eos_ids
        self.max_new_tokens = max_new_tokens
        self.start = time.perf_counter()
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # the first call carries the prompts
            self.prompt_seen = True
            return
        now = time.perf_counter() - self.start
        for answer, token in zip(self.answers, value.reshape(len(self.answers), -1)[:, -1].tolist(), strict=True):
            if answer.done:
                continue
            if answer.stop_requested:
                answer.finish = "stopped"
            elif token in self.eos_ids:
                answer.finish = "eos"
            else:
                answer._ids.append(token)
                answer.tokens += 1
                answer.text = self.tokenizer.decode(answer._ids, skip_special_tokens=True)
                if answer.first_token_s is None:
                    answer.first_token_s = now
            answer.seconds = now

    def end(self) -> None:
        now = time.perf_counter() - self.start
        for a in self.answers:
            if not a.done:
                a.finish = "stopped" if a.stop_requested else "length" if a.tokens >= self.max_new_tokens else "eos"
                a.seconds = now


def _stop_requested(answers: list[Answer]) -> Any:
    """A stopping criterion that ends each row whose ``Answer.stop_requested`` is set."""
    import torch
    from transformers import StoppingCriteria

    class StopRequested(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.tensor([a.stop_requested for a in answers], device=input_ids.device)

    return StopRequested()


class Generator:
    """Generate answers for any variant from one loaded base model with switchable adapters.

    Thread-safe: the app shares one instance between browser sessions, so each generation holds a
    lock while it switches the adapter and samples.
    """

    def __init__(self, variants: list[Variant], device: str = "auto"):
        if not variants:
            raise UserError("no model variants to generate with")
        self.variants = {v.name: v for v in variants}
        self.device = resolve_device(device, mps=True)
        self._bases: dict[str, _Base] = {}
        self._load_lock = threading.RLock()  # guards the dict of loaded base models
        self._lock = threading.Lock()  # held for a whole generation (released by its worker thread)
        self._local = threading.local()
        for v in variants:  # load base models now (normally just one); adapters load on first use
            self._base(v)

    def _base(self, v: Variant) -> _Base:
        with self._load_lock:
            if v.base_model not in self._bases:
                self._bases[v.base_model] = _Base(v.base_model, self.device)
            return self._bases[v.base_model]

    def variant(self, name: str) -> Variant:
        try:
            return self.variants[name]
        except KeyError:
            raise UserError(f"unknown variant {name!r}; known: {', '.join(self.variants)}") from None

    def load(self, name: str) -> None:
        """Load ``name``'s adapter now (raises ``UserError`` for a broken folder)."""
        v = self.variant(name)
        with self._lock:
            self._base(v).activate(v)

    @property
    def last_stats(self) -> GenerationStats | None:
        """Tokens and seconds of the last answer generated by the calling thread."""
        return getattr(self._local, "stats", None)

    @staticmethod
    def _check(messages: list[dict]) -> None:
        if not messages or not any(str(m.get("content", "")).strip() for m in messages):
            raise UserError("the prompt is empty; type a question first")

    @staticmethod
    def _sampling(base: _Base, s: Sampling) -> dict[str, Any]:
        """``generate`` keywords: min_p alone filters the tokens (top_k and top_p off); greedy at 0."""
        kwargs: dict[str, Any] = {"max_new_tokens": int(s.max_new_tokens), "pad_token_id": base.tokenizer.pad_token_id}
        if s.temperature > 0:
            kwargs.update(do_sample=True, temperature=float(s.temperature), min_p=float(s.min_p) or None, top_k=0,
                          top_p=1.0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    @staticmethod
    def _keep_tail(base: _Base, enc: Any, max_new_tokens: int) -> dict[str, Any]:
        """Keep the end of a long chat rather than crash past the model's position limit."""
        limit = getattr(base.model.config, "max_position_embeddings", None)
        keep = max(1, int(limit) - max_new_tokens) if limit else None
        return {k: (enc[k][:, -keep:] if keep else enc[k]).to(base.device)
                for k in ("input_ids", "attention_mask") if k in enc}

    def _prepare(self, name: str, messages: list[dict], s: Sampling) -> tuple[_Base, dict]:
        v = self.variant(name)
        self._check(messages)
        base = self._base(v)
        enc = base.tokenizer.apply_chat_template(
            [{"role": m["role"], "content": m["content"]} for m in messages],
            add_generation_prompt=True, return_tensors="pt", return_dict=True,
        )
        kwargs = self._keep_tail(base, enc, s.max_new_tokens)
        kwargs.update(self._sampling(base, s))
        if s.seed is not None:
            import torch

            torch.manual_seed(int(s.seed))
        base.activate(v)
        return base, kwargs

    def _run(self, base: _Base, v: Variant, kwargs: dict) -> Any:
        import torch

        with torch.inference_mode():
            if v.adapter is None and base.is_peft:
                with base.model.disable_adapter():
                    return base.model.generate(**kwargs)
            return base.model.generate(**kwargs)

    def generate(self, variant_name: str, messages: list[dict], *, sampling: Sampling | None = None,
                 **overrides: Any) -> str:
        """The whole answer of ``variant_name`` to a chat (list of ``{role, content}``); ``sampling``
        (default ``Sampling()``) with any of its fields overridden by keyword (``max_new_tokens=64``)."""
        return "".join(self.stream(variant_name, messages, sampling=sampling, **overrides))

    def stream(self, variant_name: str, messages: list[dict], *, sampling: Sampling | None = None,
               **overrides: Any) -> Iterator[str]:
        """Yield the answer in text pieces as they are sampled: the exported model's chat
        (``curate.app.chat``, through ``st.write_stream``) and ``generate``; the run app's pages use
        ``generate_batch``. Settings as in ``generate``.

        Bad input raises ``UserError`` on the first ``next()``; stats land in ``last_stats``.
        """
        from transformers import TextIteratorStreamer

        v = self.variant(variant_name)
        s = (sampling or Sampling()).override(**overrides)
        start = time.perf_counter()
        self._lock.acquire()
        try:
            base, kwargs = self._prepare(variant_name, messages, s)
        except BaseException:
            self._lock.release()
            raise
        streamer = TextIteratorStreamer(base.tokenizer, skip_prompt=True, skip_special_tokens=True)
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                result["out"] = self._run(base, v, {**kwargs, "streamer": streamer})
            except BaseException as e:  # re-raised in the consumer; unblock it first
                result["error"] = e
                streamer.end()
            finally:
                self._lock.release()

        thread = threading.Thread(target=work, name=f"generate-{variant_name}", daemon=True)
        thread.start()
        yield from streamer
        thread.join()
        if "error" in result:
            raise result["error"]
        new = int(result["out"].shape[1] - kwargs["input_ids"].shape[1])
        self._local.stats = GenerationStats(variant_name, new, time.perf_counter() - start)

    def generate_batch(self, requests: Sequence[tuple[str, list[dict]]], *, sampling: Sampling | None = None,
                       answers: list[Answer] | None = None, **overrides: Any) -> list[Answer]:
        """Answer several ``(variant, chat)`` requests at once: one batched ``generate`` per base model.

        Every row runs under its own adapter (PEFT mixed-adapter batches), so N variants take about
        the time of one answer instead of N. ``answers`` (one per request) fill in place as tokens
        arrive, for a UI thread to show, and each stops on its own when ``stop_requested`` is set.
        Settings as in ``generate``; ``seed`` seeds the batch once. Bad settings raise ``UserError``;
        a variant that cannot load ends as ``finish == "error"``.
        """
        s = (sampling or Sampling()).override(**overrides)
        answers = answers if answers is not None else [Answer(name) for name, _ in requests]
        if len(answers) != len(requests):
            raise ValueError("generate_batch needs one Answer per request")
        for name, messages in requests:
            self.variant(name)
            self._check(messages)
        groups: dict[str, list[int]] = {}
        for i, (name, _) in enumerate(requests):
            groups.setdefault(self.variant(name).base_model, []).append(i)
        with self._lock:
            if s.seed is not None:
                import torch

                torch.manual_seed(int(s.seed))
            for rows in groups.values():
                self._batch(self._bases[self.variant(requests[rows[0]][0]).base_model],
                            [requests[i] for i in rows], [answers[i] for i in rows], s)
        return answers

    def _batch(self, base: _Base, requests: list[tuple[str, list[dict]]], answers: list[Answer],
               s: Sampling) -> None:
        """One ``generate`` over the rows whose adapter loads; the others end with their error."""
        live = []
        for i, (name, _) in enumerate(requests):
            if answers[i].stop_requested:  # stopped (or replaced) before it started
                answers[i].finish = "stopped"
                continue
            try:
                base.activate(self.variant(name))
                live.append(i)
            except UserError as e:
                answers[i].finish, answers[i].error = "error", str(e)
        if not live:
            return
        import torch
        from transformers import StoppingCriteriaList

        tok = base.tokenizer
        texts = [tok.apply_chat_template([{"role": m["role"], "content": m["content"]} for m in requests[i][1]],
                                         add_generation_prompt=True, tokenize=False) for i in live]
        enc = tok(texts, padding=True, padding_side="left", add_special_tokens=False, return_tensors="pt")
        kwargs = self._keep_tail(base, enc, s.max_new_tokens)
        kwargs.update(self._sampling(base, s))
        rows = [answers[i] for i in live]
        variants = [self.variant(requests[i][0]) for i in live]
        eos = base.model.generation_config.eos_token_id
        eos_ids = {tok.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None}
        kwargs.update(streamer=_BatchStreamer(tok, rows, eos_ids, s.max_new_tokens),
                      stopping_criteria=StoppingCriteriaList([_stop_requested(rows)]))
        if len({v.name for v in variants}) > 1 and base.is_peft:  # mixed batch: each row its own adapter
            kwargs["adapter_names"] = ["__base__" if v.adapter is None else v.name for v in variants]
        try:
            if "adapter_names" in kwargs:
                with torch.inference_mode():
                    base.model.generate(**kwargs)
            else:
                self._run(base, variants[0], kwargs)
        except Exception as e:  # out of memory, a device error: every row of this batch says so
            for a in rows:
                a.finish, a.error = "error", f"generation failed: {e}"
            raise
