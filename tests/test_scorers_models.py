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

    seqs, _, _ = s.pairs(CONVS[0])
    cond, _, n = seqs[0]
    with torch.inference_mode():
        logits = s._model(torch.tensor([cond])).logits[0]
    ref = torch.nn.functional.cross_entropy(logits[-n - 1:-1], torch.tensor(cond[-n:])).item()
    assert math.exp(ref) == pytest.approx(out["ppl"][0], rel=1e-4)
    cut = build({"name": "lm", "model": str(tiny_lm_dir), "max_length": 24}).score(CONVS)
    assert cut["lm_truncated"] == [False, True, True]


def test_lm_end_logprob_is_the_end_of_turn_after_the_last_answer(tiny_lm_dir):
    import torch

    s = build({"name": "lm", "model": str(tiny_lm_dir), "device": "cpu"})
    out = s.score(CONVS)
    _, _, end = s.pairs(CONVS[1])
    assert end[-1] == s._eot and end[:-1] == s.pairs(CONVS[1])[0][-1][0]  # the last turn's conditioned ids
    with torch.inference_mode():
        logits = s._model(torch.tensor([end])).logits[0]
    ref = torch.log_softmax(logits[-2], -1)[s._eot].item()
    assert out["end_logprob"][1] == pytest.approx(ref, abs=1e-4)
    plain = build({"name": "lm", "model": str(tiny_lm_dir), "shared_prefix": False}).score(CONVS)
    np.testing.assert_allclose(out["end_logprob"], plain["end_logprob"], rtol=1e-4)
    cut = build({"name": "lm", "model": str(tiny_lm_dir), "max_length": 24}).score(CONVS)
    assert all(v < 0 and math.isfinite(v) for v in cut["end_logprob"])


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
    from curate.rundir import load_embeddings

    spec = {"name": "embedding", "model": str(tiny_sentence_dir)}
    df = curate.score(CONVS, [spec], run_dir=tmp_path, progress=False)
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


LONG_CHAT = [m for k in range(4) for m in (
    {"role": "user", "content": f"Question {k}: what do dragons eat on day {k}?"},
    {"role": "assistant", "content": f"On day {k} dragons eat " + "apples and pears " * (k + 1)})]


def test_prefix_chains_groups_only_exact_consecutive_prefixes():
    from curate.scorers.batching import prefix_chains

    assert prefix_chains([[1, 2], [1, 2, 3], [1, 2, 3, 4], [9, 1], [9, 1, 5], [1]]) == [[0, 1, 2], [3, 4], [5]]
    assert prefix_chains([[1, 2, 3], [1, 2]]) == [[0], [1]]  # shorter is not a continuation
    assert prefix_chains([]) == []


def test_reward_shared_prefix_equals_one_sequence_per_turn(tiny_reward_dir):
    spec = {"name": "reward", "model": str(tiny_reward_dir), "batch_size": 3}
    shared, plain = build(spec), build({**spec, "shared_prefix": False})
    convs = [*CONVS, LONG_CHAT]
    a, b = shared.score(convs), plain.score(convs)
    assert shared._head is not None and plain._head is None
    for x, y in zip(a["reward_turns"], b["reward_turns"], strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)
    # four turns of LONG_CHAT and two of CONVS[1] each cost one pass over their conversation
    assert shared.stats["real_tokens"] < 0.7 * plain.stats["real_tokens"]
    assert shared.stats["turns"] == plain.stats["turns"] == 8
    # a cut context is not a prefix of the next turn: those turns fall back to their own sequences
    cut = {**spec, "max_length": 40}
    x, y = build(cut).score([LONG_CHAT]), build({**cut, "shared_prefix": False}).score([LONG_CHAT])
    assert x["reward_truncated"] == [True]
    np.testing.assert_allclose(x["reward_turns"][0], y["reward_turns"][0], rtol=1e-4, atol=1e-5)


def test_reward_encoder_models_keep_one_sequence_per_turn(tiny_tokenizer_dir, tmp_path):
    """Bidirectional attention sees later turns: no shared pass, and still the right numbers."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=2, num_labels=1, pad_token_id=tok.pad_token_id)
    BertForSequenceClassification(cfg).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    s = build({"name": "reward", "model": str(tmp_path), "max_length": 512})
    out = s.score([LONG_CHAT])
    assert s._head is None and len(out["reward_turns"][0]) == 4
    alone = s.score([LONG_CHAT[:2]])["reward_turns"][0][0]
    assert out["reward_turns"][0][0] == pytest.approx(alone, abs=1e-5)


def test_lm_shared_prefix_equals_one_sequence_per_turn(tiny_lm_dir):
    spec = {"name": "lm", "model": str(tiny_lm_dir), "batch_size": 4}
    shared, plain = build(spec), build({**spec, "shared_prefix": False})
    convs = [*CONVS, LONG_CHAT]
    a, b = shared.score(convs), plain.score(convs)
    for key in ("ppl", "ifd"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4)
    assert [len(t) for t in a["ifd_turns"]] == [1, 2, 1, 4]
    assert shared.stats["real_tokens"] < 0.8 * plain.stats["real_tokens"]


def test_reward_template_that_rewrites_history_is_not_shared(tiny_reward_dir, tmp_path):
    """Qwen3-style templates render earlier assistant turns differently from the last one: a turn's
    tokens are then not a prefix of the next turn's, and each turn gets its own sequence."""
    import shutil

    from transformers import AutoTokenizer

    shutil.copytree(tiny_reward_dir, tmp_path, dirs_exist_ok=True)
    tok = AutoTokenizer.from_pretrained(tiny_reward_dir)
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
        "{% if loop.last %} final{% endif %}<|im_end|>\n{% endfor %}")
    tok.save_pretrained(tmp_path)
    s = build({"name": "reward", "model": str(tmp_path)})
    out = s.score([LONG_CHAT])
    assert s._head is not None and s.stats["real_tokens"] == sum(
        len(s.encode(LONG_CHAT[: t + 1])[0]) for t in (1, 3, 5, 7))
    alone = [s.score([LONG_CHAT[: t + 1]])["reward_turns"][0][-1] for t in (1, 3, 5, 7)]
    np.testing.assert_allclose(out["reward_turns"][0], alone, rtol=1e-4, atol=1e-5)


def test_reward_head_that_fails_the_probe_is_not_shared(tiny_reward_dir, monkeypatch):
    from curate.scorers.reward import RewardScorer

    monkeypatch.setattr(RewardScorer, "_read_positions", lambda self, batch, head=None: [[123.0] for _ in batch])
    s = build({"name": "reward", "model": str(tiny_reward_dir)})
    s.load()
    assert s._head is None


def test_pad_batch_sides_and_no_mask_when_unpadded():
    from curate.scorers.batching import pad_batch

    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0, left=True, device="cpu")
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=9, left=False, device="cpu")
    assert ids.tolist() == [[5, 6, 7], [8, 9, 9]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = pad_batch([[1, 2], [3, 4]], pad_id=None, left=True, device="cpu")
    assert ids.tolist() == [[1, 2], [3, 4]] and mask is None
