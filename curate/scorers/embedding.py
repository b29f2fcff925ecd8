"""Sentence embeddings of each conversation and of its instruction, plus their agreement score.

``backend="torch"`` runs the sentence-transformers model as is (default: the shipped MiniLM).
``backend="static"`` is the fast CPU path: a model2vec static model distilled once, offline, from
the same model (token embeddings averaged, no transformer at run time; tens of times faster, with
the agreement measured in benchmarks/bench_embedding.py). Both are L2-normalized and stored as
float16; ``embed_sim`` is the cosine of the instruction and the response embeddings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from curate.errors import UserError
from curate.models import resolve_model
from curate.rundir import fingerprint
from curate.schema import Message, conversation_text, instruction_text, response_text
from curate.scorers.base import Resources
from curate.scorers.model import HoldsModelSettings, ModelSettings, resolve_device, resolve_dtype

BACKENDS = ("torch", "static", "onnx")


def distilled_dir(model: str, pca_dims: int | None) -> Path:
    """The model2vec distillation of ``model``, built on first use and cached (offline)."""
    import shutil
    import tempfile

    from curate.models import cache_dir

    path = resolve_model(model)
    target = cache_dir() / "models" / "model2vec" / f"{Path(path).name}-{fingerprint(path, pca_dims)[:8]}"
    if (target / "config.json").exists():
        return target
    from curate._optional import require

    static = require("model2vec.distill").distill(model_name=path, pca_dims=pca_dims)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    static.save_pretrained(str(tmp))
    try:
        tmp.rename(target)
    except OSError:  # another process finished first; its copy is as good
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class EmbeddingScorer(HoldsModelSettings):
    name = "embedding"
    columns = ("embedding", "instruction_embedding", "embed_sim")

    def __init__(self, model: str = "minilm", revision: str | None = None, backend: str = "torch",
                 pca_dims: int | None = 256, max_length: int | None = None, batch_size: int = 64,
                 window: int = 1024, device: str = "auto", dtype: str = "auto", *,
                 settings: ModelSettings | None = None):
        if backend not in BACKENDS:
            raise UserError(f"embedding backend {backend!r} is not one of {', '.join(BACKENDS)}")
        self.model_settings = self.pick_settings(settings, model=model, revision=revision, batch_size=batch_size,
                                                 window=window, device=device, dtype=dtype)
        unused = [k for k in ("trust_remote_code", "max_batch_tokens") if getattr(self.model_settings, k)]
        if unused:
            raise UserError(f"embedding: settings {', '.join(unused)} do not apply to sentence-transformers models")
        self.backend, self.pca_dims, self.max_length = backend, pca_dims, max_length
        self.resources = Resources(device="cpu" if backend == "static" else "auto",
                                   batch_size=self.model_settings.window)
        resolve_dtype(self.model_settings.dtype, "cpu")
        self._encoder: Any = None

    def settings(self) -> dict[str, Any]:
        m = self.model_settings
        s: dict[str, Any] = {"model": m.model, "revision": m.revision, "backend": self.backend,
                             "max_length": self.max_length}
        if self.backend == "static":
            s["pca_dims"] = self.pca_dims
        else:
            s["dtype"] = resolve_dtype(m.dtype, m.device)
        return s

    def load(self) -> None:
        if self._encoder is not None:
            return
        if self.backend == "static":
            from model2vec import StaticModel

            self._encoder = StaticModel.from_pretrained(str(distilled_dir(self.model_settings.model, self.pca_dims)))
            return
        from sentence_transformers import SentenceTransformer

        m = self.model_settings
        path = resolve_model(m.model)
        device = resolve_device(m.device)
        kw: dict[str, Any] = {"device": device, "revision": m.revision}
        if self.backend == "onnx":
            kw["backend"] = "onnx"
        else:
            import torch

            kw["model_kwargs"] = {"dtype": getattr(torch, resolve_dtype(m.dtype, m.device))}
        try:
            st = SentenceTransformer(path, **kw)
        except (OSError, ValueError, ImportError) as e:
            raise UserError(f"cannot load embedding model {m.model!r}: {str(e).strip().splitlines()[0]}") from e
        if self.max_length:
            st.max_seq_length = self.max_length
        self._encoder = st

    def meta(self) -> dict[str, Any]:
        m = self.model_settings
        return {"model_path": resolve_model(m.model), "model_revision": m.revision}

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalized float32 embeddings (rows of zeros stay zero)."""
        self.load()
        if self.backend == "static":
            emb = np.asarray(self._encoder.encode(texts, batch_size=1024, max_length=self.max_length or 512),
                             dtype=np.float32)
        else:
            emb = self._encoder.encode(texts, batch_size=self.model_settings.batch_size, convert_to_numpy=True,
                                       show_progress_bar=False).astype(np.float32)
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        return emb / np.where(norms > 0, norms, 1.0)

    def score(self, conversations: list[list[Message]]) -> dict[str, list[Any]]:
        n = len(conversations)
        convo = [conversation_text(m) for m in conversations]
        instr = [instruction_text(m) for m in conversations]
        resp = [response_text(m) for m in conversations]
        emb = self.encode(convo + instr + resp)  # one call: the encoder sorts all texts by length
        c, i, r = emb[:n], emb[n:2 * n], emb[2 * n:]
        has_i = [bool(t.strip()) for t in instr]
        has_r = [bool(t.strip()) for t in resp]
        sim = (i * r).sum(1)
        return {
            "embedding": [row.astype(np.float16) for row in c],
            "instruction_embedding": [i[k].astype(np.float16) if has_i[k] else None for k in range(n)],
            "embed_sim": [float(sim[k]) if has_i[k] and has_r[k] else None for k in range(n)],
        }
