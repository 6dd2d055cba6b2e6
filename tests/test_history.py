"""Runs over time: every run under a results folder listed with its status and headline,
an index of them in the report with a page each, `zoo runs`, `zoo report --run` and
`zoo diff` (what changed between two runs, paired by fold when the splits are the same)."""
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from zoo.cli import cli
from zoo.grid.fakes import make_facts
from zoo.judge import comparisons as cmp, history
from zoo.judge.facts import load_run
from zoo.show import report
from zoo.store import RunStore, find_run, find_runs, read_json, write_json


def made(results, started, **kwargs):
    """A run made up by make_facts, started at ``started``; its store."""
    entry = make_facts(results, **kwargs)[0]
    store = RunStore(results, entry["dataset"], entry["run_id"])
    info = store.read_run()
    info["started_at"] = started
    store.write_run(info)
    return store


@pytest.fixture
def three(tmp_path):
    """Three runs: a finished one, an interrupted one (no finish time, a fold missing) and
    one whose every fold failed, oldest first."""
    r = tmp_path / "results"
    ok = made(r, "2026-01-01T10:00:00", models={"cnn": 0.95, "vit": 0.6}, folds=3,
              samples=300, test_samples=150)
    cut = made(r, "2026-01-02T10:00:00", models={"cnn": 0.9, "vit": 0.8}, folds=3,
               epochs=5)
    info = cut.read_run()
    info.pop("finished_at")
    cut.write_run(info)
    for suffix in (".json", ".npz"):
        os.remove(cut.fold_paths("vit", 2)[0].with_suffix(suffix))
    failed = made(r, "2026-01-03T10:00:00", models={"cnn": 0.9}, folds=2, epochs=6,
                  failed=[("alpha", "cnn", 0), ("alpha", "cnn", 1)])
    return r, ok, cut, failed


def test_every_run_is_listed_newest_first_with_its_status(three):
    r, ok, cut, failed = three
    assert [s.run_id for s in find_runs(r)] == [failed.run_id, cut.run_id, ok.run_id]
    items = history.entries(r)
    assert [(e.status, e.cells) for e in items] == [
        ("failed", "2 of 2 cells"), ("interrupted", "5 of 6 cells"),
        ("finished", "6 of 6 cells")]
    assert items[2].headline.startswith("cnn is better than vit on alpha: ")
    assert items[2].protocol == "3-fold, 4 epochs, batch 128, lr 0.001"
    assert items[1].models == ["cnn", "vit"] and items[1].started == "2026-01-02T10:00:00"


def test_a_run_that_cannot_be_read_is_listed_and_hides_nothing(three):
    r, ok, cut, failed = three
    (cut.path / "run.json").write_text("{not json")
    items = history.entries(r)   # its date unknown, it is listed last
    assert items[2].run_id == cut.run_id and items[2].status.startswith("unreadable: ")
    assert items[0].status == "failed" and items[1].status == "finished"
    lines = CliRunner().invoke(cli, ["runs", "--results", str(r)]).output.splitlines()
    assert any(line.startswith(cut.run_id) and "unreadable" in line for line in lines)


def test_zoo_runs_lists_id_date_dataset_models_status_and_headline(three):
    r, ok, cut, failed = three
    out = CliRunner().invoke(cli, ["runs", "--results", str(r)])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == f"{failed.run_id}  2026-01-03 10:00  alpha  cnn  [failed; 2 of 2 cells]"
    first = lines.index(f"{ok.run_id}  2026-01-01 10:00  alpha  cnn, vit  "
                        "[finished; 6 of 6 cells]")
    assert lines[first + 1] == "    3-fold, 4 epochs, batch 128, lr 0.001"
    assert lines[first + 2].startswith("    cnn is better than vit on alpha")
    empty = CliRunner().invoke(cli, ["runs", "--results", str(r / "none")])
    assert "no runs yet" in empty.output


def test_the_report_opens_with_every_run_each_with_a_page(three, tmp_path):
    r, ok, cut, failed = three
    write_json(r / "last_run.json", {"runs": [{"dataset": "alpha", "run_id": ok.run_id}],
                                      "skipped": []})
    out = tmp_path / "reports"
    html = report.render(r, out).read_text()
    table = html[html.index('<table class="runs">'):html.index("</table>", html.index(
        '<table class="runs">'))]
    rows = table.split("<tr")[2:]
    assert [failed.run_id in rows[0], cut.run_id in rows[1], ok.run_id in rows[2]] == [True] * 3
    assert "failed" in rows[0] and "interrupted" in rows[1] and "finished" in rows[2]
    assert "cnn is better than vit on alpha" in rows[2]
    for store in (ok, cut, failed):
        page = out / "runs" / store.run_id / "index.html"
        assert f'href="runs/{store.run_id}/index.html"' in table and page.exists()
        text = page.read_text()
        assert f"Run {store.run_id}" in text and 'src="../../plotly.min.js"' in text
        assert (page.parent / "metrics.csv").exists() and (page.parent / "facts.json").exists()
    assert "partial" in (out / "runs" / cut.run_id / "index.html").read_text().lower()


def test_a_page_is_rendered_again_only_when_its_facts_change(three, tmp_path):
    r, ok, cut, failed = three
    out = tmp_path / "reports"
    zoo.report(r, out, run=cut.run_id)
    write_json(r / "last_run.json", {"runs": [{"dataset": "alpha", "run_id": ok.run_id}],
                                      "skipped": []})
    report.render(r, out)
    pages = {s.run_id: out / "runs" / s.run_id / "index.html" for s in (ok, cut, failed)}
    before = {k: p.stat().st_mtime_ns for k, p in pages.items()}
    facts = cut.fold_paths("cnn", 0)[0]
    data = read_json(facts)
    data["fit_seconds"] = 99.0
    write_json(facts, data)   # newer than cut's page
    report.render(r, out)
    after = {k: p.stat().st_mtime_ns for k, p in pages.items()}
    assert after[cut.run_id] > before[cut.run_id]
    assert after[failed.run_id] == before[failed.run_id]


def test_report_run_renders_one_page_by_a_unique_start_of_its_id(three, tmp_path):
    r, ok, cut, failed = three
    result = CliRunner().invoke(cli, ["report", "--run", ok.run_id[:6], "--results", str(r),
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    page = tmp_path / "o" / "runs" / ok.run_id / "index.html"
    assert f"report: {page}" in result.output and page.exists()
    assert not (tmp_path / "o" / "runs" / cut.run_id).exists()
    bad = CliRunner().invoke(cli, ["report", "--run", "zz", "--results", str(r)])
    assert bad.exit_code != 0 and f"--run: no run 'zz' in {r}; known: " in bad.output
    assert ok.run_id in bad.output


def test_an_ambiguous_start_of_an_id_names_the_runs_it_matches(tmp_path):
    r = tmp_path / "r"
    for name in ("aaa111", "aaa222"):
        (r / "alpha" / name).mkdir(parents=True)
        (r / "alpha" / name / "run.json").write_text(json.dumps({"dataset": {"name": "alpha"}}))
    with pytest.raises(zoo.ZooError, match="'aaa' matches 2 runs .*aaa111, aaa222"):
        find_run(r, "aaa")
    assert find_run(r, "aaa2").run_id == "aaa222"


def test_diff_says_what_changed_and_pairs_the_same_splits_by_fold(tmp_path):
    r = tmp_path / "r"
    a = made(r, "2026-01-01T10:00:00", models={"cnn": 0.8, "vit": 0.7}, folds=4, epochs=4,
             samples=400, test_samples=200)
    b = made(r, "2026-01-02T10:00:00", models={"cnn": 0.95, "vit": 0.7, "mlp": 0.5},
             folds=4, epochs=6, samples=400, test_samples=200)
    d = zoo.diff(a.run_id, b.run_id, results=r)
    assert d["settings"] == {"epochs": (4, 6)} and d["models"]["only_b"] == ["mlp"]
    assert d["data"]["same"] and d["same_splits"] and d["why_not"] == ""
    cnn = next(s for s in d["scores"] if (s["model"], s["source"]) == ("cnn", "cv"))
    assert cnn["metric"] == "accuracy"   # the primary metric first, then every other one
    run_a, run_b = (load_run(s) for s in (a, b))
    assert {s["metric"] for s in d["scores"] if s["model"] == "cnn"} == set(
        cmp.compared_metrics(run_a))   # the core ones and a plugin's (ece)
    mean = lambda run: np.mean([f.scores["accuracy"] for f in run.ok_folds("cnn")])  # noqa: E731
    assert cnn["a"] == pytest.approx(mean(run_a)) and cnn["b"] == pytest.approx(mean(run_b))
    # paired by fold: the report's corrected t-test on B − A, over the same 4 folds
    paired = next(c for c in d["paired"] if c.source == "cv" and c.a == "cnn (B)")
    xa = [f.scores["accuracy"] for f in run_a.ok_folds("cnn")]
    xb = [f.scores["accuracy"] for f in run_b.ok_folds("cnn")]
    n_train, n_test = cmp.fold_sizes(run_a, run_a.ok_folds("cnn") + run_b.ok_folds("cnn"))
    ref = zoo.judge.stats.corrected_ttest(xb, xa, n_train, n_test)
    assert paired.p == pytest.approx(ref["p"]) and paired.mean_diff == pytest.approx(
        np.mean(xb) - np.mean(xa))
    assert paired.family == 2   # Holm over the 2 shared models
    assert any(c.source == "test" for c in d["paired"])
    text = CliRunner().invoke(cli, ["diff", a.run_id, b.run_id, "--results", str(r)]).output
    assert "settings: epochs: 4 -> 6" in text and "models only in A: —; only in B: mlp" in text
    assert "paired by fold (the same splits), B − A:" in text
    assert f"cnn on the held-out folds: accuracy {cnn['a']:.4f} -> {cnn['b']:.4f}" in text
    assert "; F1 (macro) " in text


def test_diff_of_other_splits_or_other_data_compares_summaries_and_says_why(tmp_path):
    r = tmp_path / "r"
    a = made(r, "2026-01-01T10:00:00", models={"cnn": 0.8}, folds=3, samples=300)
    b = made(r, "2026-01-02T10:00:00", models={"cnn": 0.8}, folds=4, samples=300)
    d = zoo.diff(a.run_id, b.run_id, results=r)
    assert d["paired"] == [] and "different splits" in d["why_not"]
    assert d["settings"]["folds"] == (3, 4) and d["scores"]
    c = made(r, "2026-01-03T10:00:00", models={"cnn": 0.8}, folds=3, samples=300, seed=5)
    d = zoo.diff(a.run_id, c.run_id, results=r)
    assert not d["data"]["same"] and "different data" in d["why_not"]
    out = CliRunner().invoke(cli, ["diff", a.run_id, "nope", "--results", str(r)])
    assert out.exit_code != 0 and "RUN_B: no run 'nope'" in out.output


def test_a_symbolic_link_among_the_runs_is_never_followed(three, tmp_path):
    r, ok, cut, failed = three
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "run.json").write_text(json.dumps({"dataset": {"name": "alpha"}}))
    (r / "alpha" / "aaaa1111").symlink_to(elsewhere, target_is_directory=True)
    (r / "beta").symlink_to(ok.path.parent, target_is_directory=True)
    assert sorted(s.run_id for s in find_runs(r)) == sorted(
        s.run_id for s in (ok, cut, failed))
