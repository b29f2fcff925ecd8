"""The Ray executor gives the same scores and subsets as the local one (local Ray, 2 CPUs)."""

import json

import pyarrow.parquet as pq
import pytest
from helpers import recipe, sharegpt, write_jsonl

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             ignore_reinit_error=True)
    yield
    ray.shutdown()


def _input(tmp_path):
    rows = []
    for i in range(60):
        rows.append(sharegpt(f"Question {i}: describe item {i} and its use {i * 3}.",
                             f"Item {i} does " + " ".join(f"thing{i}_{k}" for k in range(i % 7 + 4)) + "."))
    rows[9] = rows[8]  # exact duplicate
    rows[20] = sharegpt("Question 9: describe item 9 and its use 27.",
                        "Item 9 does " + " ".join(f"thing9_{k}" for k in range(6)) + "!")
    return write_jsonl(tmp_path / "in.jsonl", [*rows, "{broken"])


def _recipe(src, out, executor):
    return recipe(src, out, name="r", executor=executor,
                  subsets=[{"name": "long", "rank": {"assistant_chars": 1.0}, "budget": 12},
                           {"name": "rand", "baseline": "random", "budget": 12}])


def _subsets(root):
    return {p.parent.name: pq.read_table(p).to_pylist() for p in sorted((root / "subsets").glob("*/data.parquet"))}


def test_local_and_ray_give_identical_subsets_and_resume_across(local_ray, tmp_path):
    from curate.pipeline import run
    from curate.rundir import scores

    src = _input(tmp_path)
    a = run(_recipe(src, tmp_path / "local", "local"), progress=False)
    b = run(_recipe(src, tmp_path / "ray", "ray"), progress=False)
    assert a.counts == b.counts and a.subsets == b.subsets == {"long": 12, "rand": 12}
    assert _subsets(tmp_path / "local") == _subsets(tmp_path / "ray")
    sa = scores(tmp_path / "local").sort_values("id").reset_index(drop=True)
    sb = scores(tmp_path / "ray").sort_values("id").reset_index(drop=True)
    assert sa.equals(sb)
    meta = json.loads(next((tmp_path / "ray" / "scores").glob("*/meta.json")).read_text())
    assert meta["executor"] == "ray"

    # a run started locally is finished by Ray without rescoring what the store holds
    from curate.executors import Shards, get_executor
    from curate.rundir import RunDir
    from curate.scorers.base import scorer_key
    from curate.scorers.heuristics import HeuristicsScorer

    store = RunDir(tmp_path / "local").score_store()
    key = scorer_key(HeuristicsScorer())
    before = len(list((tmp_path / "local" / "scores" / key).glob("part-*.parquet")))
    get_executor("ray").fill(HeuristicsScorer(), Shards(sorted((tmp_path / "local" / "data" / "shards").glob("*.parquet"))),
                             store, progress=False)
    assert len(list((tmp_path / "local" / "scores" / key).glob("part-*.parquet"))) == before


def test_ray_gpu_scorer_on_a_cpu_cluster_is_a_clear_error(local_ray, tmp_path):
    from curate.errors import UserError
    from curate.executors import Shards, get_executor
    from curate.rundir import RunDir
    from curate.scorers.base import Resources
    from curate.scorers.heuristics import HeuristicsScorer

    class GpuScorer(HeuristicsScorer):
        resources = Resources(device="cuda", batch_size=8, gpus=1.0)

    src = _input(tmp_path)
    from curate.pipeline import run

    run(_recipe(src, tmp_path / "r", "local"), progress=False)
    shards = Shards(sorted((tmp_path / "r" / "data" / "shards").glob("*.parquet")))
    with pytest.raises(UserError, match="GPU"):
        get_executor("ray").fill(GpuScorer(), shards, RunDir(tmp_path / "other").score_store(), progress=False)


def test_unknown_executor_is_a_user_error():
    from curate.errors import UserError
    from curate.executors import get_executor

    with pytest.raises(UserError, match="unknown executor"):
        get_executor("spark")
