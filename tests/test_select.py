"""curate.select: budgets and quotas exact, diversity threshold, baselines, reasons, outputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import curate
from curate.errors import UserError
from curate.selection import SubsetSpec, make_spec, select, write_subset
from curate.selection.diversity import naive_greedy, unit_rows


def make_df(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    reward = rng.normal(size=n)
    reward[rng.random(n) < 0.05] = np.nan
    lengths = rng.integers(1, 400, n)
    return pd.DataFrame({
        "id": [f"c{i:04d}" for i in range(n)],
        "messages": [[{"role": "user", "content": f"question {i}"},
                      {"role": "assistant", "content": "x" * int(k)}] for i, k in enumerate(lengths)],
        "source": rng.choice(["alpha", "beta", "gamma"], n, p=[0.5, 0.3, 0.2]),
        "row": np.arange(n),
        "reward": reward,
        "ppl": rng.uniform(2, 50, n),
        "turns": rng.integers(2, 12, n),
        "tokens": rng.integers(20, 200, n),
        "assistant_chars": lengths,
    })


@pytest.fixture
def df() -> pd.DataFrame:
    return make_df()


def check_complete(sel, df):
    assert len(sel.selected) + len(sel.rejected) == len(df)
    assert set(sel.selected["id"]) | set(sel.rejected["id"]) == set(df["id"])
    assert not set(sel.selected["id"]) & set(sel.rejected["id"])
    assert sel.selected["reason"].str.len().gt(0).all()
    assert sel.rejected["reason"].str.len().gt(0).all()
    assert sel.selected["rank"].tolist() == list(range(1, len(sel.selected) + 1))


def test_topk_rank_budget_exact_and_ordered(df):
    sel = curate.select(df, rank={"reward": 1.0}, budget=25)
    check_complete(sel, df)
    assert len(sel.selected) == 25
    expected = df.dropna(subset=["reward"]).nlargest(25, "reward")["id"].tolist()
    assert sel.selected["id"].tolist() == expected
    assert sel.selected["reason"].iloc[0] == "top-k by rank(reward)=1"
    assert set(sel.rejected["reason"]) == {"budget"}  # a null reward ranks last, it is not dropped
    assert sel.counts["rejected"] == {"budget": len(df) - 25}


def test_null_rank_values_rank_last_and_fill_the_budget(df):
    """A budget larger than the complete rows is filled from the rows with a null rank column, after
    every complete row, and each says why it came last."""
    complete = int(df["reward"].notna().sum())
    sel = select(df, rank="reward", budget=complete + 5)
    check_complete(sel, df)
    assert len(sel.selected) == complete + 5
    head, tail = sel.selected.iloc[:complete], sel.selected.iloc[complete:]
    assert head["reward"].notna().all() and tail["reward"].isna().all()
    assert tail["reason"].str.endswith("(ranked last: reward is null)").all()
    assert not head["reason"].str.contains("ranked last").any()
    assert sel.fill == {"selected": complete + 5, "budget": complete + 5}


def test_filter_reasons_name_first_failing_part(df):
    sel = select(df, filter="reward > 0.5 and turns <= 8")
    check_complete(sel, df)
    ok = (df["reward"] > 0.5) & (df["turns"] <= 8)
    assert set(sel.selected["id"]) == set(df.loc[ok, "id"])
    rej = sel.rejected.set_index("id")["reason"]
    bad_reward = df.loc[~(df["reward"] > 0.5), "id"]
    assert (rej[bad_reward] == "filter: reward > 0.5").all()
    bad_turns = df.loc[(df["reward"] > 0.5) & (df["turns"] > 8), "id"]
    assert len(bad_turns) and (rej[bad_turns] == "filter: turns <= 8").all()
    assert (sel.selected["reason"] == "passed filter").all()


def test_weighted_combination_and_lower_is_better(df):
    clean = df.dropna(subset=["reward"])
    sel = select(clean, rank={"-ppl": 1}, budget=5)
    assert sel.selected["id"].tolist() == clean.nsmallest(5, "ppl")["id"].tolist()
    z = select(clean, rank={"reward": 0.5, "-ppl": 0.5}, normalize="zscore", budget=10)
    zs = lambda s: (s - s.mean()) / s.std(ddof=0)  # noqa: E731
    combo = 0.5 * zs(clean["reward"]) + 0.5 * zs(-clean["ppl"])
    assert z.selected["id"].tolist() == clean.loc[combo.nlargest(10).index, "id"].tolist()
    assert np.allclose(z.selected["score"], combo.nlargest(10).to_numpy())


def test_token_budget_respected(df):
    sel = select(df, rank="reward", budget={"tokens": 2000})
    check_complete(sel, df)
    used = sel.selected["tokens"].sum()
    assert used <= 2000
    # nothing rejected for budget would still have fit
    left = 2000 - used
    budget_rej = df.set_index("id").loc[sel.rejected.query("reason == 'budget'")["id"], "tokens"]
    assert (budget_rej > left).all()


def test_quota_max_exact(df):
    sel = select(df, rank="reward", quotas={"max": {"alpha": 7, "beta": 3}}, budget=20)
    check_complete(sel, df)
    mix = sel.selected["source"].value_counts()
    assert mix["alpha"] == 7 and mix["beta"] == 3 and len(sel.selected) == 20
    assert (sel.rejected["reason"] == "quota: source=alpha").sum() > 0


def test_quota_mix_exact(df):
    sel = select(df, baseline="random", quotas={"mix": {"alpha": 0.5, "beta": 0.3, "gamma": 0.2}}, budget=31)
    check_complete(sel, df)
    assert len(sel.selected) == 31
    mix = sel.selected["source"].value_counts().to_dict()
    assert mix == {"alpha": 16, "beta": 9, "gamma": 6}  # 15.5, 9.3, 6.2 by largest remainder
    only = select(df, rank="reward", quotas={"mix": {"beta": 1.0}}, budget=10)
    assert set(only.selected["source"]) == {"beta"}
    assert "quota: source=alpha" in set(only.rejected["reason"])


def test_baselines_equal_sized_and_seeded(df):
    a = select(df, baseline="random", budget=40, seed=1)
    b = select(df.sample(frac=1, random_state=5), baseline="random", budget=40, seed=1)
    c = select(df, baseline="random", budget=40, seed=2)
    longest = select(df, baseline="longest", budget=40)
    quality = select(df, rank="reward", budget=40)
    assert len(a.selected) == len(c.selected) == len(longest.selected) == len(quality.selected) == 40
    assert a.selected["id"].tolist() == b.selected["id"].tolist()  # same seed, any input order
    assert set(a.selected["id"]) != set(c.selected["id"])
    assert a.selected["reason"].iloc[0] == "random (seed 1)"
    assert longest.selected["id"].tolist() == df.nlargest(40, "assistant_chars", keep="first")["id"].tolist()
    assert longest.selected["reason"].iloc[0].startswith("longest: assistant_chars=")
    full = select(df, baseline="full", filter="turns > 3")
    assert len(full.selected) == (df["turns"] > 3).sum()
    check_complete(full, df)


def test_longest_without_heuristics_uses_messages(df):
    sel = select(df.drop(columns=["assistant_chars", "tokens"]), baseline="longest", budget={"tokens": 500})
    lengths = sel.selected["messages"].map(lambda m: len(m[1]["content"]))
    assert lengths.is_monotonic_decreasing or len(sel.selected) <= 1
    assert len(sel.selected) > 0


def clustered_embeddings(df: pd.DataFrame, seed: int = 0, dim: int = 16) -> np.ndarray:
    """Rows come in tight clusters of ~4, so many candidates collide at 0.9."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(df) // 4 + 1, dim))
    noise = rng.normal(scale=0.15, size=(len(df), dim))
    return (centers[np.arange(len(df)) // 4] + noise).astype(np.float16)


@pytest.mark.parametrize("threshold", [0.5, 0.9, 0.97])
def test_diversity_threshold_property(df, threshold, monkeypatch):
    import curate.selection.diversity as div

    monkeypatch.setattr(div, "BLOCK", 16)  # several blocks: exercises cross- and within-block checks
    emb = clustered_embeddings(df)
    sel = select(df, rank="reward", diversity=threshold, embeddings=(df["id"].tolist(), emb))
    check_complete(sel, df)
    pos = df.reset_index().set_index("id").loc[sel.selected["id"], "index"].to_numpy()
    u = unit_rows(emb[pos])
    sims = u @ u.T
    np.fill_diagonal(sims, -1)
    assert sims.max() < threshold
    div_rej = sel.rejected[sel.rejected["reason"].str.startswith("diversity")]
    assert len(div_rej) > 0
    assert div_rej["reason"].str.match(r"diversity: cos \d\.\d\d to c\d{4}$").all()
    # same answer as the naive loop over selected rows
    clean = ~df["reward"].isna().to_numpy()
    order = np.argsort(-df["reward"].rank(pct=True).fillna(0).to_numpy(), kind="stable")
    order = np.concatenate([order[clean[order]], np.flatnonzero(~clean)])  # null rewards rank last
    naive = naive_greedy(order, unit_rows(emb), threshold)
    assert sel.selected["id"].tolist() == df["id"].to_numpy()[naive].tolist()


def test_diversity_with_budget_and_missing_embeddings(df):
    emb = clustered_embeddings(df)
    ids = df["id"].tolist()[:-10]  # the last 10 rows have no embedding
    sel = select(df, baseline="random", budget=30, diversity={"threshold": 0.9}, embeddings=(ids, emb[:-10]))
    check_complete(sel, df)
    assert len(sel.selected) == 30
    assert not set(df["id"][-10:]) & set(sel.selected["id"])  # enough rows with an embedding came first
    assert sel.selected["reason"].str.contains("diverse").all()


def test_rows_without_embedding_fill_what_diversity_leaves(df):
    """Diversity cannot check a row without an embedding: it is taken after every row that has one,
    never dropped, so a budget larger than the embedded rows is still filled."""
    emb = clustered_embeddings(df)
    ids = df["id"].tolist()[:-10]
    sel = select(df, baseline="random", budget=len(df), diversity={"threshold": 0.99},
                 embeddings=(ids, emb[:-10]))
    check_complete(sel, df)
    last = sel.selected.iloc[-10:]
    assert set(last["id"]) == set(df["id"][-10:])
    assert last["reason"].str.contains("no embedding, taken after the rows with one").all()


def test_diversity_needs_embeddings(df):
    with pytest.raises(UserError, match="needs embeddings"):
        select(df, rank="reward", diversity=0.9)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ranks": {"reward": 1}}, r"subset\.ranks: unknown key; allowed: name, baseline, filter, rank"),
    ({"baseline": "shortest", "budget": 3}, r"subset\.baseline: got 'shortest'.*'random', 'longest' or 'full'"),
    ({"normalize": "minmax", "rank": "reward"}, r"subset\.normalize: got 'minmax'"),
    ({"budget": {"rowz": 3}}, r"subset\.budget\.rowz: unknown key; allowed: rows, tokens"),
    ({"budget": 0}, r"subset\.budget\.rows"),
    ({"baseline": "full", "budget": 3}, "remove 'budget'"),
    ({"baseline": "random"}, "needs a 'budget'"),
    ({"baseline": "random", "rank": "reward", "budget": 3}, "remove 'rank'"),
    ({"quotas": {"mix": {"a": 0.5, "b": 0.2}}, "budget": 3}, "sum to 1"),
    ({"quotas": {"max": {"a": 1}, "mix": {"a": 1.0}}}, "exactly one"),
    ({"quotas": {"mix": {"a": 1.0}}}, "set 'budget'"),
    ({"diversity": 1.5}, r"subset\.diversity\.threshold"),
    ({"filter": "reward >"}, r"subset\.filter: .*cannot parse"),
    ({"name": "a/b"}, r"subset\.name"),
    ({"format": "alpaca"}, r"subset\.format: got 'alpaca'"),
])
def test_spec_errors_name_key_and_allowed(kwargs, message):
    with pytest.raises(UserError, match=message):
        make_spec(**kwargs)


def test_unknown_columns_are_user_errors(df):
    with pytest.raises(UserError, match="rank: unknown column 'rewrd'; available: id, messages"):
        select(df, rank="rewrd")
    with pytest.raises(UserError, match="quotas.column: unknown column 'lang'"):
        select(df, quotas={"column": "lang", "max": {"en": 3}})
    with pytest.raises(UserError, match="lacks the 'id' column"):
        select(df.drop(columns=["id"]))
    no_text = df.drop(columns=["messages", "assistant_chars"], errors="ignore")
    with pytest.raises(UserError, match="no 'messages' column"):
        select(no_text, baseline="longest", budget=2)


def test_selection_needs_no_messages_when_scores_are_there(df):
    """The pipeline selects on ids and scores only and attaches messages to the chosen rows."""
    lean = df.drop(columns=["messages"]).assign(assistant_chars=range(len(df)), tokens=10)
    sel = select(lean, baseline="longest", budget=3)
    assert sel.selected["assistant_chars"].tolist() == sorted(range(len(df)), reverse=True)[:3]


def test_spec_roundtrip_and_recipe_dict(df):
    spec = SubsetSpec(name="q", rank={"reward": 1}, budget={"rows": 5}, diversity=0.8)
    assert make_spec(spec.model_dump()) == spec
    sel = select(df, {"name": "q", "rank": "reward", "budget": 5})
    assert sel.name == "q" and len(sel) == 5


@pytest.mark.parametrize("fmt", ["sharegpt", "messages"])
def test_write_subset(tmp_path, df, fmt):
    import pyarrow as pa

    table = pa.Table.from_pandas(df, preserve_index=False)  # messages come back as numpy arrays
    sel = select(table.to_pandas(), name="top", rank="reward", budget=12, format=fmt)
    out = write_subset(sel, tmp_path / "subsets" / "top")
    lines = [json.loads(x) for x in (out / "data.jsonl").read_text().splitlines()]
    assert len(lines) == 12
    if fmt == "sharegpt":
        assert lines[0]["conversations"][0] == {"from": "human", "value": lines[0]["conversations"][0]["value"]}
        assert lines[0]["conversations"][1]["from"] == "gpt"
    else:
        assert [m["role"] for m in lines[0]["messages"]] == ["user", "assistant"]
    assert [x["id"] for x in lines] == sel.selected["id"].tolist()
    why = pq.read_table(out / "selection.parquet").to_pandas()
    assert list(why.columns) == ["id", "rank", "score", "reason"] and len(why) == 12
    data = pq.read_table(out / "data.parquet").to_pandas()
    assert len(data) == 12 and "reward" in data.columns
    meta = json.loads((out / "meta.json").read_text())
    assert meta["counts"]["selected"] == 12 and sum(meta["source_mix"].values()) == 12
    assert len(pq.read_table(out / "rejected.parquet")) == len(df) - 12
    with pytest.raises(UserError, match="format: got 'csv'"):
        write_subset(sel, tmp_path / "x", format="csv")


def test_push_to_hub_requires_token(tmp_path, monkeypatch):
    from curate.selection import push_to_hub

    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(UserError, match="does not exist"):
        push_to_hub(tmp_path, "me/data")
    (tmp_path / "data.parquet").write_bytes(b"")
    with pytest.raises(UserError, match="no token"):
        push_to_hub(tmp_path, "me/data")


def test_cli_select_on_run_dir(tmp_path, capsys):
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from helpers import scored_run

    from curate.cli import main

    run = scored_run(tmp_path / "run")
    rc = main(["select", str(run.root), "--name", "cli-top", "--filter", "turns == 2",
               "--rank", "reward=1,-tokens=0.1", "--rows", "15", "--format", "messages"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["selected"] == 15 and out["input"] == 114  # 120 rows minus 6 dedup removals
    lines = (run.root / "subsets" / "cli-top" / "data.jsonl").read_text().splitlines()
    assert len(lines) == 15 and "messages" in json.loads(lines[0])
    assert main(["select", str(run.root), "--name", "x", "--filter", "rewrd > 1"]) == 2
    assert "unknown column 'rewrd'" in capsys.readouterr().err
    assert main(["select", str(run.root), "--rows", "3"]) == 2
    assert main(["select", str(run.root), "--name", "x", "--rank", "reward=high"]) == 2
    assert main(["select", str(tmp_path / "nope"), "--name", "x"]) == 2
