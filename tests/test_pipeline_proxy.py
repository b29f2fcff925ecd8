"""A recipe with ``proxies:``: the Distill step stores a proxy for every kept row, subsets rank by it,
resume skips it, a changed proxy setting re-runs it, and report.html shows the agreement."""

import importlib
import json

import pyarrow.parquet as pq
import pytest
from helpers import recipe

import curate
from curate.errors import UserError
from curate.pipeline import run
from curate.recipe import parse

PROXY = {"column": "assistant_chars", "features": ["heuristics"], "sample": 24, "model": "ridge"}


def _recipe(src, out, **proxy):
    r = recipe(src, out, proxies=[PROXY | proxy])
    r["subsets"].append({"name": "by-proxy", "rank": {"assistant_chars_proxy": 1.0}, "budget": 5})
    return r


def test_distill_step_scores_kept_rows_resumes_and_reports(dirty_jsonl, tmp_path, monkeypatch):
    out = tmp_path / "run"
    summary = run(_recipe(dirty_jsonl, out), progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    (proxy,) = manifest["proxies"]
    assert proxy["column"] == "assistant_chars" and proxy["agreement"]["spearman"] > 0.5
    assert [s["name"] for s in manifest["scorers"]] == ["heuristics"]
    assert summary.proxies == manifest["proxies"] and proxy["key"] in summary.table()
    scores = curate.scores(out, [proxy["key"]])
    rd = curate.RunDir(out)
    alive = set(rd.conversations_table(["id"]).column("id").to_pylist()) - set(rd.invalid()["id"])
    assert set(scores.loc[scores["assistant_chars_proxy"].notna(), "id"]) == alive  # every row valid at the step
    chosen = pq.read_table(out / "subsets" / "by-proxy" / "selection.parquet").to_pandas()
    ranked = scores.set_index("id").loc[chosen["id"], "assistant_chars_proxy"]
    assert len(chosen) == 5 and ranked.min() >= scores["assistant_chars_proxy"].nlargest(7).min()
    html = (out / "report" / "report.html").read_text()
    assert "Distilled proxies" in html and "assistant_chars_proxy" in html and "top-25%" in html

    package = importlib.import_module("curate.proxy")  # the Distill step calls curate.proxy.distill
    calls = []
    real = package.distill
    monkeypatch.setattr(package, "distill", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    again = run(_recipe(dirty_jsonl, out), progress=False)
    assert calls == [] and again.subsets == summary.subsets  # resumed: the step restored, not re-run
    run(_recipe(dirty_jsonl, out, seed=1), progress=False)
    assert len(calls) == 1  # a changed proxy setting re-runs it
    new_key = json.loads((out / "manifest.json").read_text())["proxies"][0]["key"]
    html = (out / "report" / "report.html").read_text()
    assert new_key != proxy["key"] and html.count('alt="calibration of assistant_chars_proxy"') == 1  # not the old fit


def test_recipe_rejects_an_unknown_proxy_key(tmp_path):
    with pytest.raises(UserError) as e:
        parse(recipe("in.jsonl", tmp_path, proxies=[PROXY | {"smaple": 10}]))
    assert "proxies.0.smaple" in str(e.value) and "allowed:" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UserError, match=r"proxies\.0\.teacher: unknown scorer 'rewrd'"):
        parse(recipe("in.jsonl", tmp_path, proxies=[PROXY | {"teacher": {"name": "rewrd"}}]))
    with pytest.raises(UserError, match="one proxy per teacher column"):
        parse(recipe("in.jsonl", tmp_path, proxies=[PROXY, PROXY]))
