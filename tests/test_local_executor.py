"""The local executor's process pool gives the same scores as scoring in this process."""


import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import sharegpt, write_jsonl

from curate.errors import UserError
from curate.executors import Shards, get_executor, score_shards
from curate.pipeline import Context
from curate.pipeline.ingest import Ingest
from curate.recipe import parse
from curate.rundir import RunDir


def _input(path, n):
    rows = []
    for k in range(n):
        i = k - 100 if k % 50 == 49 and k >= 100 else k  # exact copies of rows in earlier shards
        assistant = f"Answer {i}: " + " ".join(f"w{i % 7}_{k}" for k in range(5 + i % 30)) + "."
        if i % 11 == 0:
            assistant += " <|im_end|>"  # some template leaks
        rows.append(sharegpt(f"Question {i % 150}?", assistant))
    return write_jsonl(path, rows)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shards")
    recipe = parse({"name": "p", "input": {"source": str(_input(tmp / "in.jsonl", 600)), "chunk_rows": 100}})
    ctx = Context(recipe, RunDir(tmp / "ingest"), executor=None, progress=False)
    Ingest().run(ctx)
    assert len(ctx.shards) == 6
    return ctx.shards, ctx.table


def _scores(paths, run, workers, keep=None):
    out = score_shards(get_executor("local", workers=workers), Shards(paths, keep), ["heuristics"], run,
                       progress=False)
    return out.sort_values("id").reset_index(drop=True)


def test_two_workers_give_the_same_scores_as_one(shards, tmp_path):
    paths, table = shards
    one = _scores(paths, tmp_path / "one", 1)
    two = _scores(paths, tmp_path / "two", 2)
    assert len(one) == len(set(table["id"].to_pylist())) < table.num_rows
    pd.testing.assert_frame_equal(one, two)
    parts = list((tmp_path / "two" / "scores").glob("*/part-*.parquet"))
    assert len(parts) == 6, "one store part per shard, written by the workers"


def test_pool_resumes_and_respects_keep(shards, tmp_path):
    paths, table = shards
    keep = table["id"].combine_chunks()[::3]
    first = _scores(paths[:3], tmp_path / "run", 2, keep)  # a run killed after half the shards
    full = _scores(paths, tmp_path / "run", 2, keep)
    assert set(full["id"]) == set(keep.to_pylist()) and set(first["id"]) <= set(full["id"])
    pd.testing.assert_frame_equal(full, _scores(paths, tmp_path / "ref", 1, keep))
    n_parts = len(list((tmp_path / "run" / "scores").glob("*/part-*.parquet")))
    _scores(paths, tmp_path / "run", 2, keep)
    assert len(list((tmp_path / "run" / "scores").glob("*/part-*.parquet"))) == n_parts, "nothing re-scored"


def test_bad_workers_and_settings_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="workers: Input should be greater than or equal to 1"):
        get_executor("local", workers=0)
    with pytest.raises(UserError, match="threads: unknown key; allowed: workers"):
        get_executor("local", threads=2)
    base = {"name": "r", "input": {"source": "x.jsonl"}}
    with pytest.raises(UserError, match="executor_settings"):
        parse({**base, "executor_settings": {"worker": 2}})
    with pytest.raises(UserError, match="does not apply to executor 'ray'"):
        parse({**base, "executor": "ray", "executor_settings": {"workers": 2}})
    assert parse({**base, "executor_settings": {"workers": 2}}).executor_options() == {"workers": 2}


def test_cli_workers_needs_the_local_executor(tmp_path, capsys):
    from curate.cli import main

    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\ninput: {source: x.jsonl}\nexecutor: ray\n")
    assert main(["run", str(recipe), "--workers", "2"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_run_with_two_workers_gives_the_same_outputs(tmp_path):
    from curate.pipeline import run

    src = _input(tmp_path / "in.jsonl", 300)

    def outputs(workers):
        out = tmp_path / f"w{workers}"
        run({"name": "w", "input": {"source": str(src), "chunk_rows": 100}, "run_dir": str(out),
             "executor_settings": {"workers": workers}, "dedup": {"methods": ["exact", "near"]},
             "subsets": [{"name": "top", "rank": {"assistant_chars": 1.0}, "budget": 20}]}, progress=False)
        files = sorted(p for p in out.rglob("*.parquet") if {"subsets", "dedup"} & set(p.parts))
        return {str(p.relative_to(out)): pq.read_table(p).to_pylist() for p in files}

    one, two = outputs(1), outputs(2)
    assert any("rejected" in k for k in one) and one == two
