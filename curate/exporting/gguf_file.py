"""A merged Llama-architecture model (SmolLM2, Llama-3.x: ``LlamaForCausalLM``) as a GGUF file, written
with the ``gguf`` package's ``GGUFWriter`` on CPU: no llama.cpp checkout, no network.

It follows llama.cpp's ``convert_hf_to_gguf.py`` for Llama: its tensor names (``gguf.get_tensor_name_map``),
q_proj/k_proj rows permuted to llama.cpp's rotary layout (transformers' GGUF loader undoes exactly this,
``LlamaTensorProcessor._reverse_permute_weights``), 1-D tensors (norms) kept in F32, no ``output.weight``
when the embeddings are tied, ``rope_freqs.weight`` for Llama-3.1+ rope scaling, and the metadata keys
llama.cpp reads (``llama.*``, ``tokenizer.ggml.*``, ``tokenizer.chat_template``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from curate.errors import UserError

# --gguf value -> (tensor type of the 2-D weights, general.file_type)
TYPES = {"f32": ("F32", "ALL_F32"), "f16": ("F16", "MOSTLY_F16"), "bf16": ("BF16", "MOSTLY_BF16"),
         "q8_0": ("Q8_0", "MOSTLY_Q8_0")}


def parse_types(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """``"q8_0,f16"`` (or a list) as checked GGUF type names, in order, without repeats.

    Raises:
        UserError: an unknown type (the message lists the known ones).
    """
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in (i.strip().lower() for i in items if i.strip()):
        if item not in TYPES:
            raise UserError(f"unknown GGUF type {item!r}; use one or more of {', '.join(TYPES)} (e.g. q8_0,f16)")
        if item not in out:
            out.append(item)
    return out


def permute(weights: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp's q/k row order for its rotary kernel (``LlamaModel.permute`` in convert_hf_to_gguf.py)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _rope(config: Any) -> dict:
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    theta = params.get("rope_theta", getattr(config, "rope_theta", 10000.0))
    return {"type": params.get("rope_type", params.get("type", "default")) or "default", "theta": float(theta), **params}


def llama3_rope_factors(config: Any, head_dim: int) -> np.ndarray:
    """The per-frequency factors llama.cpp stores as ``rope_freqs.weight`` for ``rope_type: llama3``."""
    rope = _rope(config)
    freqs = 1.0 / (rope["theta"] ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    factor, low, high = rope.get("factor", 8.0), rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
    old = rope.get("original_max_position_embeddings", 8192)
    low_wavelen, high_wavelen = old / low, old / high
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)


def _add_model_metadata(writer: Any, config: Any, name: str, file_type: str) -> int:
    """The ``llama.*`` and ``general.*`` keys; returns the head dimension."""
    import gguf

    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads or config.num_attention_heads)
    writer.add_rope_freq_base(_rope(config)["theta"])
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(getattr(gguf.LlamaFileType, file_type))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    return head_dim


def _encode(array: np.ndarray, kind: str) -> tuple[np.ndarray, Any]:
    """``(data, raw tensor type or None)``: 2-D weights in ``kind``; 1-D tensors stay F32 as in llama.cpp."""
    import gguf

    qtype = getattr(gguf.GGMLQuantizationType, TYPES[kind][0])
    if array.ndim < 2 or kind == "f32":
        return array.astype(np.float32), None
    if kind == "f16":
        return array.astype(np.float16), None
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    if array.shape[-1] % block:
        return array.astype(np.float16), None  # rows not a whole number of blocks: F16, as llama.cpp falls back
    return gguf.quants.quantize(array.astype(np.float32), qtype), qtype


def _tensors(model: Any, config: Any) -> list[tuple[str, np.ndarray]]:
    """GGUF names and float32 arrays of the model's weights (q/k permuted, tied output left out)."""
    import gguf

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    n_head, n_kv = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    tied = bool(getattr(config, "tie_word_embeddings", False))
    out = []
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and tied:
            continue
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise UserError(f"GGUF export: no llama.cpp name for tensor {hf_name!r}")
        array = tensor.detach().float().cpu().numpy()
        if hf_name.endswith("q_proj.weight"):
            array = permute(array, n_head, n_head)
        elif hf_name.endswith("k_proj.weight"):
            array = permute(array, n_head, n_kv)
        out.append((name, array))
    return out


def write_gguf(model_dir: str | Path, out: str | Path, kind: str = "q8_0", name: str | None = None) -> Path:
    """Write the merged model in ``model_dir`` to ``out`` as GGUF of type ``kind``.

    Args:
        model_dir: a ``LlamaForCausalLM`` folder (``save_pretrained``) with its fast tokenizer.
        out: the ``.gguf`` path to write.
        kind: ``f32``, ``f16``, ``bf16`` or ``q8_0`` (the 2-D weights; norms stay F32).
        name: ``general.name`` (default: the folder's name).
    Returns:
        ``out``.
    Raises:
        UserError: not a Llama-architecture model, an unknown ``kind``, or a tokenizer GGUF cannot hold.
    """
    import gguf
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from curate.exporting.gguf_vocab import add_vocab, read_vocab

    kind = parse_types(kind)[0]
    config = AutoConfig.from_pretrained(model_dir)
    if config.model_type != "llama":
        raise UserError(f"GGUF export supports the Llama architecture (SmolLM2, Llama-3.x); this model is "
                        f"{config.model_type!r}: use the merged safetensors folder instead")
    eos = config.eos_token_id[0] if isinstance(config.eos_token_id, list) else config.eos_token_id
    vocab = read_vocab(model_dir, config.vocab_size, eos)
    template = getattr(AutoTokenizer.from_pretrained(model_dir), "chat_template", None)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    writer = gguf.GGUFWriter(str(out), "llama")
    head_dim = _add_model_metadata(writer, config, name or Path(model_dir).name, TYPES[kind][1])
    add_vocab(writer, vocab, template)
    if _rope(config)["type"] == "llama3":
        writer.add_tensor("rope_freqs.weight", llama3_rope_factors(config, head_dim))
    for tensor_name, array in _tensors(model, config):
        data, raw = _encode(array, kind)
        writer.add_tensor(tensor_name, data, raw_dtype=raw)
    del model
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(out)
