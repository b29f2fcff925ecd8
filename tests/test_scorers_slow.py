"""End to end on the shipped models: SmolLM2 IFD/perplexity and MiniLM embeddings, offline."""

from __future__ import annotations

import pandas as pd
import pytest

import curate

pytestmark = pytest.mark.slow

GOOD = [{"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "The capital of France is Paris."}]
MISMATCH = [{"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Bananas are rich in potassium and taste sweet."}]
MULTI = [{"role": "user", "content": "Count from one to three."}, {"role": "assistant", "content": "One, two, three."},
         {"role": "user", "content": "And the next number?"}, {"role": "assistant", "content": "Four."}]


def test_smollm2_ifd_and_minilm(tmp_path):
    df = curate.score([GOOD, MISMATCH, MULTI], ["lm", "embedding"], run_dir=tmp_path, device="cpu",
                      progress=False).set_index("id")
    good, bad, multi = df.iloc[0], df.iloc[1], df.iloc[2]
    # the question helps predict the right answer far more than an unrelated one
    assert good["ifd"] < bad["ifd"] and good["ifd"] < 0.8
    assert good["ppl"] < bad["ppl"]
    assert len(multi["ifd_turns"]) == 2 and pd.isna(multi["lm_error"])
    assert good["embed_sim"] > bad["embed_sim"] + 0.2
    assert len(good["embedding"]) == 384
    again = curate.score([GOOD, MISMATCH, MULTI], ["lm", "embedding"], run_dir=tmp_path, progress=False)
    assert again["ifd"].tolist() == df["ifd"].tolist()  # from the store
