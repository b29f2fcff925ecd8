"""Model scorers on tiny models built from configs (same from_pretrained path as hub ids)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import curate
from curate.scorers import build

CONVS = [
    [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "It is 4."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."},
     {"role": "assistant", "content": "Blue."}, {"role": "user", "content": "Another one?"},
     {"role": "assistant", "content": "Green, the colour of grass and of many leaves in spring."}],
    [{"role": "user", "content": "Tell me a long story about a dragon " * 8},
     {"role": "assistant", "content": "Once upon a time a dragon lived in a cave. " * 6}],
]


def test_reward_per_turn_aggregation_and_order(tiny_reward_dir):
    s = build({"name": "reward", "model": str(tiny_reward_dir), "batch_size": 2, "device": "cpu"})
    out = s.score(CONVS)
    assert [len(t) for t in out["reward_turns"]] == [1, 2, 1]
    t = out["reward_turns"][1]
    assert out["reward_last"][1] == t[-1] and out["reward_min"][1] == min(t)
    assert out["reward_mean"][1] == pytest.approx(sum(t) / 2) and out["reward"] == out["reward_last"]
    assert out["reward_truncated"] == [False, False, False]
    # batching and length sorting do not change the numbers or their order
    singles = [s.score([c])["reward_turns"][0] for c in CONVS]
    for a, b in zip(out["reward_turns"], singles, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # each turn is scored with its context: the first turn's reward is the 1-turn conversation's
    first = s.score([CONVS[1][:3]])["reward_turns"][0]
    assert first[0] == pytest.approx(t[0], abs=1e-5)
    cut = build({"name": "reward", "model": str(tiny_reward_dir), "max_length": 16, "aggregate": "min"})
    o = cut.score(CONVS)
    assert o["reward_truncated"] == [False, True, True] and o["reward"] == o["reward_min"]
    assert s.stats["padded_tokens"] >= s.stats["real_tokens"] > 0


def test_lm_ifd_and_ppl(tiny_lm_dir):
    s = build({"name": "lm", "model": str(tiny_lm_dir), "batch_size": 3, "device": "cpu"})
    out = s.score(CONVS)
    assert [len(t) for t in out["ifd_turns"]] == [1, 2, 1]
    assert all(p > 1 and math.isfinite(p) for p in out["ppl"])
    assert out["ifd"][1] == pytest.approx(sum(out["ifd_turns"][1]) / 2)
    # random weights: the instruction barely helps, so IFD is near 1
    assert all(0.5 < i < 1.5 for i in out["ifd"])
    single = s.score([CONVS[2]])
    assert single["ppl"][0] == pytest.approx(out["ppl"][2], rel=1e-4)
    # a plain per-row loss with the model's own forward agrees with our left-padded batches
    import torch

    seqs, _ = s.pairs(CONVS[0])
    cond, _, n = seqs[0]
    with torch.inference_mode():
        logits = s._model(torch.tensor([cond])).logits[0]
    ref = torch.nn.functional.cross_entropy(logits[-n - 1:-1], torch.tensor(cond[-n:])).item()
    assert math.exp(ref) == pytest.approx(out["ppl"][0], rel=1e-4)
    cut = build({"name": "lm", "model": str(tiny_lm_dir), "max_length": 24}).score(CONVS)
    assert cut["lm_truncated"] == [False, True, True]


def test_no_assistant_turn_is_an_error_not_a_default(tiny_lm_dir):
    s = build({"name": "lm", "model": str(tiny_lm_dir)})
    out = s.score([[{"role": "user", "content": "hi"}], [{"role": "assistant", "content": "Hello there."}]])
    assert out["ppl"][0] is None and out["lm_error"] == ["no assistant turn", None]
    assert out["ifd"][1] == pytest.approx(1.0)  # nothing before the answer: no instruction to help


def test_classifier_views(tiny_reward_dir):
    s = build({"name": "classifier", "model": str(tiny_reward_dir), "text": "first_user", "column": "edu"})
    out = s.score(CONVS)
    assert s.columns == ("edu",) and len(out["edu"]) == 3 and all(isinstance(v, float) for v in out["edu"])
    assert out["edu"][0] != out["edu"][2]


def test_embedding_torch_and_store(tiny_sentence_dir, tmp_path):
    from curate.store import load_embeddings

    spec = {"name": "embedding", "model": str(tiny_sentence_dir)}
    df = curate.score(CONVS, [spec], run=tmp_path, progress=False)
    assert df["embedding"].iloc[0].dtype == np.float16 and len(df["embedding"].iloc[0]) == 32
    assert np.linalg.norm(df["embedding"].iloc[1].astype(np.float32)) == pytest.approx(1, abs=1e-2)
    assert df["embed_sim"].between(-1.01, 1.01).all()
    ids, m = load_embeddings(tmp_path)
    assert ids == df["id"].tolist() and m.shape == (3, 32) and m.dtype == np.float16
    _, mi = load_embeddings(tmp_path, column="instruction_embedding")
    assert not np.allclose(m, mi)


def test_embedding_static_fast_path(tiny_sentence_dir, tmp_path, monkeypatch):
    pytest.importorskip("model2vec.distill")
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path))
    s = build({"name": "embedding", "model": str(tiny_sentence_dir), "backend": "static", "pca_dims": 16})
    out = s.score(CONVS)
    assert out["embedding"][0].shape == (16,) and out["embedding"][0].dtype == np.float16
    assert list((tmp_path / "models" / "model2vec").iterdir())  # distilled once, cached
    assert s.settings()["backend"] == "static"


def test_lm_max_turns_scores_only_first_turns(tiny_lm_dir):
    from curate.scorers import build

    conv = [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1 one"},
            {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2 two"}]
    one = build({"name": "lm", "model": str(tiny_lm_dir), "max_turns": 1})
    every = build({"name": "lm", "model": str(tiny_lm_dir)})
    assert len(one.score([conv])["ifd_turns"][0]) == 1
    assert len(every.score([conv])["ifd_turns"][0]) == 2
    assert one.settings() != every.settings()


def test_lm_bad_max_turns_is_a_user_error():
    import pytest

    from curate.errors import UserError
    from curate.scorers import build

    with pytest.raises(UserError, match="max_turns"):
        build({"name": "lm", "max_turns": 0})
