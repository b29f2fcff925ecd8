"""One name per concept in Python: ``limit`` caps the input, ``run_dir`` is the run directory; the old
names keep working for one release with a DeprecationWarning naming the new one."""

import json

import pytest
from helpers import sharegpt

import curate


@pytest.fixture
def jsonl(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_text("\n".join(json.dumps(sharegpt(f"q{i}?", f"a{i}.")) for i in range(5)) + "\n")
    return p


def test_limit_and_deprecated_n(jsonl):
    assert curate.load(jsonl, limit=3).read == 3
    with pytest.warns(DeprecationWarning, match="limit="):
        assert curate.load(jsonl, n=2).read == 2
    with pytest.warns(DeprecationWarning, match="limit="):
        assert sum(c.read for c in curate.iter_load(jsonl, n=4)) == 4
    with pytest.raises(TypeError, match="not both"), pytest.warns(DeprecationWarning):
        curate.load(jsonl, limit=3, n=2)


def test_score_run_dir_and_deprecated_run(jsonl, tmp_path):
    data = curate.load(jsonl)
    a = curate.score(data, ["heuristics"], run_dir=tmp_path / "a", progress=False)
    with pytest.warns(DeprecationWarning, match="run_dir="):
        b = curate.score(data, ["heuristics"], run=tmp_path / "b", progress=False)
    assert a.equals(b) and (tmp_path / "b" / "scores").is_dir()


def test_public_names_resolve():
    for name in ("DedupResult", "Selection", "RunSummary", "RunDir", "Recipe", "load_embeddings", "store",
                 "scorers", "executors"):
        assert getattr(curate, name) is not None
    assert curate.rundir.load_embeddings is curate.load_embeddings and curate.rundir.scores is curate.scores


def test_optional_dependency_error_names_the_extra():
    from curate._optional import require
    from curate.errors import UserError

    with pytest.raises(UserError, match=r"pip install 'curate-chat\[ray\]'"):
        require("ray.no_such_module")
