"""curate.report on a hand-built run directory: files exist and show the run's counts."""

from __future__ import annotations

import re

import pytest
from helpers import scored_run

import curate
from curate.errors import UserError


def test_report_files_and_counts(tmp_path):
    run = scored_run(tmp_path / "run")
    path = curate.report(run.root)
    assert path == run.root / "report" / "report.html"
    html = path.read_text()
    for png in ("counts.png", "scores.png", "lengths.png", "correlations.png", "source_mix.png", "subset_scores.png"):
        assert (run.root / "report" / png).stat().st_size > 1000, png
    assert html.count("data:image/png;base64,") == 6  # self-contained
    assert "<script" not in html and "http" not in html.replace(str(run.root.resolve()), "")
    # the manifest counts, the reconciliation and the removal reasons
    assert re.search(r"<td>read</td><td class=\"num\">127</td>", html)
    assert re.search(r"<td>kept</td><td class=\"num\">114</td>", html)
    assert "removed: duplicate:exact" in html and "removed: duplicate:near" in html
    assert "read 127 = kept + removed + quarantined = 127" in html
    # the subsets table
    assert re.search(r"<td>quality</td><td class=\"num\">30</td>", html)
    assert re.search(r"<td>random</td><td class=\"num\">30</td>", html)
    assert "top-k by rank(reward)=" in html and "random (seed 3407)" in html
    assert "budget 90" in html  # rejected by rule: 120 - 30
    # dedup clusters with texts, escaped
    assert "question number 0?" in html and "&lt;b&gt;&amp;amp;" in html and "<b>&amp;" not in html
    assert "fake-recipe" in html


def test_report_counts_mismatch_is_flagged(tmp_path):
    run = scored_run(tmp_path / "run")
    m = run.manifest()
    m["counts"]["read"] = 999
    run.update_manifest(counts=m["counts"])
    html = curate.report(run.root).read_text()
    assert 'class="bad"' in html and "read 999 ≠" in html


def test_report_without_scores_or_subsets(tmp_path):
    run = scored_run(tmp_path / "run", with_scores=False)
    import shutil

    shutil.rmtree(run.root / "subsets")
    html = curate.report(run.root).read_text()
    assert "Length distributions" in html  # computed from the messages
    assert "Subsets" not in html
    assert (run.root / "report" / "lengths.png").exists()


def test_report_empty_run_and_missing_dir(tmp_path):
    (tmp_path / "empty").mkdir()
    html = curate.report(tmp_path / "empty").read_text()
    assert "no counts yet" in html
    with pytest.raises(UserError, match="does not exist"):
        curate.report(tmp_path / "nope")


def test_report_cli(tmp_path, capsys):
    from curate.cli import main

    run = scored_run(tmp_path / "run")
    assert main(["report", str(run.root)]) == 0
    assert str(run.root / "report" / "report.html") in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing")]) == 2
