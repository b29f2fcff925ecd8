"""curate/train/generate.py: variants of a run, one base model with switchable adapters, streaming."""

from __future__ import annotations

import json

import pytest
from helpers import trained_run

from curate.errors import UserError
from curate.train.config import Sampling
from curate.train.generate import Generator, Variant, list_variants

MSG = [{"role": "user", "content": "Say something about sorting."}]


@pytest.fixture(scope="module")
def run(tiny_lm_dir, tmp_path_factory):
    return trained_run(tmp_path_factory.mktemp("run"), tiny_lm_dir)


@pytest.fixture(scope="module")
def gen(run):
    return Generator(list_variants(run), device="cpu")


def test_list_variants_reads_metrics(run, tiny_lm_dir):
    vs = list_variants(run)
    assert [v.name for v in vs] == ["base", "quality", "random"]
    assert vs[0].adapter is None and vs[0].base_model == str(tiny_lm_dir)
    q = vs[1]
    assert q.subset == "quality" and q.rows == 10 and q.adapter == run / "models" / "quality" / "adapter"
    assert "10 rows" in q.label and "quality" in q.label
    assert q.description == "LoRA trained on subset `quality`, 10 rows"
    assert vs[0].description == "the base model, no fine-tuning"


def test_list_variants_defaults(tmp_path):
    assert list_variants(tmp_path) == [Variant("base", "smollm2")]
    assert list_variants(tmp_path, base_model="x/y")[0].base_model == "x/y"
    with pytest.raises(UserError, match="run directory not found"):
        list_variants(tmp_path / "missing")


def test_adapters_share_one_base_and_change_answers(gen):
    kw = dict(max_new_tokens=8, temperature=0)
    answers = {name: gen.generate(name, MSG, **kw) for name in ("base", "quality", "random")}
    assert len(gen._bases) == 1
    base = next(iter(gen._bases.values()))
    assert base.adapters == {"quality", "random"}
    assert answers["quality"] != answers["base"] or answers["random"] != answers["base"]
    # switching back to the base model gives the base answer again (adapters disabled, not merged)
    assert gen.generate("base", MSG, **kw) == answers["base"]
    assert gen.generate("quality", MSG, **kw) == answers["quality"]


def test_stream_and_stats(gen):
    pieces = list(gen.stream("quality", MSG, max_new_tokens=6, temperature=0.7, min_p=0.1, seed=1))
    stats = gen.last_stats
    assert stats is not None and stats.variant == "quality"
    assert 1 <= stats.tokens <= 6 and stats.seconds > 0 and stats.tokens_per_s > 0
    assert "".join(pieces) == gen.generate("quality", MSG, max_new_tokens=6, temperature=0.7, seed=1)


def test_sampling_object_and_keyword_overrides(gen):
    greedy = Sampling(max_new_tokens=6, temperature=0)
    assert gen.generate("quality", MSG, sampling=greedy) == gen.generate("quality", MSG, max_new_tokens=6,
                                                                         temperature=0)
    short = gen.generate_batch([("quality", MSG)], sampling=greedy, max_new_tokens=2)[0]
    assert short.tokens <= 2 and short.text == gen.generate("quality", MSG, max_new_tokens=2, temperature=0)
    with pytest.raises(UserError, match="min_p"):
        Sampling(min_p=1.0)
    with pytest.raises(TypeError):
        gen.generate("quality", MSG, 6)  # settings are keywords or a Sampling, never positional


def test_user_errors(gen):
    with pytest.raises(UserError, match="unknown variant"):
        gen.generate("nope", MSG)
    with pytest.raises(UserError, match="empty"):
        gen.generate("base", [{"role": "user", "content": "   "}])
    with pytest.raises(UserError, match="max_new_tokens"):
        gen.generate("base", MSG, max_new_tokens=0)
    # the lock is free again after errors
    assert isinstance(gen.generate("base", MSG, max_new_tokens=2), str)


def test_broken_adapter_is_a_user_error(run, tiny_lm_dir, tmp_path):
    broken = tmp_path / "models" / "broken" / "adapter"
    broken.mkdir(parents=True)
    (broken / "adapter_config.json").write_text("{not json")
    (broken / "adapter_model.safetensors").write_bytes(b"garbage")
    vs = list_variants(tmp_path, base_model=str(tiny_lm_dir))
    g = Generator(vs, device="cpu")
    with pytest.raises(UserError, match="broken adapter folder for variant 'broken'"):
        g.generate("broken", MSG, max_new_tokens=2)
    (broken / "adapter_config.json").unlink()
    with pytest.raises(UserError, match="no adapter_config.json"):
        g.load("broken")
    assert g.generate("base", MSG, max_new_tokens=2) is not None


def test_bad_metrics_json_is_tolerated(tmp_path, tiny_lm_dir):
    (tmp_path / "models" / "x" / "adapter").mkdir(parents=True)
    (tmp_path / "models" / "x" / "metrics.json").write_text("[1, 2")
    vs = list_variants(tmp_path, base_model=str(tiny_lm_dir))
    assert [v.name for v in vs] == ["base", "x"] and vs[1].rows is None
    json.dumps([v.label for v in vs])


def test_batch_mixes_adapters_and_matches_one_at_a_time(gen):
    kw = dict(max_new_tokens=6, temperature=0)
    longer = [*MSG, {"role": "assistant", "content": "Sorting puts things in order."},
              {"role": "user", "content": "And in Python?"}]
    requests = [("base", MSG), ("quality", longer), ("random", MSG)]  # different lengths: left padding
    answers = gen.generate_batch(requests, **kw)
    assert [a.text for a in answers] == [gen.generate(n, m, **kw) for n, m in requests]
    for a in answers:
        assert a.done and a.finish in ("eos", "length") and a.first_token_s is not None and a.seconds > 0
        assert a.finish != "length" or a.tokens == 6


def test_batch_stop_and_errors_per_row(gen, run, tiny_lm_dir, tmp_path):
    from curate.train.generate import Answer

    stopped = Answer("quality", stop_requested=True)
    answers = gen.generate_batch([("base", MSG), ("quality", MSG)], max_new_tokens=4, temperature=0,
                                 answers=[Answer("base"), stopped])
    assert stopped.finish == "stopped" and stopped.tokens == 0 and answers[0].tokens > 0
    broken = tmp_path / "models" / "broken" / "adapter"
    broken.mkdir(parents=True)
    (broken / "adapter_config.json").write_text("{}")
    g = Generator(list_variants(tmp_path, base_model=str(tiny_lm_dir)), device="cpu")
    out = g.generate_batch([("base", MSG), ("broken", MSG)], max_new_tokens=2)
    assert out[0].finish in ("eos", "length") and out[1].finish == "error" and "broken adapter" in out[1].error
    with pytest.raises(UserError, match="empty"):
        g.generate_batch([("base", [{"role": "user", "content": " "}])])
