"""The conclusion: from the facts of one dataset's run to what can be said about the models,
and no more than the statistics support.

The comparisons are zoo.judge.comparisons' (one typed result per pair and metric, Holm-adjusted
per family); the words are zoo.judge.words'. This module decides what is compared where (the
official test split leads when there is one), judges whether each model's training had
levelled off, and assembles the :class:`Verdict` the report and the CLI print.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

from zoo.judge import comparisons as cmp, stats, tuned, words
from zoo.judge.comparisons import (CEILING, COMPARED, MAIN, N_BOOT, TEST_COMPARED,  # noqa: F401
                             mean_std, shared_folds)

#: a model is "still improving" when the last epochs lowered the best validation loss by more
#: than this share (see :func:`fold_training_state`); smaller moves are within the epoch-to-
#: epoch noise of validation loss
STILL_IMPROVING = 0.05


# -- training state --------------------------------------------------------------------------
def fold_training_state(facts: dict) -> str:
    """'levelled off', 'still improving' or 'too short to tell' for one fold's history.

    Still improving: the last ``w`` epochs (a fifth of the budget, at least 2) lowered the
    best validation loss of the epochs before them by more than :data:`STILL_IMPROVING`. A
    fold that early stopping ended before its budget levelled off by definition."""
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


# -- the conclusion --------------------------------------------------------------------------
@dataclass
class Verdict:
    """What the report and the CLI say about one dataset's run."""
    lead: str                           # "test" when there is an official test split, else "cv"
    compared: list                      # models with at least two successful folds
    not_compared: list
    shared: list                        # fold numbers (0-based) every compared model finished
    comparisons: dict                   # "cv" / "test" -> [Comparison]
    rankings: dict                      # "cv" / "test" -> Ranking or None
    training: dict                      # model -> training state
    near_chance: dict = field(default_factory=dict)   # model -> what its accuracy is near
    tuning: dict | None = None          # a tuned run's searches (zoo.judge.tuned.view)
    conclusion: str = ""
    headline: str = ""                  # the one plain line the conclusion leads with
    primary: str = ""                   # the label of the metric the claims are made on
    estimands: dict = field(default_factory=dict)   # source -> what its claims are about
    extra: dict = field(default_factory=dict)


def has_test(run) -> bool:
    return bool(run.info["dataset"].get("test_samples")) and \
        getattr(run, "y_test", None) is not None


def lead(run) -> str:
    """Where the claims are made: the official test split when the dataset has one and the
    primary metric is compared there (accuracy, F1), else the held-out folds."""
    return "test" if has_test(run) and cmp.primary(run) in TEST_COMPARED else "cv"


def conclude(run) -> Verdict:
    """Everything the report and the CLI say about one dataset's run."""
    test = has_test(run)
    compared = [m for m in run.models if len(run.ok_folds(m)) >= 2]
    comparisons = {"cv": words.describe(cmp.families(run, compared, "cv")),
                   "test": words.describe(cmp.families(run, compared, "test")) if test else []}
    v = Verdict(
        lead=lead(run), compared=compared,
        not_compared=[m for m in run.models if m not in compared],
        shared=shared_folds(run, compared), comparisons=comparisons,
        rankings={source: cmp.ranking(run, compared, rows, source)
                  for source, rows in comparisons.items()},
        training=training_states(run))
    v.primary = words.said(cmp.meta(run, cmp.primary(run))[0])
    v.estimands = estimands(run, compared, test)
    v.near_chance = near_chance(run, compared, v.lead)
    v.tuning = tuned.view(run)
    v.conclusion = " ".join(s for s in (v.tuning["sentence"] if v.tuning else "",
                                        words.conclusion(v, run)) if s)
    v.headline = words.headline(v, run)
    return v


def estimands(run, compared, test: bool) -> dict:
    """source -> the sentence saying what a claim there is about."""
    images = [f.facts.get("train_samples") for m in compared for f in run.ok_folds(m)
              if f.facts.get("train_samples")]
    return {source: words.estimand(source, float(np.mean(images)) if images else None)
            for source in (("cv", "test") if test else ("cv",))}


#: a model that recovers less than this share of the way from the baseline (chance, or the
#: most frequent class) to perfect accuracy was not trained, whatever a test says
RECOVERED = 0.10


def baseline(run, source: str) -> tuple:
    """(accuracy, what) of guessing without looking: uniform chance, or always the most
    frequent class of the labels scored on, whichever is higher."""
    classes = len(run.classes)
    if source == "test":
        y = np.asarray(run.y_test)
    else:
        folds = next((run.ok_folds(m) for m in run.models if run.ok_folds(m)), [])
        y = np.concatenate([f.y_true for f in folds]) if folds else np.zeros(0, int)
    majority = float(np.bincount(y, minlength=classes).max() / len(y)) if len(y) else 0.0
    if majority > 1 / classes + 1e-9:
        return majority, "always predicting the most frequent class"
    return 1 / classes, f"chance with {classes} classes"


def near_chance(run, models, source: str) -> dict:
    """model -> {"accuracy", "baseline", "what", "p"} for every model whose accuracy on
    ``source`` is within noise of the baseline (one-sided t test over its folds, corrected
    on held-out folds, p >= 0.05) or recovers less than :data:`RECOVERED` of the way from it
    to 1: its result says that its recipe did not train it, not that its architecture is
    worse."""
    base, what = baseline(run, source)
    out = {}
    for m in models:
        folds = run.ok_folds(m)
        scores = [(f.test_scores if source == "test" else f.scores).get(MAIN) for f in folds]
        scores = np.asarray([s for s in scores if s is not None and np.isfinite(s)])
        if len(scores) == 0:
            continue
        mean = float(scores.mean())
        p = _above(scores - base, run, folds, source)
        barely = (mean - base) / max(1e-12, 1 - base) < RECOVERED
        if barely or p >= stats.ALPHA:
            out[m] = {"accuracy": mean, "baseline": base, "what": what, "p": p,
                      "barely": barely, "low": float(scores.min()), "high": float(scores.max())}
    return out


def _above(d, run, folds, source) -> float:
    """One-sided p that the mean of ``d`` (accuracy minus the baseline, per fold) is above 0:
    a t test over the folds, corrected for overlapping training sets on held-out folds."""
    k = len(d)
    if k < 2 or np.var(d) == 0:
        return 0.0 if d.mean() > 0 else 1.0
    rho = 0.0
    if source == "cv":
        n_train, n_test = cmp.fold_sizes(run, folds)
        rho = n_test / n_train
    se = math.sqrt((1 / k + rho) * float(np.var(d, ddof=1)))
    return float(sps.t.sf(d.mean() / se, k - 1))


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


# -- learning curves -------------------------------------------------------------------------
def learning_curve(run, n_boot: int = N_BOOT) -> dict | None:
    """The learning curves of a run with --train-sizes: for every training size, each model's
    accuracy (mean and std over its successful folds) on the held-out folds and the official
    test split, the number of training images, and every pair's difference tested at that
    size (on the test split with the t test over images and fold models when the dataset
    has one, else on the
    held-out folds with the corrected t-test; Holm-adjusted over all pairs and sizes); then a
    sentence on whether and where the curves cross. None without learning curves."""
    sizes = run.train_sizes
    if not sizes:
        return None
    where_ = lead(run)
    main = cmp.primary(run)
    models = [m for m in run.models if m in run.curves]
    tests = words.describe(cmp.family(run, models, [main], where_, sizes, n_boot))
    rows = [_curve_row(run, models, size, where_, main, [c for c in tests if c.size == size])
            for size in sizes]
    where = cmp.SOURCES[where_]
    sentences = [words.crossing_sentence(a, b, [c for c in tests if (c.a, c.b) == (a, b)])
                 for a, b in stats.pairs(models)]
    return {"sizes": sizes, "models": models, "rows": rows, "lead": where_, "where": where,
            "family": len(tests), "metric": cmp.meta(run, main)[0],
            "sentence": (f"Learning curves ({words.said(cmp.meta(run, main)[0])} on {where}, "
                         f"{tests[0].test if tests else 'no test'}, Holm-adjusted over "
                         f"{len(tests)} tests): " + " ".join(sentences)) if sentences else
            "Only one model has learning-curve results; there is nothing to compare."}


def _curve_row(run, models, size, lead, metric, comparisons) -> dict:
    folds = {m: [f for f in run.folds_at(m, size) if f.ok] for m in models}
    images = [f.facts.get("train_samples") for fs in folds.values() for f in fs
              if f.facts.get("train_samples")]
    row = {"size": size, "images": float(np.mean(images)) if images else float("nan"),
           "models": {}, "comparisons": comparisons}
    for m in models:
        cv = [f.scores.get(metric) for f in folds[m]]
        test = [f.test_scores.get(metric) for f in folds[m] if f.test_scores]
        mean, std = mean_std(test if lead == "test" else cv)
        row["models"][m] = {"mean": mean, "std": std, "folds": len(folds[m]),
                            "cv": mean_std(cv)[0], "test": mean_std(test)[0],
                            "text": "—" if mean is None else f"{mean:.4f} ± {std:.4f}"}
    return row
