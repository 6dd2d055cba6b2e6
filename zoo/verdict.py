"""The conclusion: from the facts of one dataset's run to what can be said about the models,
and no more than the statistics support.

Every statement names its test. Held-out folds: Nadeau-Bengio corrected t-test (Wilcoxon as a
second opinion). Official test split: paired bootstrap over test images and fold models
(McNemar's exact test on the fold ensembles as a second opinion). Each family of pairwise
tests is Holm-adjusted; with three or more models Friedman's test and Nemenyi's critical
difference come first. Models whose training had not levelled off are named. The report and
the CLI print the same conclusion from here.
"""
from __future__ import annotations

import math

import numpy as np

from zoo import stats
from zoo.metrics import BOUNDS, METRICS

CORE = set(METRICS)

#: metrics compared pairwise on held-out folds (and every metric a plugin adds)
COMPARED = ("accuracy", "f1", "mcc", "roc_auc")
#: metrics compared on the official test split (paired bootstrap)
TEST_COMPARED = ("accuracy", "f1")
#: the metric the conclusion is about
MAIN = "accuracy"
#: mean scores at or above this sit at the ceiling: differences there say little
CEILING = 0.995
#: a model is "still improving" when the last epochs lowered the best validation loss by more
#: than this share (see :func:`fold_training_state`); smaller moves are within the epoch-to-
#: epoch noise of validation loss
STILL_IMPROVING = 0.05
N_BOOT = 2000


# -- training state --------------------------------------------------------------------------
def fold_training_state(facts: dict) -> str:
    """'levelled off', 'still improving' or 'too short to tell' for one fold's history.

    Still improving: the last ``w`` epochs (a fifth of the budget, at least 2) lowered the
    best validation loss of the epochs before them by more than :data:`STILL_IMPROVING`. A fold that early
    stopping ended before its budget levelled off by definition."""
    history = facts.get("history", {})
    losses = [v for v in history.get("val_loss") or history.get("loss") or []
              if v is not None and math.isfinite(v)]
    epochs = int(facts.get("epochs") or len(losses))
    if facts.get("epochs_run") is not None and facts["epochs_run"] < epochs:
        return "levelled off"  # early stopping fired
    w = max(2, math.ceil(0.2 * len(losses)))
    if len(losses) <= w:
        return "too short to tell"
    before = min(losses[:-w])
    after = min(losses[-w:])
    if before > 0 and (before - after) / before > STILL_IMPROVING:
        return "still improving"
    return "levelled off"


def training_states(run) -> dict:
    """model -> {"state", "improving", "folds", "text"} over the model's successful folds."""
    out = {}
    for model in run.models:
        states = [fold_training_state(f.facts) for f in run.ok_folds(model)]
        improving = states.count("still improving")
        short = states.count("too short to tell")
        if not states:
            state, text = "unknown", "—"
        elif improving * 2 >= len(states) and improving:
            state = "still improving"
            text = f"still improving ({improving} of {len(states)} folds)"
        elif short * 2 >= len(states):
            state, text = "too short to tell", "too few epochs to tell"
        else:
            state = "levelled off"
            text = "levelled off" + (f" ({improving} of {len(states)} folds still improving)"
                                     if improving else "")
        out[model] = {"state": state, "improving": improving, "folds": len(states),
                      "text": text}
    return out


# -- comparisons -----------------------------------------------------------------------------
def _sizes(run, folds_a, folds_b) -> tuple:
    """(n_train, n_test) for the corrected t-test: each fold's actual training and held-out
    sizes (early stopping's inner split shrinks the training part), averaged over the shared
    folds of both models. Facts saved without sizes fall back to n - n/k and n/k."""
    n = run.info["dataset"]["samples"]
    trains, tests = [], []
    for f in list(folds_a) + list(folds_b):
        held = f.facts.get("held_out_samples") or len(f.arrays.get("y_true", ())) \
            or n / run.info["protocol"]["folds"]
        trains.append(f.facts.get("train_samples") or n - held)
        tests.append(held)
    return float(np.mean(trains)), float(np.mean(tests))


def shared_folds(run, models) -> list:
    """Fold numbers where every model in ``models`` succeeded."""
    common = None
    for m in models:
        ok = {f.fold for f in run.ok_folds(m)}
        common = ok if common is None else common & ok
    return sorted(common or [])


def _fold(run, model, k):
    return next(f for f in run.ok_folds(model) if f.fold == k)


def compared_metrics(run) -> list:
    """The core metrics of :data:`COMPARED` and every metric a plugin added (top-5 accuracy,
    calibration error, ...), as far as the run scored them."""
    scored = getattr(run, "metrics", None) or {}
    names = [m for m in COMPARED if not scored or m in scored]
    return names + [m for m in scored if m not in CORE]


def _meta(run, metric) -> tuple:
    """(label, higher is better, bounds) of a metric, from the run's catalogue."""
    spec = (getattr(run, "metrics", None) or {}).get(metric)
    if spec is not None:
        return spec.label or metric, spec.higher_is_better, spec.bounds
    label, higher = METRICS[metric]
    return label, higher, BOUNDS.get(metric)


def cv_comparisons(run, models) -> list:
    """Every pair of ``models`` on every metric of :func:`compared_metrics`, over the folds
    both finished: corrected t-test, Wilcoxon, Holm-adjusted p over the whole family."""
    out = []
    for a, b in stats.pairs(models):
        common = shared_folds(run, (a, b))
        if len(common) < 2:
            continue
        fa = [_fold(run, a, k) for k in common]
        fb = [_fold(run, b, k) for k in common]
        n_train, n_test = _sizes(run, fa, fb)
        for metric in compared_metrics(run):
            xa = [f.scores.get(metric, float("nan")) for f in fa]
            xb = [f.scores.get(metric, float("nan")) for f in fb]
            if not (np.isfinite(xa).all() and np.isfinite(xb).all()):
                continue
            r = stats.corrected_ttest(xa, xb, n_train, n_test, bounds=_meta(run, metric)[2])
            r.update(_pair(run, a, b, metric, xa, xb, common))
            r.update(test="corrected t-test", second="Wilcoxon",
                     second_p=stats.wilcoxon(xa, xb))
            out.append(r)
    return _adjust(out, "held-out folds")


def test_comparisons(run, models, y_test, n_boot: int = N_BOOT) -> list:
    """Every pair of ``models`` on the official test split: a paired bootstrap over the test
    images and the fold models (accuracy and macro F1), McNemar's exact test on the fold
    ensembles' predictions (accuracy), Holm-adjusted p over the family."""
    out = []
    y_test = np.asarray(y_test)
    boot = split_bootstrap(run, y_test, n_boot)
    preds, ensembles = {}, {}
    for a, b in stats.pairs(models):
        common = shared_folds(run, (a, b))
        common = [k for k in common if "test_prob" in _fold(run, a, k).arrays
                  and "test_prob" in _fold(run, b, k).arrays]
        if len(common) < 1:
            continue
        for m in (a, b):
            for k in common:
                if (m, k) not in preds:
                    preds[m, k] = _fold(run, m, k).arrays["test_prob"].argmax(axis=1)
        for m in (a, b):  # a model's ensemble over these folds, once for all its pairs
            if (m, tuple(common)) not in ensembles:
                ensembles[m, tuple(common)] = np.mean(
                    [_fold(run, m, k).arrays["test_prob"] for k in common], axis=0).argmax(axis=1)
        mcnemar = stats.mcnemar_exact(y_test, ensembles[a, tuple(common)],
                                      ensembles[b, tuple(common)])
        for metric in TEST_COMPARED:
            r = boot.compare([preds[a, k] for k in common], [preds[b, k] for k in common],
                             metric, keys_a=[(a, k) for k in common],
                             keys_b=[(b, k) for k in common],
                             bounds=_meta(run, metric)[2])
            xa = [_fold(run, a, k).test_scores.get(metric) for k in common]
            xb = [_fold(run, b, k).test_scores.get(metric) for k in common]
            r.update(_pair(run, a, b, metric, xa, xb, common))
            r.update(test="paired bootstrap", second="McNemar" if metric == "accuracy" else "",
                     second_p=mcnemar["p"] if metric == "accuracy" else float("nan"),
                     mcnemar=mcnemar if metric == "accuracy" else None)
            out.append(r)
    return _adjust(out, "the official test split")


def split_bootstrap(run, y_test: np.ndarray, n_boot: int = N_BOOT):
    """The run's resamples of its test split (zoo.stats.TestSplitBootstrap, seed 0), made once
    and shared by the pairwise comparisons and the learning curves: 2,000 resamples of 7,172
    images take about 1 s and 115 MB."""
    cache = run.__dict__.setdefault("_test_bootstraps", {})
    key = (n_boot, y_test.tobytes())
    if key not in cache:
        cache[key] = stats.TestSplitBootstrap(y_test, len(run.classes), n_boot=n_boot, seed=0)
    return cache[key]


def _pair(run, a, b, metric, xa, xb, common) -> dict:
    label, higher, bounds = _meta(run, metric)
    return {"a": a, "b": b, "metric": metric, "label": label, "higher": higher,
            "mean_a": float(np.mean(xa)), "mean_b": float(np.mean(xb)),
            "folds": [k + 1 for k in common],
            "at_ceiling": bool(higher and bounds is not None and bounds[1] == 1
                               and min(np.mean(xa), np.mean(xb)) >= CEILING)}


def _adjust(rows: list, where: str) -> list:
    """Holm-adjust the family's p-values and write each row's verdict from the adjusted p."""
    adjusted = stats.holm([r["p"] for r in rows])
    for r, p_adj in zip(rows, adjusted, strict=True):
        r["p_holm"] = p_adj
        r["family"] = len(rows)
        diff = r["mean_diff"]
        better = r["a"] if (diff > 0) == r["higher"] else r["b"]
        worse = r["b"] if better == r["a"] else r["a"]
        size = _size(diff, r["metric"])
        r["significant"] = bool(np.isfinite(p_adj) and p_adj < stats.ALPHA and diff != 0)
        r["better"] = better if r["significant"] else ""
        if r["undecidable"]:
            r["verdict"] = (f"undecided: every shared fold gives the same difference ({size}), "
                            "so the t statistic is undefined and the test cannot tell a real "
                            "difference from chance")
        elif r["significant"]:
            r["verdict"] = (f"{better} ahead of {worse} by {size.lstrip('+-')} "
                            f"({stats.format_p(p_adj)}, Holm-adjusted over {len(rows)} tests)")
        else:
            r["verdict"] = (f"no significant difference ({size}; "
                            f"{stats.format_p(p_adj)}, Holm-adjusted over {len(rows)} tests)")
        r["second_note"] = ""
        if r.get("test") == "corrected t-test":
            k = len(r["folds"])
            if stats.smallest_wilcoxon_p(k) >= stats.ALPHA:
                r["second_note"] = (f"with {k} folds Wilcoxon's test cannot reach p < 0.05 "
                                    f"(its smallest p is {stats.smallest_wilcoxon_p(k):.3f})")
    return rows


def _size(diff: float, metric: str) -> str:
    if metric == "log_loss":
        return f"{diff:+.4f}"
    return f"{diff * 100:+.2f} points"


def friedman_view(run, models, source: str):
    """Friedman's test and Nemenyi's critical difference of ``models`` (3+) on the main
    metric over the folds they all finished; None when it does not apply."""
    if len(models) < 3:
        return None
    common = shared_folds(run, models)
    if len(common) < 2:
        return None
    key = "test_scores" if source == "test" else "scores"
    scores = np.array([[getattr(_fold(run, m, k), key).get(MAIN, np.nan) for m in models]
                       for k in common])
    if not np.isfinite(scores).all():
        return None
    result = stats.friedman(scores, higher_is_better=_meta(run, MAIN)[1])
    result.update(models=list(models), folds=[k + 1 for k in common], metric=MAIN,
                  means=scores.mean(axis=0).tolist(), source=source)
    result["significant"] = result["p"] < stats.ALPHA
    return result


# -- the conclusion --------------------------------------------------------------------------
def conclude(run) -> dict:
    """Everything the report and the CLI say about one dataset's run."""
    y_test = getattr(run, "y_test", None)
    has_test = bool(run.info["dataset"].get("test_samples")) and y_test is not None
    compared = [m for m in run.models if len(run.ok_folds(m)) >= 2]
    not_compared = [m for m in run.models if m not in compared]
    cv = cv_comparisons(run, compared)
    test = test_comparisons(run, compared, y_test) if has_test else []
    lead = "test" if has_test else "cv"
    friedman = {"cv": friedman_view(run, compared, "cv"),
                "test": friedman_view(run, compared, "test") if has_test else None}
    training = training_states(run)
    text = _text(run, compared, not_compared, cv if lead == "cv" else test, friedman[lead],
                 training, lead)
    return {"comparisons": {"cv": cv, "test": test}, "friedman": friedman,
            "training": training, "conclusion": text, "lead": lead,
            "compared": compared, "not_compared": not_compared}


def _text(run, compared, not_compared, comparisons, friedman, training, lead) -> str:
    where = "the official test split" if lead == "test" else "the held-out folds"
    parts = []
    for m in not_compared:
        ok = len(run.ok_folds(m))
        parts.append(f"{m} was not compared: it finished {ok} fold{'s' if ok != 1 else ''} "
                     "successfully, and a comparison needs at least two.")
    if len(compared) < 2:
        if len(run.models) <= 1:
            parts.append(f"Only one model has results on {run.name}; there is nothing to "
                         "compare.")
        elif not not_compared:
            parts.append("Too few successful folds to compare models.")
        return " ".join(parts)
    main = [c for c in comparisons if c["metric"] == MAIN]
    shared = shared_folds(run, compared)
    all_folds = run.info["protocol"]["folds"]
    if len(shared) < all_folds:
        failed = [f"{m} fold {f.fold + 1}" for m in compared for f in run.folds[m] if not f.ok]
        parts.append(f"Compared on the {len(shared)} of {all_folds} folds where every model "
                     f"succeeded (failed: {', '.join(failed)}); the means here and in the summary "
                     "tables are over those folds.")
    if friedman is not None:
        parts.append(_friedman_sentence(friedman, where))
    elif main:
        c = main[0]
        parts.append(f"On {where}, {_pair_sentence(c)}")
    if friedman is not None:
        surviving = [c for c in main if c["significant"]]
        if friedman["significant"] and surviving:
            parts.append("Pairwise differences that survive Holm's adjustment: "
                         + "; ".join(f"{c['better']} ahead of "
                                     f"{c['b'] if c['better'] == c['a'] else c['a']} by "
                                     f"{_size(c['mean_diff'], MAIN).lstrip('+-')} "
                                     f"({stats.format_p(c['p_holm'])})" for c in surviving)
                         + ".")
        elif friedman["significant"]:
            parts.append("No single pair differs significantly once the tests are adjusted "
                         "for their number (Holm).")
        else:
            parts.append("No pairwise difference is claimed.")
    if main and all(c["at_ceiling"] for c in main):
        parts.append(f"Every model scores at least {CEILING} in accuracy here: at this "
                     "ceiling the scores cannot rank the models, whatever the tests say.")
    improving = [m for m in compared if training[m]["state"] == "still improving"]
    if improving:
        which = "; ".join(f"{m}: {training[m]['improving']} of {training[m]['folds']} folds"
                          for m in improving)
        parts.append(f"{_names(improving)} {'was' if len(improving) == 1 else 'were'} still "
                     f"improving when training stopped (validation loss still falling in the "
                     f"last epochs; {which}); a longer budget may change this ranking.")
    short = [m for m in compared if training[m]["state"] == "too short to tell"]
    if short:
        parts.append(f"Too few epochs to tell whether {_names(short)} had levelled off.")
    if lead == "cv" and main:
        k = len(main[0]["folds"])
        if stats.smallest_wilcoxon_p(k) >= stats.ALPHA:
            parts.append(f"With {k} folds, Wilcoxon's signed-rank test cannot reach p < 0.05 "
                         "whatever the scores; more folds are needed for it to confirm a "
                         "difference.")
    return " ".join(parts)


def _names(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _pair_sentence(c) -> str:
    how = (f"{c['a']} {c['mean_a']:.4f} vs {c['b']} {c['mean_b']:.4f}; {c['test']}, "
           f"Holm-adjusted over {c['family']} tests")
    if c["undecidable"]:
        return (f"{c['a']} and {c['b']} cannot be told apart by the test: every fold gives "
                f"the same difference in accuracy ({_size(c['mean_diff'], MAIN)}), so its "
                f"variance is zero and the t statistic is undefined ({how}).")
    if c["significant"]:
        worse = c["b"] if c["better"] == c["a"] else c["a"]
        return (f"{c['better']} is ahead of {worse} by "
                f"{_size(c['mean_diff'], MAIN).lstrip('+-')} in accuracy "
                f"(95% CI {c['ci_low'] * 100:+.2f} to {c['ci_high'] * 100:+.2f} points for "
                f"{c['a']} − {c['b']}; {stats.format_p(c['p_holm'])}, {how}).")
    return (f"the difference in accuracy between {c['a']} and {c['b']} "
            f"({_size(c['mean_diff'], MAIN)}) is not significant "
            f"({stats.format_p(c['p_holm'])}, {how}).")


def _friedman_sentence(f, where) -> str:
    order = np.argsort(f["ranks"], kind="stable")
    ranked = ", ".join(f"{f['models'][i]} ({f['means'][i]:.4f}, mean rank {f['ranks'][i]:.2f})"
                       for i in order)
    verdict = ("the models differ" if f["significant"]
               else "no significant difference among the models")
    return (f"On {where}, ranked by accuracy: {ranked}. Friedman's test over "
            f"{len(f['folds'])} folds: {verdict} ({stats.format_p(f['p'])}); Nemenyi's "
            f"critical difference is {f['cd']:.2f} ranks.")


# -- what the report says about trusting the numbers -----------------------------------------
def leakage_view(run):
    """The leakage check of the split this run used (None for runs made without it)."""
    leak = run.info.get("leakage")
    if not leak:
        return None
    used = leak["used"]
    rows = [{"kind": kind, "used": kind == used, **check}
            for kind, check in leak["checks"].items()]
    return {"rows": rows, "used": used, "note": leak.get("note", ""),
            "groups": leak.get("groups"), "flagged": leak["checks"][used]["leakage"],
            "reasons": leak["checks"][used]["reasons"],
            "threshold": leak["checks"][used]["near_copy_threshold"]}


def trust_note(run, leak) -> str:
    """Which scores to trust, in words that agree with the leakage check shown beside them."""
    flagged = leak is not None and leak["flagged"]
    grouped = leak is not None and leak["used"] == "grouped"
    if run.info["dataset"].get("test_samples"):
        if flagged:
            why = (f"on {run.name} the held-out folds share near-copies with the folds the "
                   "models trained on (see the leakage check), so held-out scores are "
                   "optimistic")
        elif leak is not None:
            why = ("the held-out folds are a second estimate: the leakage check found no "
                   "near-copies across them" + (" in the grouped split used" if grouped
                                                 else ""))
        else:
            why = "held-out folds were not checked for near-copies of training images"
        return ("Lead with the official test-split scores: that split was never used for "
                f"training or model selection; {why}.")
    if flagged:
        return ("This dataset has no official test split and its held-out folds share "
                "near-copies with the training folds: the cross-validation scores are "
                "optimistic. Rerun with --split grouped for an honest estimate.")
    return ("This dataset has no official test split: the scores are cross-validation "
            "estimates on held-out folds"
            + (", and the leakage check found no near-copies across folds." if leak is not None
               else "."))


# -- learning curves -------------------------------------------------------------------------
def learning_curve(run, n_boot: int = N_BOOT) -> dict | None:
    """The learning curves of a run with --train-sizes: for every training size, each model's
    accuracy (mean and std over its successful folds) on the held-out folds and the official
    test split, the number of training images, and every pair's difference tested at that
    size (on the test split with the paired bootstrap when the dataset has one, else on the
    held-out folds with the corrected t-test; Holm-adjusted over all pairs and sizes); then a
    sentence on whether and where the curves cross. None without learning curves."""
    sizes = run.train_sizes
    if not sizes:
        return None
    y_test = getattr(run, "y_test", None)
    lead = "test" if run.info["dataset"].get("test_samples") and y_test is not None else "cv"
    models = [m for m in run.models if m in run.curves]
    boot = split_bootstrap(run, np.asarray(y_test), n_boot) if lead == "test" else None
    rows, tests = [], []
    for size in sizes:
        folds = {m: [f for f in run.folds_at(m, size) if f.ok] for m in models}
        images = [f.facts.get("train_samples") for fs in folds.values() for f in fs
                  if f.facts.get("train_samples")]
        row = {"size": size, "images": float(np.mean(images)) if images else float("nan"),
               "models": {}, "comparisons": []}
        for m in models:
            cv = [f.scores.get(MAIN) for f in folds[m]]
            test = [f.test_scores.get(MAIN) for f in folds[m] if f.test_scores]
            mean, std = mean_std(test if lead == "test" else cv)
            row["models"][m] = {
                "mean": mean, "std": std, "folds": len(folds[m]),
                "cv": mean_std(cv)[0], "test": mean_std(test)[0],
                "text": "—" if mean is None else f"{mean:.4f} ± {std:.4f}"}
        for a, b in stats.pairs(models):
            common = sorted({f.fold for f in folds[a]} & {f.fold for f in folds[b]})
            fa = [next(f for f in folds[a] if f.fold == k) for k in common]
            fb = [next(f for f in folds[b] if f.fold == k) for k in common]
            if lead == "test":
                if not common or not all("test_prob" in f.arrays for f in fa + fb):
                    continue
                r = boot.compare([f.arrays["test_prob"].argmax(axis=1) for f in fa],
                                 [f.arrays["test_prob"].argmax(axis=1) for f in fb], MAIN,
                                 keys_a=[(a, size, k) for k in common],
                                 keys_b=[(b, size, k) for k in common], bounds=BOUNDS[MAIN])
                r["test"] = "paired bootstrap"
            else:
                if len(common) < 2:
                    continue
                n_train, n_test = _sizes(run, fa, fb)
                r = stats.corrected_ttest([f.scores[MAIN] for f in fa],
                                          [f.scores[MAIN] for f in fb], n_train, n_test,
                                          bounds=BOUNDS[MAIN])
                r["test"] = "corrected t-test"
            scores = "test_scores" if lead == "test" else "scores"
            r.update(_pair(run, a, b, MAIN, [getattr(f, scores)[MAIN] for f in fa],
                           [getattr(f, scores)[MAIN] for f in fb], common))
            r["size"], r["images"] = size, row["images"]
            row["comparisons"].append(r)
            tests.append(r)
        rows.append(row)
    _adjust(tests, "the learning curve")
    where = "the official test split" if lead == "test" else "the held-out folds"
    sentences = [_crossing_sentence(a, b, [c for c in tests if (c["a"], c["b"]) == (a, b)])
                 for a, b in stats.pairs(models)]
    return {"sizes": sizes, "models": models, "rows": rows, "lead": lead, "where": where,
            "family": len(tests),
            "sentence": (f"Learning curves ({MAIN} on {where}, "
                         f"{tests[0]['test'] if tests else 'no test'}, Holm-adjusted over "
                         f"{len(tests)} tests): " + " ".join(sentences)) if sentences else
            "Only one model has learning-curve results; there is nothing to compare."}


def mean_std(values) -> tuple:
    """(mean, sample std) of the finite values; (None, None) when there are none."""
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _crossing_sentence(a: str, b: str, points: list) -> str:
    """Whether and where the mean curves of ``a`` and ``b`` cross, and which of their
    differences the tests support (``points``: the pair's comparisons, by size)."""
    if not points:
        return f"{a} and {b} share no training size with results on both."

    def at(c):
        return f"{c['images']:,.0f} images"

    def ahead(c):
        return a if c["mean_diff"] > 0 else b if c["mean_diff"] < 0 else ""

    significant = [c for c in points if c["significant"]]
    support = ("; significant at " + ", ".join(f"{at(c)} ({c['better']} ahead, "
                                              f"{stats.format_p(c['p_holm'])})"
                                              for c in significant)
               if significant else "; no difference is significant at any size")
    crossings = [(c, d) for c, d in zip(points, points[1:], strict=False)
                 if ahead(c) and ahead(d) and ahead(c) != ahead(d)]
    gap = (f"{a} − {b}: {_size(points[0]['mean_diff'], MAIN)} at {at(points[0])}, "
           f"{_size(points[-1]['mean_diff'], MAIN)} at {at(points[-1])}")
    if crossings:
        where = ", and again ".join(f"between {at(c)} ({ahead(c)} ahead) and {at(d)} "
                                    f"({ahead(d)} ahead)" for c, d in crossings)
        text = f"the curves of {a} and {b} cross {where} ({gap}{support})."
        if not any(c["significant"] for pair in crossings for c in pair):
            text += (" Neither side of the crossing is a significant difference, so the data "
                     "do not show that the ranking changes with the amount of training data.")
        return text[0].upper() + text[1:]
    leaders = {ahead(c) for c in points if ahead(c)}
    if len(leaders) == 1:
        (leader,) = leaders
        return (f"The curves of {a} and {b} do not cross: {leader} is ahead at every training "
                f"size ({gap}{support}).")
    return f"The curves of {a} and {b} do not cross ({gap}{support})."
