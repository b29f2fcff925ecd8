"""Dedup: planted exact / near / semantic duplicates, keep rules, re-thresholding, reasons, counts,
decontamination, persistence and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from helpers import conv

from curate.duplicates import DedupConfig, DedupResult, NearConfig, SemanticConfig, dedup, dedup_signatures
from curate.duplicates.minhash import optimal_param
from curate.duplicates.shingles import shingle_hashes
from curate.errors import UserError
from curate.schema import conversation_id

MSG = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
RNG = np.random.default_rng(7)
VOCAB = [f"w{i}" for i in range(3000)]


def words(n: int) -> list[str]:
    return list(RNG.choice(VOCAB, size=n))


def table(convs: list[list[dict]], **cols) -> pa.Table:
    return pa.table({"id": [conversation_id(m) for m in convs], "messages": pa.array(convs, MSG),
                     "row": np.arange(len(convs)), "source": ["t"] * len(convs), **cols})


@pytest.fixture(scope="module")
def planted():
    """30 unrelated rows; row 30 = exact copy of 3; row 31 = 5 with case/punctuation/spacing changes;
    row 32 = 7 with its last word changed (near, Jaccard ~0.98)."""
    base = [conv(" ".join(words(40)), " ".join(words(80))) for _ in range(30)]
    near_case = conv(base[5][0]["content"].upper().replace(" ", ",  "), base[5][1]["content"] + " !")
    w7 = base[7][1]["content"].split()
    near_word = conv(base[7][0]["content"], " ".join(w7[:-1] + ["changed"]))
    return base + [base[3], near_case, near_word]


def test_shingles_ignore_case_punctuation_and_spacing():
    t = table([conv("Hello, World! how are you", "fine thanks"), conv("hello world  HOW are you?", "Fine, thanks.")])
    h, off = shingle_hashes(t["messages"], ngram=3)
    assert set(h[off[0]:off[1]]) == set(h[off[1]:off[2]])


def test_lsh_params_match_datasketch():
    from datasketch.lsh import _optimal_param

    for t in (0.5, 0.7, 0.8, 0.9):
        assert optimal_param(t, 128) == _optimal_param(t, 128, 0.5, 0.5)


def test_planted_exact_and_near_found_with_reasons(planted):
    data = table(planted)
    r = dedup(data, progress=False)
    assert r.counts == {"exact": 1, "near": 2}
    rem = r.removed.set_index("row")
    assert set(rem.index) == {30, 31, 32}
    assert rem.loc[30, "method"] == "exact" and rem.loc[30, "duplicate_of_row"] == 3
    assert rem.loc[31, "method"] == "near" and rem.loc[31, "duplicate_of"] == data["id"][5].as_py()
    assert rem.loc[32, "duplicate_of_row"] == 7 and 0.9 < rem.loc[32, "similarity"] < 1.0
    assert rem.loc[31, "similarity"] == pytest.approx(1.0)
    assert not r.removed[["id", "method", "duplicate_of", "similarity"]].isna().any().any()
    assert len(data) == int(r.keep_mask.sum()) + sum(r.counts.values()) == len(r.kept_ids) + len(r.removed)
    assert not r.keep_mask[[30, 31, 32]].any() and r.keep_mask[[3, 5, 7]].all()


def test_keep_longest_and_by_score(planted):
    data = table(planted)
    longest = dedup(data, keep="longest", progress=False).removed.set_index("row")
    assert 5 in longest.index and longest.loc[5, "duplicate_of_row"] == 31  # the copy got longer (", " and " !")
    reward = np.zeros(len(planted))
    reward[32], reward[7] = 2.0, 1.0
    scores = pd.DataFrame({"id": data["id"].to_pylist(), "reward": reward})
    by_reward = dedup(data, keep="reward", scores=scores, progress=False).removed.set_index("row")
    assert 7 in by_reward.index and by_reward.loc[7, "duplicate_of_row"] == 32
    lowest = dedup(data, keep="-reward", scores=scores, progress=False).removed.set_index("row")
    assert 32 in lowest.index
    in_table = dedup(data.append_column("q", pa.array(reward)), keep="q", progress=False).removed
    assert 7 in set(in_table["row"])


def test_cluster_keeps_exactly_one(planted):
    a = planted[0]
    copies = [conv(a[0]["content"] + f" x{i}", a[1]["content"]) for i in range(5)]
    r = dedup(table(planted + copies), methods="near", progress=False)
    big = r.clusters("near", top=1).iloc[0]
    assert big["size"] == 6 and big["kept_row"] == 0 and len(big["removed_ids"]) == 5


@pytest.fixture(scope="module")
def graded():
    """Rows with near-copies at graded distances (1..12 words replaced of 120), so pairs spread over
    the 0.6-1.0 Jaccard range."""
    rows = []
    for g in range(12):
        w = words(120)
        rows.append(conv(" ".join(w[:40]), " ".join(w[40:])))
        v = list(w)
        for j in RNG.choice(120, size=g + 1, replace=False):
            v[j] = f"new{g}{j}"
        rows.append(conv(" ".join(v[:40]), " ".join(v[40:])))
    return table(rows)


def test_rethreshold_equals_fresh_run(graded):
    base = dedup(graded, methods="near", near={"threshold": 0.8, "floor": 0.55}, progress=False)
    for t in (0.6, 0.7, 0.9):
        re = base.rethreshold("near", t)
        fresh = dedup(graded, methods="near", near={"threshold": t, "floor": 0.55}, progress=False)
        pd.testing.assert_frame_equal(re.removed, fresh.removed)
        assert np.array_equal(re.keep_mask, fresh.keep_mask)
    assert base.rethreshold("near", 0.6).counts["near"] > base.counts["near"] > base.rethreshold("near", 0.95).counts["near"]
    with pytest.raises(ValueError, match="floor"):
        base.rethreshold("near", 0.3)


def test_borderline_histogram_and_plot(graded, tmp_path):
    r = dedup(graded, methods="near", near={"threshold": 0.8, "floor": 0.55}, progress=False)
    b = r.borderline("near", k=3)
    above, below = b[b.side == "above"], b[b.side == "below"]
    assert len(above) and len(below)
    assert (above.similarity >= 0.8).all() and (below.similarity < 0.8).all()
    counts, edges = r.similarity_histogram("near", bins=10)
    assert counts.sum() == len(r.pairs["near"].sim) and edges[0] == pytest.approx(0.55)
    png = r.plot_histogram(tmp_path / "h.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_exact_verify_is_exact_jaccard(graded):
    from curate.duplicates.minhash import exact_jaccard, shingle_matrix

    r = dedup(graded, methods="near", near={"verify": "exact", "floor": 0.5}, progress=False)
    p = r.pairs["near"]
    truth = exact_jaccard(shingle_matrix(graded["messages"].combine_chunks(), p.settings["ngram"]), p.a, p.b)
    np.testing.assert_allclose(p.sim, truth, rtol=1e-6)


def test_semantic_runs_on_near_survivors_and_finds_planted(planted):
    data = table(planted)
    x = RNG.normal(size=(len(planted), 32)).astype(np.float16)
    x[12] = x[11] + 0.01 * RNG.normal(size=32)
    x[31] = x[20]  # row 31 is already a near duplicate: semantic must not count it again
    r = dedup(data, methods=("exact", "near", "semantic"), embeddings=(data["id"].to_pylist(), x), progress=False)
    assert r.counts == {"exact": 1, "near": 2, "semantic": 1}
    s = r.removed[r.removed.method == "semantic"].iloc[0]
    assert s["row"] == 12 and s["duplicate_of_row"] == 11 and s["similarity"] > 0.99
    ann = dedup(data, methods="semantic", embeddings=(data["id"].to_pylist(), x), semantic={"backend": "usearch"},
                progress=False)
    assert set(ann.removed["row"]) >= {12}
    assert ann.rethreshold("semantic", 0.9).counts["semantic"] >= ann.counts["semantic"]


def test_kmeans_backend_matches_exact_search():
    """SemDeDup-style search (k-means clusters, exact cosine inside the nearest ones) finds the same pairs
    as brute force on clustered data with planted copies, within one dataset and against another."""
    from curate.duplicates.semantic import cluster_pairs, exact_pairs

    rng = np.random.default_rng(3)
    topics = rng.normal(size=(6, 24))
    x = (topics[rng.integers(0, 6, 600)] + rng.normal(size=(600, 24))).astype(np.float16)
    src, dup = rng.choice(300, 40, replace=False), rng.choice(np.arange(300, 600), 40, replace=False)
    x[dup] = x[src] + np.float16(0.02) * rng.normal(size=(40, 24)).astype(np.float16)
    want = set(zip(*map(np.ndarray.tolist, exact_pairs(x, 0.9, progress=False)[:2]), strict=True))
    a, b, s = cluster_pairs(x, 0.9, n_clusters=8, progress=False)
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == want and (a < b).all() and (s >= 0.9).all()
    assert {(min(p, q), max(p, q)) for p, q in zip(src.tolist(), dup.tolist(), strict=True)} <= want
    ea, eb, _ = exact_pairs(x[:300], 0.9, x[300:], progress=False)
    ka, kb, _ = cluster_pairs(x[:300], 0.9, x[300:], n_clusters=8, progress=False)
    assert set(zip(ka.tolist(), kb.tolist(), strict=True)) == set(zip(ea.tolist(), eb.tolist(), strict=True))
    data = table([conv(f"q{i}", f"a{i}") for i in range(600)])
    emb = (data["id"].to_pylist(), x)
    r = dedup(data, methods="semantic", embeddings=emb, semantic={"backend": "kmeans", "threshold": 0.9,
                                                                   "clusters": 8}, progress=False)
    fresh = dedup(data, methods="semantic", embeddings=emb, semantic={"threshold": 0.9}, progress=False)
    assert r.pairs["semantic"].settings["backend_used"] == "kmeans" and set(r.removed["row"]) == set(fresh.removed["row"])


def test_decontamination_against_eval(planted):
    train = table(planted)
    leaked = planted[9][0]["content"]
    evals = table([conv(leaked.replace(" ", "  ").title() + "?", "an eval answer"), conv("unrelated eval prompt", "x")])
    # the eval conversation differs in its answer; compare prompts via a short shingle on the whole text
    r = dedup(train, methods=("exact", "near"), against=evals, near={"threshold": 0.3, "ngram": 3}, progress=False)
    rem = r.removed
    assert list(rem["row"]) == [9] and rem["duplicate_of"].iloc[0] == evals["id"][0].as_py()
    exact = dedup(train, methods="exact", against=table([planted[4]]), progress=False)
    assert list(exact.removed["row"]) == [4] and exact.keep_mask.sum() == len(planted) - 1
    x = RNG.normal(size=(len(planted), 16)).astype(np.float16)
    sem = dedup(train, methods="semantic", embeddings=(train["id"].to_pylist(), x),
                against=(["e1"], x[[2]] + np.float16(0.001)), progress=False)
    assert list(sem.removed["row"]) == [2] and sem.removed["duplicate_of"].iloc[0] == "e1"


def test_save_load_roundtrip(planted, tmp_path):
    r = dedup(table(planted), progress=False)
    d = r.save(tmp_path)
    assert (d / "near.parquet").exists() and (d / "exact.parquet").exists() and d == tmp_path / "dedup"
    back = DedupResult.load(tmp_path)
    pd.testing.assert_frame_equal(back.removed, r.removed)
    assert back.counts == r.counts
    assert back.rethreshold("near", 0.99).counts == r.rethreshold("near", 0.99).counts


def test_config_and_user_errors(planted):
    data = table(planted)
    cfg = DedupConfig.model_validate({"methods": ["near", "exact"], "near": {"threshold": 0.9}})
    assert cfg.ordered_methods() == ["exact", "near"]
    with pytest.raises(ValueError, match="extra"):
        DedupConfig.model_validate({"near": {"treshold": 0.9}})
    with pytest.raises(UserError, match="unknown dedup method"):
        dedup(data, methods="fuzzy")
    with pytest.raises(UserError, match="no score column 'reward'"):
        dedup(data, keep="reward")
    with pytest.raises(UserError, match="needs embeddings"):
        dedup(data, methods="semantic")
    with pytest.raises(UserError, match="have no embedding"):
        dedup(data, methods="semantic", embeddings=(["nope"], np.zeros((1, 4), np.float16)))
    with pytest.raises(UserError, match="above near.threshold"):
        dedup(data, near={"threshold": 0.7, "floor": 0.8})
    with pytest.raises(UserError, match="lacks column"):
        dedup(pa.table({"x": [1]}))


def test_cli_dedup(planted, tmp_path, capsys, write_jsonl):
    from curate.cli import main

    rows = [{"messages": m} for m in planted]
    path = write_jsonl(rows)
    with warnings.catch_warnings():  # the CLI builds the settings object: no deprecated keyword of curate's
        warnings.filterwarnings("error", category=DeprecationWarning, module=r"curate\b")
        assert main(["dedup", str(path), "--top", "2", "--run-dir", str(tmp_path / "run"), "--plot",
                     str(tmp_path / "h.png"), "--show", "clusters,borderline,histogram", "--near-threshold", "0.7",
                     "--ngram", "3"]) == 0
    out = capsys.readouterr().out
    assert "removed exact=1, near=2" in out and "largest clusters" in out and "borderline" in out
    assert (tmp_path / "run" / "dedup" / "near.parquet").exists() and (tmp_path / "h.png").exists()
    assert main(["dedup", str(path), "--methods", "semantic"]) == 2


def _same_result(a: DedupResult, b: DedupResult) -> None:
    assert a.counts == b.counts and np.array_equal(a.rank, b.rank) and np.array_equal(a.keep_mask, b.keep_mask)
    pd.testing.assert_frame_equal(a.removed, b.removed)
    for m in a.pairs:
        pa_, pb = a.pairs[m], b.pairs[m]
        assert np.array_equal(pa_.a, pb.a) and np.array_equal(pa_.b, pb.b) and np.array_equal(pa_.sim, pb.sim)
        assert pa_.settings == pb.settings


def _memmap_signatures(data: pa.Table, folder) -> np.ndarray:
    """Signatures computed in pieces (as shards) into a memmap, as curate.run does at scale."""
    from curate.duplicates import minhash

    near = DedupConfig().near
    sig = np.lib.format.open_memmap(folder / "sig.npy", mode="w+", dtype=np.uint32, shape=(len(data), near.num_perm))
    for lo, hi in ((0, 11), (11, 25), (25, len(data))):
        sig[lo:hi] = minhash.signatures(data["messages"].slice(lo, hi - lo).combine_chunks(), near.num_perm,
                                        near.ngram, near.shingle, near.seed, progress=False)
    return sig


def test_signatures_path_equals_table_path(planted, tmp_path):
    """dedup_signatures on a table without messages, from signatures and lengths, gives the same
    result as dedup on the text (what curate.run does at scale)."""
    from curate.duplicates.shingles import text_lengths

    data = table(planted)
    sig, lengths = _memmap_signatures(data, tmp_path), text_lengths(data["messages"])
    ids_only = data.drop_columns(["messages"])
    for keep in ("first", "longest"):
        ref = dedup(data, keep=keep, near={"threshold": 0.8}, progress=False)
        got = dedup_signatures(ids_only, sig, lengths, keep=keep, near={"threshold": 0.8}, progress=False)
        _same_result(ref, got)
    assert got.counts == {"exact": 1, "near": 2}
    with pytest.raises(UserError, match="verify='exact' needs the messages"):
        dedup_signatures(ids_only, sig, near={"verify": "exact"}, progress=False)
    with pytest.raises(UserError, match="or lengths="):
        dedup_signatures(ids_only, sig, keep="longest", progress=False)
    with pytest.raises(UserError, match="or signatures="):
        dedup_signatures(ids_only, None, progress=False)
    with pytest.raises(UserError, match="or signatures="):
        dedup(ids_only, progress=False)
    with pytest.raises(UserError, match="signatures: shape"):
        dedup_signatures(ids_only, sig[:5], progress=False)
    with pytest.raises(UserError, match="lengths: 3 values"):
        dedup_signatures(data, None, lengths[:3], keep="longest", progress=False)


def test_dedup_signatures_keyword_warns_and_still_acts(planted, tmp_path):
    from curate.duplicates.shingles import text_lengths

    data = table(planted)
    sig, lengths = _memmap_signatures(data, tmp_path), text_lengths(data["messages"])
    ids_only = data.drop_columns(["messages"])
    with pytest.warns(DeprecationWarning, match=r"dedup\(signatures=\.\.\.\) is deprecated; use curate.duplicates.dedup_sig"):
        old = dedup(ids_only, keep="longest", signatures=sig, lengths=lengths, progress=False)
    _same_result(old, dedup(data, keep="longest", progress=False))


@pytest.mark.parametrize("key,value", [("threshold", 0.8), ("floor", 0.5), ("num_perm", 64), ("ngram", 2),
                                       ("shingle", "char"), ("seed", 3), ("verify", "exact")])
def test_flat_near_keyword_warns_and_still_acts(graded, key, value):
    with pytest.warns(DeprecationWarning, match=rf"dedup\({key}=\.\.\.\) is deprecated; use near=NearConfig\({key}=") as w:
        old = dedup(graded, methods="near", progress=False, **{key: value})
    assert w[0].filename == __file__  # the warning points at the caller
    assert old.pairs["near"].settings[key] == value != NearConfig().model_dump()[key]
    _same_result(old, dedup(graded, methods="near", near=NearConfig(**{key: value}), progress=False))


@pytest.mark.parametrize("key,field,value", [("semantic_threshold", "threshold", 0.9), ("threshold", "threshold", 0.9),
                                             ("floor", "floor", 0.5)])
def test_flat_semantic_keyword_warns_and_still_acts(planted, key, field, value):
    """``semantic_threshold=``, and ``threshold=``/``floor=`` when near is not run, set the semantic method."""
    data = table(planted)
    x = RNG.normal(size=(len(planted), 16)).astype(np.float16)
    x[31] = x[5] + np.float16(0.3)
    emb = (data["id"].to_pylist(), x)
    with pytest.warns(DeprecationWarning, match=rf"use semantic=SemanticConfig\({field}="):
        old = dedup(data, methods="semantic", embeddings=emb, progress=False, **{key: value})
    assert old.pairs["semantic"].settings[field] == value
    new = dedup(data, methods="semantic", embeddings=emb, semantic=SemanticConfig(**{field: value}), progress=False)
    _same_result(old, new)
    with pytest.raises(TypeError, match="treshold"):
        dedup(data, treshold=0.5)


@pytest.mark.parametrize("method", ["oph", "minhash"])
def test_signature_estimates_match_exact_jaccard_on_known_pairs(method):
    """Pairs of hash sets with known Jaccard (long sets, and short ones that need densification):
    each estimate within 4 standard errors, and the mean error small."""
    from curate.duplicates.minhash import estimated_jaccard, oph_signatures

    rng = np.random.default_rng(3)
    hashes, offsets, truth = [], [0], []
    for size in (1000, 40):
        for jac in (0.2, 0.5, 0.8, 0.95):
            for _ in range(10):
                shared = int(round(2 * size * jac / (1 + jac)))  # |A|=|B|=size, |A&B|=shared
                pool = rng.integers(0, 2**63, size=2 * size, dtype=np.uint64)
                a, b = pool[:size], np.concatenate([pool[:shared], pool[size:2 * size - shared]])
                for s in (a, b):
                    hashes.append(s)
                    offsets.append(offsets[-1] + len(s))
                truth.append(shared / (2 * size - shared))
    hashes, offsets, truth = np.concatenate(hashes), np.array(offsets), np.array(truth)
    if method == "oph":
        sig = oph_signatures(hashes, offsets, 128, seed=1)
    else:
        import rensa

        m = rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets.astype(np.uint64), 128, 1)
        sig = np.asarray(m.to_rows(), np.uint32).reshape(-1, 128)
    est = estimated_jaccard(sig, np.arange(0, len(sig), 2), np.arange(1, len(sig), 2))
    err = np.abs(est - truth)
    assert (err <= 4 * np.sqrt(truth * (1 - truth) / 128) + 0.02).all()
    assert err.mean() < 0.03


def test_oph_signatures_equal_for_equal_sets_and_method_setting_acts():
    from curate.duplicates.minhash import oph_signatures

    h = np.arange(1, 6, dtype=np.uint64)
    sig = oph_signatures(np.concatenate([h, h[::-1]]), np.array([0, 5, 10]), 64)
    assert (sig[0] == sig[1]).all() and (sig != np.iinfo(np.uint32).max).all()  # densified: every slot filled
    data = table([conv(" ".join(words(30)), " ".join(words(60))) for _ in range(20)])
    a = dedup(data, methods="near", progress=False, near={"method": "oph"})
    b = dedup(data, methods="near", progress=False, near={"method": "minhash"})
    assert a.pairs["near"].settings["method"] == "oph" and b.pairs["near"].settings["method"] == "minhash"
    with pytest.raises(UserError, match="method"):
        dedup(data, methods="near", progress=False, near={"method": "bogus"})


def test_defaults_find_edited_copies_and_never_merge_half_shared():
    """At the default settings, on sample rows: copies with 2-6% of words edited (case, punctuation,
    fillers, doubled spaces) are found (recall >= 0.9, also at 6%), and conversations sharing half
    their turns (and about half their text) with a row are never merged with it."""
    import random

    import curate
    from curate.duplicates.edits import edited_copy, half_shared

    base = curate.load("sharegpt-sample", limit=600).table["messages"].to_pylist()
    rng = random.Random(1)
    originals = [rng.randrange(len(base)) for _ in range(150)]
    copies = [edited_copy(base[i], rng, r, r) for i, r in zip(originals, [0.02, 0.04, 0.06] * 50, strict=True)]
    long_rows = [i for i, m in enumerate(base) if len(m) >= 4]
    halves = [(a, h) for a, b in ((rng.choice(long_rows), rng.choice(long_rows)) for _ in range(2000))
              if a != b and (h := half_shared(base[a], base[b])) is not None][:40]
    assert len(halves) >= 20
    data = table(base + copies + [h for _, h in halves])
    r = dedup(data, methods="near", progress=False)
    p = r.pairs["near"]
    on = p.sim >= p.threshold
    pairs = set(zip(np.minimum(p.a, p.b)[on].tolist(), np.maximum(p.a, p.b)[on].tolist(), strict=True))
    found = [(o, len(base) + k) in pairs or base[o] == copies[k] for k, o in enumerate(originals)]
    assert np.mean(found) >= 0.9 and np.mean(found[2::3]) >= 0.9
    start = len(base) + len(copies)
    assert not any((a, start + k) in pairs for k, (a, _) in enumerate(halves))


def test_a_bad_config_dict_is_a_user_error():
    with pytest.raises(UserError, match="dedup settings"):
        dedup(pa.table({"id": ["a"], "messages": [[{"role": "user", "content": "hi"}]]}),
              config={"near": {"threshold": 2.0}})
