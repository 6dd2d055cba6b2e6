"""The report is a pure function of the facts: rendered from facts made here."""
import csv
import html as htmllib
import json
import re

import numpy as np
import pytest

from chrome import Chrome
from zoo import metrics
from zoo.show import report
from zoo.judge import stats
from zoo.judge.facts import load_results
from zoo.grid.fakes import make_facts


@pytest.fixture
def rendered(tmp_path):
    results = tmp_path / "results"
    make_facts(results, datasets=("alpha", "beta"), models={"cnn": 0.9, "vit": 0.7, "mlp": 0.5},
               folds=4, classes=5, samples=200, test_samples=60,
               failed={("beta", "mlp", 2)})
    path = report.render(results, tmp_path / "out")
    return results, path, path.read_text()


def cell_values(html, table_class):
    """Text of every data-metric cell of the first table with that class."""
    table = html.split(f'<table class="{table_class}">')[1].split("</table>")[0]
    rows = re.findall(r"<tr.*?</tr>", table, flags=re.S)[1:]
    out = []
    for row in rows:
        model = re.search(r'<td class="text">(.*?)</td>', row).group(1)
        cells = {k: v.replace("\n", " ")   # mean and ± std on two lines in the page
                 for k, v in re.findall(r'data-metric="(\w+)">(.*?)</td>', row, flags=re.S)}
        out.append((htmllib.unescape(model), cells))
    return out


def test_every_section_is_there(rendered):
    _, path, html = rendered
    for text in ("What was compared", "Official test split", "Cross-validation",
                 "Statistical comparison", "All metrics, per fold", "Conclusion.",
                 "Nadeau", "Wilcoxon", "metrics.csv", "facts.json"):
        assert text in html, text
    for fig in ("roc", "pr", "loss", "acc", "cm", "f1"):
        assert f'id="fig-0-{fig}"' in html and f'id="fig-1-{fig}"' in html
    assert '<script src="plotly.min.js"></script>' in html
    assert "cdn" not in html.lower()
    assert (path.parent / "plotly.min.js").stat().st_size > 1_000_000
    assert html.count("Plotly.newPlot") == 1  # one loop, not one inlined library per figure


def test_numbers_in_the_html_equal_metrics_recomputed_from_the_facts(rendered):
    results, _, html = rendered
    runs, _ = load_results(results)
    alpha = runs[0]
    first = html.split('id="ds-1"')[1]
    cv = cell_values(first.split("Cross-validation")[1], "summary")
    assert [model for model, _ in cv] == alpha.models   # every model's row was read
    for model, cells in cv:
        scores = [metrics.scores(f.arrays["y_true"], f.arrays["y_prob"], 5)
                  for f in alpha.ok_folds(model)]
        for key in ("accuracy", "f1", "mcc", "roc_auc", "log_loss"):
            values = [s[key] for s in scores]
            expected = f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"
            assert cells[key] == expected, (model, key)
    test = cell_values(first.split("Official test split")[1], "summary")
    assert [model for model, _ in test] == alpha.models
    y_test = np.arange(60) % 5
    for model, cells in test:
        values = [metrics.scores(y_test, f.arrays["test_prob"], 5)["accuracy"]
                  for f in alpha.ok_folds(model)]
        assert cells["accuracy"] == f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"


def test_best_per_column_is_marked(rendered):
    _, _, html = rendered
    table = html.split('id="ds-1"')[1].split("Cross-validation")[1].split("</table>")[0]
    row = re.search(r"<tr>\s*<td class=\"text\">cnn</td>.*?</tr>", table, flags=re.S).group(0)
    assert 'class="best" data-metric="accuracy"' in row
    assert 'class="best" data-metric="log_loss"' in row


def test_statistics_in_the_report_match_the_tests(rendered):
    results, _, _ = rendered
    context = report.build_context(results)
    alpha = context["datasets"][0]
    c = next(x for x in alpha["comparisons"]["cv"]
             if (x.a, x.b, x.metric) == ("cnn", "vit", "accuracy"))
    run = alpha["run"]
    a = [f.scores["accuracy"] for f in run.ok_folds("cnn")]
    b = [f.scores["accuracy"] for f in run.ok_folds("vit")]
    expected = stats.corrected_ttest(a, b, n_train=150, n_test=50)
    assert c.p == pytest.approx(expected["p"]) and c.mean_diff == pytest.approx(
        np.mean(a) - np.mean(b))
    # the written conclusion leads with the official test split
    assert alpha["conclusion"].startswith("On the official test split, the models differ "
                                          "(the smallest Holm-adjusted p of the 3 pairwise "
                                          "tests, t test over images and fold models")


def test_a_failed_fold_is_shown_as_failed_not_as_a_smaller_mean(rendered):
    results, _, html = rendered
    beta = html.split('id="ds-2"')[1]
    assert "3 of 4" in beta and "1 failed" in beta
    assert "fold 3: diverged: training loss became nan in epoch 2" in beta
    assert re.search(r'<tr class="failed"><td class="text">mlp</td><td>3</td>', beta)


def test_downloads(rendered):
    results, path, _ = rendered
    with open(path.parent / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    # 2 datasets x 3 models x 4 folds, each with a held-out and a test row
    assert len(rows) == 2 * 3 * 4 * 2
    facts = json.loads((path.parent / "facts.json").read_text())
    assert len(facts["folds"]) == 24
    ok = [f for f in facts["folds"] if f["facts"]["status"] == "ok"]
    assert all(0 <= f["scores"]["accuracy"] <= 1 for f in ok)


def test_hostile_names_are_shown_as_text(tmp_path):
    results = tmp_path / "results"
    evil = '<script>alert("x")</script>'
    make_facts(results, datasets=(evil,), models={evil: 0.9, "<img src=x onerror=alert(1)>": 0.8},
               classes=3, class_names=[evil, "b", "</script><script>alert(2)</script>"])
    html = report.render(results, tmp_path / "out").read_text()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    # inside the figures' JSON no "</script>" can end the script block
    scripts = html.split("<script>")[-1]
    assert "</script" not in scripts.split("</script>")[0]


def test_ceiling_conclusion(tmp_path):
    results = tmp_path / "results"
    make_facts(results, models={"cnn": 1.01, "vit": 1.01}, folds=3)
    context = report.build_context(results)
    text = context["datasets"][0]["conclusion"]
    assert "the difference in accuracy between cnn and vit (+0.00 points, 95% CI +0.00 to " \
        "+0.00 points" in text and "is not significant" in text
    ceiling = next(s for s in text.split(". ") if "ceiling" in s)
    assert "ahead" not in ceiling and "significant" not in ceiling


@pytest.mark.browser
def test_the_report_renders_in_headless_chromium_without_errors(rendered):
    _, path, _ = rendered
    chrome = Chrome("--allow-file-access-from-files")
    try:
        chrome.goto(path.as_uri())
        chrome.wait("document.body.dataset.figuresRendered !== undefined")
        # every figure placeholder of the page was drawn (how many there are grows with
        # the report: counted from the page itself)
        placeholders = chrome.js("document.querySelectorAll('div.figure').length")
        assert placeholders >= 12   # six core figures a dataset, two datasets at least
        assert chrome.js("document.body.dataset.figuresTotal") == str(placeholders)
        assert chrome.js("document.body.dataset.figuresRendered") == str(placeholders)
        assert chrome.js("document.querySelectorAll('[data-rendered=yes]').length") == \
            placeholders
        # Plotly drew every figure: one SVG root per figure, with traces in it
        assert chrome.js("document.querySelectorAll('.figure .main-svg').length") >= 12
        assert chrome.js("document.querySelectorAll('.figure .trace').length") > 12
        assert chrome.js("document.getElementById('js-errors').textContent") == ""
        assert chrome.errors == []
    finally:
        chrome.close()


@pytest.mark.browser
def test_wide_tables_scroll_in_their_own_box_on_a_laptop_screen(rendered):
    _, path, _ = rendered
    chrome = Chrome("--allow-file-access-from-files", "--window-size=1280,800")
    try:
        chrome.call("Emulation.setDeviceMetricsOverride", width=1280, height=800,
                    deviceScaleFactor=1, mobile=False)
        chrome.goto(path.as_uri())
        # the page itself never scrolls sideways...
        assert chrome.js("document.documentElement.scrollWidth <= window.innerWidth")
        # ...the per-fold table does, inside its box, with nothing cut off
        box = "document.querySelector('table.folds').parentElement"
        assert chrome.js(f"{box}.classList.contains('scroll')")
        assert chrome.js(f"{box}.scrollWidth > {box}.clientWidth")
        assert chrome.js(f"getComputedStyle({box}).overflowX") == "auto"
        # scrolled to the far right, the model column is still in view at the left edge
        chrome.js(f"{box}.scrollLeft = 10000")
        left = chrome.js(f"{box}.querySelector('tbody td').getBoundingClientRect().left - "
                         f"{box}.getBoundingClientRect().left")
        assert abs(left) < 2
        assert chrome.errors == []
    finally:
        chrome.close()


@pytest.mark.browser
def test_at_1400_pixels_scores_costs_and_verdicts_are_in_view_without_scrolling(tmp_path):
    """The cost columns and the comparison's verdict column were off-screen at 1400 px."""
    results = tmp_path / "results"
    make_facts(results, models={"cnn": 0.9, "vit": 0.7, "mlp": 0.5}, folds=4, classes=10,
               test_samples=60, latency={"cnn": 2.0, "vit": 5.0, "mlp": 1.0})
    path = report.render(results, tmp_path / "out")
    chrome = Chrome("--allow-file-access-from-files", "--window-size=1400,900")
    try:
        chrome.call("Emulation.setDeviceMetricsOverride", width=1400, height=900,
                    deviceScaleFactor=1, mobile=False)
        chrome.goto(path.as_uri())
        for table in ("table.summary", "table.costs", "table.comparison"):
            box = f"document.querySelector('{table}').parentElement"
            assert chrome.js(f"{box}.scrollWidth <= {box}.clientWidth"), table
            right = chrome.js(f"Math.max(...Array.from(document.querySelector('{table}')"
                              ".querySelectorAll('td')).map(td => td.getBoundingClientRect()"
                              ".right))")
            assert right <= 1400, (table, right)
        assert chrome.js("document.querySelector('table.comparison td.verdict')"
                         ".textContent.length") > 20
        assert chrome.errors == []
    finally:
        chrome.close()


def test_accuracy_against_cost_marks_the_pareto_front(tmp_path):
    from zoo.show import figures

    make_facts(tmp_path, models={"fast": 0.85, "slow": 0.97, "worse": 0.6}, folds=3,
               test_samples=200, latency={"fast": 1.0, "slow": 8.0, "worse": 9.0})
    context = report.build_context(tmp_path)
    run = context["datasets"][0]["run"]
    fig = figures.cost_figure(run, "test")
    front = next(t for t in fig["data"] if t.get("name") == "Pareto front")
    assert front["x"] == pytest.approx([1.05, 8.4])     # fast, then slow; worse is beaten
    stars = {t["name"]: t["marker"]["symbol"] for t in fig["data"] if "marker" in t}
    assert stars == {"fast": "star", "slow": "star", "worse": "circle"}
    html = report.render(tmp_path, tmp_path / "out", context=context).read_text()
    assert 'id="fig-0-cost"' in html and "Latency ms (1 image)" in html
    assert "compare them within one report, not across machines or runs" in html
    assert "Size on disk" in html and "5.0 MB" in html   # 'fast': 5,000 parameters


# -- figures a reader can trust (#30 item 1) ---------------------------------------------------
def figures_of(tmp_path, **kw):
    from zoo.show import figures

    context = report.build_context(tmp_path)
    out = {}
    for d in context["datasets"]:
        lead = d.verdict.lead
        out[d.name] = {key: fig for key, _, fig in figures.dataset_figures(
            d.run, d.friedman[lead], d.comparisons[lead])}
    return context, out


def test_a_model_keeps_its_colour_and_label_in_every_figure_and_dataset(tmp_path):
    long = "hub:preset=/a/very/long/path/to/a/tiny-resnet"
    make_facts(tmp_path, datasets=("alpha", "beta"), models={"vit": 0.7, long: 0.8,
                                                             "cnn": 0.9},
               latency={"vit": 25.0, long: 30.0, "cnn": 20.0}, test_samples=60)
    context, figs = figures_of(tmp_path)
    colours = {}
    for by in figs.values():
        for fig in by.values():
            for trace in fig["data"]:
                model = trace.get("meta") or trace.get("name")
                colour = (trace.get("line") or {}).get("color") or \
                    (trace.get("marker") or {}).get("color")
                if model in ("vit", "cnn", long) and isinstance(colour, str):
                    colours.setdefault(model, set()).add(colour)
    assert all(len(c) == 1 for c in colours.values()), colours
    assert len({next(iter(c)) for c in colours.values()}) == 3
    roc = figs["alpha"]["roc"]["data"]
    shown = {t["name"] for t in roc if t.get("meta") == long}
    assert shown == {"hub:preset=…/tiny-resnet"}            # short in the legend
    d = context["datasets"][0]
    assert d.labels == [("hub:preset=…/tiny-resnet", long)]
    html = report.render(tmp_path, tmp_path / "out").read_text()
    assert "Names shortened in the figures" in html and long in html


def test_log_axes_label_every_tick_in_full_and_intervals_stay_within_0_and_1(tmp_path):
    make_facts(tmp_path, models={"cnn": 0.9, "vit": 0.08}, latency={"cnn": 20.0, "vit": 30.0},
               test_samples=60, folds=3)
    _, figs = figures_of(tmp_path)
    cost = figs["alpha"]["cost"]
    axis = cost["layout"]["xaxis"]
    assert axis["type"] == "log" and "20 ms" in axis["ticktext"] and "30 ms" in axis["ticktext"]
    assert "2" not in axis["ticktext"] and "3" not in axis["ticktext"]
    for trace in cost["data"][1:]:
        acc, bars = trace["y"][0], trace["error_y"]
        assert acc - bars["arrayminus"][0] >= 0 and acc + bars["array"][0] <= 1
    title = cost["layout"]["title"]
    assert title["xanchor"] == "left" and title["x"] < 0.1   # clear of Plotly's toolbar
    loss = figs["alpha"]["loss"]["layout"]
    assert loss["xaxis"]["dtick"] >= 1 and loss["xaxis"]["tick0"] == 1   # whole epochs


def test_log_ticks_cover_the_range_with_readable_labels():
    from zoo.show.figures import log_ticks

    t = log_ticks(476, 4781)
    assert t["ticktext"][:2] == ["500", "1,000"] and "5,000" in t["ticktext"]
    assert log_ticks(0, 10) == {}
