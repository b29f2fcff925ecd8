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
        assert (run.report_dir / png).stat().st_size > 1000, png
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
    # turn counts sit with the lengths, the n of the scatter is explained, scores have a glossary
    scores_part = html.split("Score distributions per source")[1].split("Length and turn")[0]
    assert "turns" not in scores_part.split("<img")[0]
    assert "including rows later removed" in html and "<td>reward</td><td>reward model score" in html
    assert "Training and evaluation" not in html  # nothing trained yet


def test_report_training_and_evaluation_section(tmp_path):
    from curate.rundir import write_json

    run = scored_run(tmp_path / "run")
    for i, name in enumerate(("quality", "random")):
        write_json(run.model_dir(name) / "log_history.json",
                   [{"step": s, "loss": 2.0 - 0.1 * s - i / 10} for s in (1, 2, 3)] + [{"step": 3, "eval_loss": 1.9}])
    write_json(run.eval_dir / "winrates.json", [
        {"variant": "quality", "opponent": "base", "judge": "lm:smollm2", "n": 20, "win_rate": 0.625,
         "ci_low": 0.4, "ci_high": 0.825}])
    write_json(run.eval_dir / "heldout.json", {"rows": 8, "losses": [
        {"variant": "base", "loss": 1.234, "perplexity": 3.43, "tokens": 500}]})
    html = curate.report(run.root).read_text()
    part = html.split("Training and evaluation")[-1]
    assert "2 LoRA variants trained" in part and "lm:smollm2" in part
    assert "0.62" in part and "0.40 – 0.82" in part and "1.234" in part
    for png in ("loss_curves.png", "win_rates.png"):
        assert (run.report_dir / png).stat().st_size > 1000, png


def test_heatmap_numbers_are_white_on_dark_cells():
    import numpy as np
    import pandas as pd

    from curate.reporting import plots

    x = np.arange(50.0)
    df = pd.DataFrame({"a": x, "b": x, "c": np.sin(x)})
    fig = plots.correlations(df, ["a", "b", "c"], None, None)
    colors = {t.get_text(): t.get_color() for t in fig.axes[0].texts}
    assert colors["1.00"] == "white" and any(c == "black" for c in colors.values())


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
    assert "Length and turn distributions" in html  # computed from the messages
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


def test_report_counts_show_repairs(tmp_path):
    from curate.rundir import write_json

    run = scored_run(tmp_path / "run")
    manifest = run.manifest()
    write_json(run.manifest_path, {**manifest, "counts": {**manifest["counts"], "repaired": {"leading_assistant": 7}}})
    html = curate.report(run.root).read_text()
    assert re.search(r"<td>  of them repaired: leading_assistant</td><td class=\"num\">7</td>", html)
    assert "read 127 = kept + removed + quarantined = 127" in html


def test_report_says_when_two_subsets_chose_the_same_rows(tmp_path):
    from curate.rundir import write_parquet

    run = scored_run(tmp_path / "run")
    same = run.subset_dir("quality") / "selection.parquet"
    import pyarrow.parquet as pq

    write_parquet(run.subset_dir("quality-copy") / "selection.parquet", pq.read_table(same))
    html = curate.report(run.root).read_text()
    assert "quality-copy chose exactly the same 30 rows as quality." in html
    assert "random chose exactly the same" not in html
