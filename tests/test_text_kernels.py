"""The compiled byte kernels against the Python definitions they replace, on strings built to hit
every whitespace, line break, JSON escape and lower-casing special case."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pytest

from curate import text_kernels as K
from curate.duplicates import minhash
from curate.schema import ROLES

SPECIAL = K.PY_WHITESPACE + K.PY_LINE_BREAKS + "\r\n\"\\\b\f\t\x00\x01\x1f\x7f/é€😀ΣİK\u0345"
WORDS = ["a", "bb", "Ccc", "the", "ΟΔΟΣ", "İstanbul", "naïve", "x_1", "😀", "Straße", "\U00010400x", "ǅA", "KELVIN", "日本語",
         "ハロー", "Ｆｕｌｌ"]


def _random_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = ["", " ", "\r\n", "a", "  a  b  ", "\u3000x\u2029y\x85"]
    for _ in range(n):
        out.append("".join(rng.choice(WORDS) if rng.random() < 0.6 else rng.choice(SPECIAL)
                           for _ in range(rng.randrange(0, 40))))
    return out


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return _random_texts(600)


def _same_classes(keys: list, hashes: list[int]) -> bool:
    """Equal keys hash equal and distinct keys hash apart."""
    return len(set(keys)) == len(set(hashes)) == len(set(zip(keys, hashes, strict=True)))


def test_scan_texts_words_lines_and_needles_are_pythons(texts):
    deep = np.arange(len(texts)) % 3 > 0
    needles = ["<s>", "</s>", "[INST]", "é", "😀", "ab", "a", "Σ"]
    scan = K.scan_texts(*K.utf8_buffer(pa.array(texts)), deep, needles)
    assert scan.words.tolist() == [len(t.split()) for t in texts]
    assert scan.found.tolist() == [any(x in t for x in needles) for t in texts]
    lines = [[ln.strip() for ln in t.splitlines() if ln.strip()] if d else [] for t, d in zip(texts, deep, strict=True)]
    assert scan.lines.tolist() == [len(x) for x in lines]
    assert _same_classes([ln for x in lines for ln in x], scan.line_hashes.tolist())
    assert scan.sigma.tolist() == [bool(d and "\u03a3" in t) for t, d in zip(texts, deep, strict=True)]
    words = [t.lower().split() if d else [] for t, d in zip(texts, deep, strict=True)]
    assert len(scan.word_hashes) == sum(map(len, words))
    plain = np.repeat(~scan.sigma, [len(x) for x in words])  # context-free lower-casing: hashed as str.lower
    flat = [w for x in words for w in x]
    assert _same_classes([w for w, p in zip(flat, plain, strict=True) if p], scan.word_hashes[plain].tolist())
    with pytest.raises(ValueError, match="non-whitespace"):
        K.scan_texts(*K.utf8_buffer(pa.array(texts)), deep, [" a"])


def test_distinct_ngrams_per_row_matches_tuples():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 6, 3000).astype(np.uint64)  # few values: many repeated n-grams
    rows = np.concatenate([[0, 0, 3, 7], np.sort(rng.choice(np.arange(8, 3000), 60, replace=False)), [3000]])
    got = K.distinct_ngrams_per_row(values, rows, 5)
    for r in range(len(rows) - 1):
        w = values[rows[r]:rows[r + 1]].tolist()
        assert got[r] == len(set(zip(*(w[i:] for i in range(5))))), r
    assert K.distinct_ngrams_per_row(values, rows, 1).tolist() == [len(set(values[a:b].tolist())) for a, b in zip(rows, rows[1:])]


def test_json_pairs_is_json_dumps(texts):
    rng = np.random.default_rng(1)
    roles = rng.integers(0, len(ROLES), len(texts))
    rows = np.concatenate([[0, 0], np.sort(rng.choice(np.arange(1, len(texts)), 100, replace=False)), [len(texts)]])
    out, bounds = K.json_pairs(*K.utf8_buffer(pa.array(texts)), roles, list(ROLES), rows)
    for r in range(len(rows) - 1):
        ref = json.dumps([[ROLES[roles[t]], texts[t]] for t in range(rows[r], rows[r + 1])], ensure_ascii=False,
                         separators=(",", ":"))
        assert bytes(out[bounds[r]:bounds[r + 1]]) == ref.encode()


def test_oph_kernel_matches_numpy_reference():
    """The compiled OPH is the vectorized definition it replaced (min per bin, then densify)."""
    rng = np.random.default_rng(2)
    hashes = rng.integers(0, 2**63, 5000, dtype=np.uint64)
    offsets = np.concatenate([[0], np.sort(rng.choice(np.arange(1, 5000), 200, replace=False)), [5000]])
    got = minhash.oph_signatures(hashes, offsets, 64, seed=3)
    h = K.mix(hashes ^ np.uint64((3 * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2**64))
    n, num_perm = len(offsets) - 1, 64
    cell = np.repeat(np.arange(n) * num_perm, np.diff(offsets)) + ((h >> np.uint64(32)) % np.uint64(num_perm)).astype(np.int64)
    ref = np.full(n * num_perm, np.iinfo(np.uint32).max, np.uint32)
    np.minimum.at(ref, cell, (h & np.uint64(0xFFFFFFFF)).astype(np.uint32))
    filled = np.zeros(n * num_perm, bool)
    filled[cell] = True
    ref, filled = ref.reshape(n, num_perm), filled.reshape(n, num_perm)
    probes = np.random.default_rng(3).integers(0, num_perm, size=(minhash.DENSIFY_ROUNDS, num_perm))
    for r in range(n):
        for j in np.flatnonzero(~filled[r]):
            for t in range(minhash.DENSIFY_ROUNDS + num_perm - 1):
                c = probes[t, j] if t < minhash.DENSIFY_ROUNDS else (j + t - minhash.DENSIFY_ROUNDS + 1) % num_perm
                if filled[r, c]:
                    ref[r, j] = ref[r, c]
                    break
    assert np.array_equal(got, ref)
