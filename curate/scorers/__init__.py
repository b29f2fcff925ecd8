"""The scorer registry: names to classes, imported lazily so ``heuristics`` never loads torch.

``build("lm")``, ``build({"name": "reward", "model": "Skywork/...", "aggregate": "min"})`` or an
already built scorer. Settings are the class's keyword arguments; an unknown one is a UserError that
lists the allowed keys, so a typo in a recipe never silently falls back to a default.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from curate.errors import UserError
from curate.scorers.base import Resources, Scorer, scorer_key

REGISTRY: dict[str, str] = {
    "heuristics": "curate.scorers.heuristics:HeuristicsScorer",
    "reward": "curate.scorers.reward:RewardScorer",
    "lm": "curate.scorers.lm:LMScorer",
    "embedding": "curate.scorers.embedding:EmbeddingScorer",
    "classifier": "curate.scorers.classifier:ClassifierScorer",
    "consistency": "curate.scorers.consistency:ConsistencyScorer",
    "texture": "curate.scorers.texture:TextureScorer",
}
# Names people reach for (and the issue text uses) that mean a registered scorer.
ALIASES: dict[str, str] = {"ifd": "lm", "ppl": "lm", "perplexity": "lm", "embed": "embedding", "edu": "classifier"}

__all__ = ["REGISTRY", "Resources", "Scorer", "available", "build", "get_class", "scorer_key"]


def available() -> list[str]:
    return sorted(REGISTRY)


def get_class(name: str) -> type:
    canonical = ALIASES.get(name, name)
    if canonical not in REGISTRY:
        raise UserError(f"unknown scorer {name!r}; available: {', '.join(available())}")
    module, _, cls = REGISTRY[canonical].partition(":")
    return getattr(importlib.import_module(module), cls)


def allowed_settings(cls: type) -> list[str]:
    """A spec's keys: the class's keywords, less ``settings`` (a ModelSettings object, for Python callers;
    a spec spells its fields flat)."""
    params = inspect.signature(cls).parameters.values()
    return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "settings"]


def build(spec: str | Mapping[str, Any] | Scorer) -> Scorer:
    """A scorer from a name, a settings dict with ``name``, or a scorer instance (returned as is)."""
    if isinstance(spec, str):
        return get_class(spec)()
    if isinstance(spec, Mapping):
        if "name" not in spec:
            raise UserError(f"scorer settings need a 'name' (one of {', '.join(available())}); got {dict(spec)}")
        cls = get_class(str(spec["name"]))
        kwargs = {k: v for k, v in spec.items() if k != "name"}
        allowed = allowed_settings(cls)
        for k in kwargs:
            if k not in allowed:
                raise UserError(
                    f"unknown setting {k!r} for scorer {spec['name']!r}; allowed: {', '.join(allowed)}"
                )
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as e:  # a bad value: say which scorer, not a traceback
            raise UserError(f"scorer {spec['name']!r}: {e}") from None
    if isinstance(spec, Scorer):
        return spec
    raise UserError(f"a scorer is a name, a settings dict or a Scorer, not {type(spec).__name__}")
