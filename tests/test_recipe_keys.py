"""Every recipe key acts. The test walks the Recipe schema (every leaf field of every sub-model) and, for
each key, sets a non-default value and checks that something observable changes: the run's outputs, the
arguments that reach the code doing the work (MinHash, semantic search, the hub loader, the executor,
training, evaluation) or a recorded setting (scorer keys, the run directory). A key with no entry in
CASES, or whose value changes nothing, fails."""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import typing
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import sharegpt
from pydantic import BaseModel

import curate
from curate.recipe import Recipe, parse

SEMANTIC = {"dedup.methods": ["exact", "near", "semantic"]}
RAY = {"executor": "ray"}
SUBSET = "subsets.0."
DIVERSE = {SUBSET + "diversity": {"threshold": 0.99}}
QUOTAS = {SUBSET + "quotas": {"column": "source", "max": {"alpha": 3}}}
# a proxy of a heuristics column on the fake embeddings: distils in a fraction of a second, no model
PROXY = {"column": "assistant_chars", "features": ["embedding-fake"], "sample": 12}
PROXIED = {"proxies": [PROXY]}
ACTIVE = {"proxies": [PROXY | {"active": {}}]}
# a detector on the 22 valid rows, with a junk_prob filter so its scores reach the subset
DETECT = {"detector": {"copies": 1.8, "kinds": ["loop", "truncated", "refusal", "misaligned"]},
          SUBSET + "filter": "junk_prob < 0.5"}
# key -> (non-default value, overrides of the base recipe that the key needs to act)
CASES: dict[str, tuple[typing.Any, dict]] = {
    "name": ("other", {}),
    "input.source": ("SECOND", {}),
    "input.format": ("sharegpt", {"input.source": "SECOND"}),
    "input.limit": (12, {}),
    "input.split": ("test", {"input.source": "someone/hub-dataset"}),
    "input.chunk_rows": (7, {}),
    "input.repairs": ([], {}),
    "run_dir": ("elsewhere", {}),
    "executor": ("ray", {}),
    "executor_settings.workers": (2, {}),
    "executor_settings.actors": (2, RAY),
    "executor_settings.flush_rows": (10, RAY),
    "executor_settings.init_kwargs": ({"num_cpus": 1}, RAY),
    "scorers": (["heuristics", {"name": "embedding", "backend": "static"}], {}),
    "validity": (["role_order"], {}),
    "dedup.methods": (["exact"], {}),
    "dedup.keep": ("longest", {}),
    "dedup.near.threshold": (0.5, {}),
    "dedup.near.floor": (0.2, {}),
    "dedup.near.num_perm": (64, {}),
    "dedup.near.ngram": (5, {}),
    "dedup.near.method": ("minhash", {}),
    "dedup.near.shingle": ("char", {}),
    "dedup.near.seed": (1, {}),
    "dedup.near.verify": ("exact", {}),
    "dedup.near.false_positive_weight": (0.9, {}),
    "dedup.near.chunk_rows": (5, {}),
    "dedup.semantic.threshold": (0.9, SEMANTIC),
    "dedup.semantic.floor": (0.5, SEMANTIC),
    "dedup.semantic.k": (2, {**SEMANTIC, "dedup.semantic.backend": "usearch"}),
    "dedup.semantic.backend": ("kmeans", SEMANTIC),
    "dedup.semantic.exact_max_rows": (5, SEMANTIC),
    "dedup.semantic.clusters": (2, {**SEMANTIC, "dedup.semantic.backend": "kmeans"}),
    "dedup.semantic.probes": (1, {**SEMANTIC, "dedup.semantic.backend": "kmeans"}),
    "dedup.semantic.seed": (1, {**SEMANTIC, "dedup.semantic.backend": "kmeans"}),
    "dedup.semantic.embedding": ("other", SEMANTIC),
    "dedup.semantic.column": ("alt", SEMANTIC),
    SUBSET + "name": ("renamed", {}),
    SUBSET + "baseline": ("random", {SUBSET + "rank": None}),
    SUBSET + "filter": ("turns > 2", {}),
    SUBSET + "rank": ({"user_chars": 1.0}, {}),
    SUBSET + "normalize": ("zscore", {}),
    SUBSET + "budget.rows": (3, {}),
    SUBSET + "budget.tokens": (200, {}),
    SUBSET + "quotas.column": ("turns", QUOTAS),
    SUBSET + "quotas.max": ({"alpha": 1}, QUOTAS),
    SUBSET + "quotas.mix": ({"alpha": 0.5, "beta": 0.5}, {SUBSET + "quotas": {"column": "source", "mix": {"alpha": 1.0}}}),
    SUBSET + "diversity.threshold": (0.5, DIVERSE),
    SUBSET + "diversity.embedding": ("other", DIVERSE),
    SUBSET + "diversity.column": ("alt", DIVERSE),
    SUBSET + "seed": (1, {SUBSET + "baseline": "random", SUBSET + "rank": None}),
    SUBSET + "format": ("messages", {}),
    "detector.sample": (20, DETECT),
    "detector.copies": (0.9, DETECT),
    "detector.kinds": (["loop", "truncated"], DETECT),
    "detector.exclude": (["refusal"], DETECT),
    "detector.model": ("logistic", DETECT),
    "detector.scorers": (["heuristics"], DETECT),
    "detector.alignment": (False, DETECT),
    "detector.folds": (3, DETECT),
    "detector.seed": (1, DETECT),
    "proxies.0.teacher": ("teacher-fake", PROXIED),
    "proxies.0.column": ("user_chars", PROXIED),
    "proxies.0.sample": (16, PROXIED),
    "proxies.0.stratify": (["source"], PROXIED),
    "proxies.0.length_buckets": (2, PROXIED),
    "proxies.0.features": (["other-fake"], PROXIED),
    "proxies.0.model": ("hgb", PROXIED),
    "proxies.0.target": ("raw", PROXIED),
    "proxies.0.better": ("low", {"proxies": [PROXY | {"holdout": 0.5}]}),  # top-k of 6 held-out rows, not 3
    "proxies.0.holdout": (0.4, PROXIED),
    "proxies.0.seed": (1, PROXIED),
    "proxies.0.active.rounds": (2, ACTIVE),
    "proxies.0.active.rows": (3, ACTIVE),
    "proxies.0.active.by": ("cut", ACTIVE),
    "proxies.0.active.cut": (0.5, {"proxies": [PROXY | {"active": {"by": "cut"}}]}),
}
TRAIN_VALUES = {  # train.<TrainConfig key> -> non-default value
    "model": "tiny", "r": 8, "lora_alpha": 32, "lora_dropout": 0.1, "target_modules": ["q_proj"],
    "learning_rate": 1e-3, "lr_scheduler_type": "cosine", "warmup_steps": 0, "batch_size": 1, "grad_accum": 1,
    "weight_decay": 0.0, "seed": 1, "optim": "adamw_torch", "max_steps": 3, "max_length": 64, "val_fraction": 0.2,
    "max_val_rows": 8, "eval_steps": 1, "backend": "trl", "load_in_4bit": True, "gradient_checkpointing": True,
    "merge": True, "subsets": ["top"],
}
EVALUATE_VALUES = {
    "judge": "reward:x", "prompts": "p.jsonl", "n_prompts": 3, "max_new_tokens": 8, "variants": ["top"],
    "base_model": "tiny", "temperature": 0.0, "min_p": 0.0, "seed": 1, "heldout_rows": 2, "heldout_max_length": 64,
    "device": "cpu", "tie_margin": 0.1,
}
CASES |= {f"train.{k}": (v, {}) for k, v in TRAIN_VALUES.items()}
CASES |= {f"train.evaluate.{k}": (v, {}) for k, v in EVALUATE_VALUES.items()}


def _model(t: typing.Any) -> type[BaseModel] | None:
    return t if isinstance(t, type) and issubclass(t, BaseModel) else None


def leaves(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted paths of every leaf field; a list of models is walked through its first item."""
    out = []
    for name, field in model.model_fields.items():
        ann, args = field.annotation, typing.get_args(field.annotation)
        listed = _model(args[0]) if typing.get_origin(ann) is list and args else None
        nested = next(filter(None, map(_model, (ann, *args))), None)
        if listed:
            out += leaves(listed, f"{prefix}{name}.0.")
        elif nested:
            out += leaves(nested, f"{prefix}{name}.")
        else:
            out.append(prefix + name)
    return out


def _rows() -> list[dict]:
    rows = []
    for i in range(20):
        user = f"Question {i}: how does item {i} relate to topic {i * 3}?" + (" Please be brief." if i % 3 else "")
        answer = f"Item {i} " + " ".join(f"word{i}_{k}" for k in range(4 + i % 7)) + "."
        conv = sharegpt(user, answer)
        if i % 4 == 0:  # a few three-turn conversations
            conv["conversations"] += [{"from": "human", "value": f"And more on {i}?"},
                                      {"from": "gpt", "value": f"More on {i}: detail."}]
        rows.append(conv | {"source": ["alpha", "beta"][i % 2]})
    rows.append(rows[0])  # exact copy
    near = sharegpt("Question 1: how does item 1 relate to topic 3? Please be brief.",
                             "Item 1 " + " ".join(f"word1_{k}" for k in range(5)) + " and one more extra tail.")
    rows.append(near | {"source": "beta"})  # near copy of row 1, longer
    mid = sharegpt("Question 2: how does item 2 relate to topic 6? Please be brief.",
                            "Item 2 word2_0 word2_1 and other words here.")
    rows.append(mid | {"source": "alpha"})  # shares about half its shingles with row 2
    rows.append(sharegpt("Leaky question?", "An answer <|im_end|> with a leak."))
    rows.append({"conversations": [{"from": "gpt", "value": "I start."}, {"from": "human", "value": "ok"},
                                   {"from": "gpt", "value": "fine."}]})
    return rows


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("keys")
    first, second = tmp / "in.jsonl", tmp / "second.jsonl"
    rows = _rows()
    first.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    as_messages = [{"messages": [{"role": "user" if m["from"] == "human" else "assistant", "content": m["value"]}
                                 for m in r["conversations"]]} for r in rows[:8]]
    second.write_text("\n".join(json.dumps(r) for r in rows[10:] + as_messages) + "\n")  # two formats
    return tmp, first, second


@pytest.fixture(scope="module")
def store(inputs):
    """A score store holding two fake embedding scorers ("embedding" with columns embedding and alt,
    and "other"), so semantic dedup and diversity run without a model, and a fake proxy teacher key
    ("teacher-fake": a noisy ``assistant_chars``)."""
    from curate.rundir import RunDir

    tmp, first, _ = inputs
    ids = curate.load(first).table.column("id").to_pylist()
    rng = np.random.default_rng(0)
    base = rng.normal(size=(len(ids), 8))
    base[4] = base[3] + 0.05 * rng.normal(size=8)  # rows 3, 4, 5: near neighbours in `embedding` only
    base[5] = base[3] + 0.25 * rng.normal(size=8)
    vectors = {"embedding": base, "alt": rng.normal(size=(len(ids), 8)), "other": base[::-1].copy()}
    root = tmp / "store"
    s = RunDir(root).score_store()

    def column(m):
        return pa.array([list(map(float, v)) for v in m], pa.list_(pa.float16()))

    s.append("embedding-fake", pa.table({"id": ids, "embedding": column(vectors["embedding"]),
                                         "alt": column(vectors["alt"])}))
    s.write_meta("embedding-fake", {"name": "embedding"})
    s.append("other-fake", pa.table({"id": ids, "embedding": column(vectors["other"])}))
    s.write_meta("other-fake", {"name": "other"})
    s.append("teacher-fake", pa.table({"id": ids, "assistant_chars": rng.normal(size=len(ids))}))
    s.write_meta("teacher-fake", {"name": "teacher"})
    return root / "scores"


def base_recipe(first: Path) -> dict:
    return {"name": "keys", "input": {"source": str(first)},
            "subsets": [{"name": "top", "rank": {"assistant_chars": 1.0, "dup_ngram_frac": -0.5}, "budget": 6}],
            "train": {}}


SPIED = {"curate.duplicates.minhash": ("signatures", "candidate_pairs"),
         "curate.duplicates.semantic": ("exact_pairs", "cluster_pairs", "ann_pairs"),
         "curate.loaders": ("_iter_hf",)}


def _plain(v):
    return list(v.shape) if isinstance(v, np.ndarray) else v if isinstance(v, int | float | str | None) else type(v).__name__


def _digest(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and p.suffix in (".parquet", ".jsonl") and not rel.startswith("scores/"):
            rows = pq.read_table(p).to_pylist() if p.suffix == ".parquet" else p.read_text()
            out[rel] = hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()
    return out


def observe(recipe: Recipe, tmp: Path, scores_dir: Path, monkeypatch) -> dict:
    """Everything a key may change: outputs and worker arguments of a run (no report), the executor's
    settings, scorer keys, the run path, what training and evaluation receive, each distilled proxy's
    store key and held-out agreement."""
    import importlib

    import curate.pipeline.runner as runner
    from curate.executors import get_executor
    from curate.rundir import RunDir
    from curate.train.evaluate import evaluate_run

    calls: list = []
    for mod, names in SPIED.items():
        m = importlib.import_module(mod)
        for name in names:
            real = getattr(m, name)

            def spy(*a, _real=real, _name=name, **kw):
                calls.append([_name, [_plain(x) for x in a], {k: _plain(v) for k, v in kw.items()}])
                if _name == "_iter_hf":
                    return iter(_rows()[:3])
                return _real(*a, **kw)

            monkeypatch.setattr(m, name, spy)
    real_steps = runner.steps
    monkeypatch.setattr(runner, "steps", lambda r: real_steps(r)[:-1])  # the report shows, it decides nothing
    out = tmp / "runs" / hashlib.sha256(recipe.model_dump_json().encode()).hexdigest()[:12]
    shutil.copytree(scores_dir, out / "scores")
    from curate.executors import ExecutorSettings

    local = {"scorers": ["heuristics"], "executor": "local", "executor_settings": ExecutorSettings()}
    runner.run(recipe.model_copy(update=local), run_dir=out, progress=False)
    monkeypatch.undo()
    store = RunDir(out).score_store()
    proxies = [[k, store.meta(k)["agreement"]] for k in sorted(store.keys()) if store.meta(k).get("teacher_key")]
    executor = get_executor(recipe.executor, **recipe.executor_options())
    evaluate = inspect.signature(evaluate_run).bind("RUN", **recipe.train.evaluate.model_dump()).arguments
    return {"outputs": _digest(out), "calls": calls, "executor": [type(executor).__name__, vars(executor)],
            "scorers": runner._scorer_settings(recipe.scorers), "run_path": str(recipe.run_path()),
            "train": [recipe.train.subsets, recipe.train.settings()], "evaluate": {k: str(v) for k, v in evaluate.items()},
            "proxies": proxies}


def test_every_recipe_key_has_a_case():
    keys = leaves(Recipe)
    assert len(keys) > 80
    assert sorted(set(keys) - set(CASES)) == [], "a new recipe key needs a case here (a value that changes something)"
    assert sorted(set(CASES) - set(keys)) == [], "a case for a key the recipe no longer has"


def test_every_recipe_key_changes_something(inputs, store, monkeypatch):
    tmp, first, second = inputs
    seen: dict[str, dict] = {}

    def observed(recipe: Recipe) -> dict:
        key = recipe.model_dump_json()
        if key not in seen:
            seen[key] = observe(recipe, tmp, store, monkeypatch)
        return seen[key]

    inert = []
    for key, (value, needs) in CASES.items():
        value = str(second) if value == "SECOND" else value
        needs = {k: str(second) if v == "SECOND" else v for k, v in needs.items()}
        base = parse(base_recipe(first), overrides=needs)
        changed = parse(base_recipe(first), overrides={**needs, key: value})
        if observed(base) == observed(changed):
            inert.append(key)
    assert inert == [], f"recipe keys that change nothing: {inert}"
