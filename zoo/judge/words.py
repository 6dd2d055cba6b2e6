"""The words of the verdict: every sentence the report and `zoo run` print about a
comparison, a ranking, a learning curve or the trust one can put in the scores. Numbers come
from zoo.judge.comparisons and zoo.judge.verdict; nothing is computed here but the wording."""
from __future__ import annotations

from zoo.judge import stats
from zoo.judge.comparisons import (CEILING, MAX_REPEATS, SOURCES, TEST_COMPARED, meta,
                                   primary)
from zoo.schema import fold_count


def size(diff: float, metric: str) -> str:
    """A difference as the report states it: points of a score, or the raw log loss."""
    if metric == "log_loss":
        return f"{diff:+.4f}"
    return f"{diff * 100:+.2f} points"


def said(label: str) -> str:
    """A metric's label as running text says it: 'Accuracy' -> 'accuracy'; 'F1 (macro)', 'MCC'
    and 'ROC-AUC (macro, OvR)' as they are."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def names(items) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def comparison_verdict(c) -> str:
    """The verdict column of one comparison, from its Holm-adjusted p; beside a difference
    that is not significant, what these data could have detected."""
    amount = size(c.mean_diff, c.metric)
    if c.undecidable:
        return (f"undecided: every shared fold gives the same difference ({amount}), so the "
                "t statistic is undefined and the test cannot tell a real difference from "
                "chance")
    adjusted = f"{stats.format_p(c.p_holm)}, Holm-adjusted over {tests(c)}"
    if c.significant:
        return f"{c.better} ahead of {c.worse} by {amount.lstrip('+-')} ({adjusted})"
    return f"no significant difference ({amount}; {adjusted}){power(c)}"


def tests(c) -> str:
    """'3 tests (3 pairs of models, the primary metric)', '10 tests (2 pairs of models × 5
    metrics, secondary)': the family a p was adjusted over."""
    said = f"{c.family} test{'s' * (c.family != 1)}"
    role = {"primary": "the primary metric", "secondary": "secondary"}.get(c.role, "")
    what = ", ".join(x for x in (c.family_of if c.family > 1 else "", role) if x)
    return f"{said} ({what})" if what else said


def estimand(source: str, images=None) -> str:
    """What a claim on ``source`` is about, in one sentence: held-out folds estimate how
    models trained on data of this size from this distribution compare; the official test
    split, how the models trained on these very training data compare (the fold models share
    them, so nothing there varies the training data)."""
    many = f" of about {images:,.0f} images" if images and images == images else ""
    if source == "cv":
        return (f"Claims on held-out folds are about models trained on data{many} drawn "
                "like these, from the same distribution.")
    return (f"Claims on the official test split are about models trained on these training "
            f"data{many} (every fold model is trained on part of them): a new training set "
            "could rank them otherwise.")


def headline(v, run) -> str:
    """The conclusion's one plain line, before its details: which model is better than which,
    by how much and with what p, on the primary metric where the conclusion leads ('cnn is
    better than vit on signs: +24.2 points of accuracy on the official test split, p =
    0.036, for models trained on these training data'); or that no difference is
    significant; '' when nothing was compared."""
    main = [c for c in v.comparisons.get(v.lead, []) if c.primary]
    if len(v.compared) < 2 or not main:
        return ""
    where, label = SOURCES[v.lead], said(main[0].label)
    won = [c for c in main if c.significant]
    if not won:
        return (f"No model is shown better than another on {run.name}: no difference in "
                f"{label} on {where} is significant.")
    lines = [f"{c.better} is better than {c.worse} on {run.name}: "
             + (f"{size(abs(c.mean_diff), c.metric)} of {label}" if c.higher else
                f"{size(abs(c.mean_diff), c.metric).lstrip('+')} less {label}")
             + f" on {where}, {stats.format_p(c.p_holm)}"
             for c in sorted(won, key=lambda c: c.p_holm)]
    scope = ("models trained on data of this size from this distribution" if v.lead == "cv"
             else "models trained on these training data")
    return "; ".join(lines) + f" (a claim about {scope})."


def power(c) -> str:
    """'; these 3 folds could only detect ...': what the claim as made (at the level its
    adjustment gives) could have found, so that 'not significant' is not read as 'no
    difference'; and how many repeats of the k-fold split would find the observed one."""
    if not (c.detectable == c.detectable) or c.significant or c.undecidable:
        return ""
    repeated = f" ({c.split_folds} × {c.repeats} repeats)" if c.repeats > 1 else ""
    unit = f"{c.k} fold{'s' * (c.k != 1)}{repeated}" if c.source == "cv" else \
        f"these {c.k} fold model{'s' * (c.k != 1)}{repeated} on this test split"
    level = ("at the 5% level" if c.family <= 1 else
             f"at level 0.05/{c.family}, where Holm's adjustment over {c.family} tests starts")
    span = c.bounds[1] - c.bounds[0] if c.bounds else float("inf")
    if c.detectable >= span:
        text = (f"; with {unit} the scores vary so much that no difference the metric can "
                "take would be found with 80% power")
    else:
        text = (f"; with {unit} only a difference of about "
                f"{size(c.detectable, c.metric).lstrip('+')} or more is found with 80% power "
                f"({level})")
    if abs(c.mean_diff) < 1e-12 or c.detectable <= abs(c.mean_diff):
        return text
    if c.repeats_needed:
        return text + (f"; --repeats {c.repeats_needed} would find the observed one with 80% "
                       "power if the spread per fold stays as observed")
    if not c.spread:
        return text
    return text + (f", and no number of repeats up to {MAX_REPEATS} would find the observed "
                   "one (" + ("repeats do not shrink the part of the variance that comes from "
                              "folds sharing training data" if c.source == "cv" else
                              "repeats do not shrink the test split's own image-to-image "
                              "noise") + ")")


def second_note(c) -> str:
    """Why a second opinion could not confirm anything, when that is certain in advance."""
    if c.second == "Wilcoxon" and stats.smallest_wilcoxon_p(c.nonzero) >= stats.ALPHA:
        zeros = c.k - c.nonzero
        return (f"with {c.nonzero} folds of non-zero difference"
                + (f" ({zeros} of {c.k} gave none)" if zeros else "")
                + " Wilcoxon's test cannot reach p < 0.05 (its smallest p is "
                f"{stats.smallest_wilcoxon_p(c.nonzero):.3f})")
    return ""


def describe(rows: list) -> list:
    """Fill in each comparison's verdict and second-opinion note."""
    for c in rows:
        c.verdict, c.second_note = comparison_verdict(c), second_note(c)
    return rows


# -- the conclusion -----------------------------------------------------------------------------
def conclusion(v, run) -> str:
    """What the report and the CLI say about one dataset's run (``v``: zoo.judge.verdict.Verdict),
    sentence by sentence."""
    parts = [f"{m} was not compared: it finished {len(run.ok_folds(m))} "
             f"fold{'s' if len(run.ok_folds(m)) != 1 else ''} successfully, and a comparison "
             "needs at least two." for m in v.not_compared]
    if len(v.compared) < 2:
        if len(run.models) <= 1:
            parts.append(f"Only one model has results on {run.name}; there is nothing to "
                         "compare.")
        elif not v.not_compared:
            parts.append("Too few successful folds to compare models.")
        return " ".join(parts)
    main = [c for c in v.comparisons[v.lead] if c.primary]
    claimed = any(c.significant for c in main)
    for sentence in (_primary(v, run), _shared_folds(v, run, main), _ranked(v, main),
                     _near_chance(v),
                     _ceiling(main), _still_improving(v, claimed), _too_short(v),
                     _few_folds(v, main)):
        if sentence:
            parts.append(sentence)
    return " ".join(parts)


def _primary(v, run) -> str:
    """Where the claims are made when the primary metric moves them off the test split."""
    main = primary(run)
    if v.lead == "cv" and run.info["dataset"].get("test_samples") and \
            main not in TEST_COMPARED:
        return (f"The claims are made on {said(meta(run, main)[0])}, the primary metric, which is "
                "compared on the held-out folds only (the official test split is compared "
                "on accuracy and F1).")
    return ""


def _shared_folds(v, run, main) -> str:
    all_folds = fold_count(run.info["protocol"])
    if len(v.shared) >= all_folds:
        return ""
    failed = [f"{m} fold {f.fold + 1}" for m in v.compared for f in run.folds[m] if not f.ok]
    if not main:
        return (f"No comparison is possible: the models finished different folds (failed: "
                f"{', '.join(failed)}), and no pair shares enough of them.")
    if len(v.shared) < (1 if v.lead == "test" else 2):
        return (f"The models did not all finish the same folds (failed: {', '.join(failed)}): "
                "no comparison of all of them is possible, and each pair below is compared "
                "on the folds both finished.")
    return (f"Compared on the {len(v.shared)} of {all_folds} folds where every model "
            f"succeeded (failed: {', '.join(failed)}); the means here and in the summary "
            "tables are over those folds.")


def _ranked(v, main) -> str:
    where = SOURCES[v.lead]
    ranking = v.rankings.get(v.lead)
    if ranking is None:
        return f"On {where}, {pair_sentence(main[0])}" if main else ""
    sentences = [ranking_sentence(ranking)]
    surviving = [c for c in main if c.significant]
    if surviving:
        sentences.append("Pairwise differences that survive Holm's adjustment: "
                         + "; ".join(f"{c.better} ahead of {c.worse} by "
                                     f"{size(c.mean_diff, c.metric).lstrip('+-')} "
                                     f"({stats.format_p(c.p_holm)})" for c in surviving) + ".")
    else:
        sentences.append("No pairwise difference is claimed.")
    return " ".join(sentences)


def _near_chance(v) -> str:
    if not v.near_chance:
        return ""
    out = []
    advice = ("give it more epochs or a wider search before comparing it (its settings were "
              "already the best its search found)." if v.tuning else
              "give it more epochs or another learning rate before comparing it (--tune "
              "searches one for every model alike).")
    for m, c in v.near_chance.items():
        if c["barely"]:
            out.append(f"{m} scores {c['accuracy']:.4f} in accuracy, within noise of "
                       f"{c['what']} ({c['baseline']:.4f}): its recipe did not train it, so "
                       f"its result says nothing about its architecture; {advice}")
        else:
            out.append(f"{m} scores {c['accuracy']:.4f} in accuracy on average, but its folds "
                       f"({c['low']:.4f} to {c['high']:.4f}) are too unequal to show that it "
                       f"beats {c['what']} ({c['baseline']:.4f}): its recipe trained it in "
                       f"some folds and not in others, so its result says little about its "
                       f"architecture; {advice}")
    return " ".join(out)


def _ceiling(main) -> str:
    if main and all(c.at_ceiling for c in main):
        return (f"Every model scores at least {CEILING} in {said(main[0].label)} here: at this "
                "ceiling the "
                "scores cannot rank the models, whatever the tests say.")
    return ""


def _still_improving(v, claimed: bool) -> str:
    improving = [m for m in v.compared if v.training[m]["state"] == "still improving"]
    if not improving:
        return ""
    which = "; ".join(f"{m}: {v.training[m]['improving']} of {v.training[m]['folds']} folds"
                      for m in improving)
    return (f"{names(improving)} {'was' if len(improving) == 1 else 'were'} still improving "
            f"when training stopped (validation loss still falling in the last epochs; "
            f"{which}); a longer budget may change "
            + ("this ranking." if claimed else "these results."))


def _too_short(v) -> str:
    short = [m for m in v.compared if v.training[m]["state"] == "too short to tell"]
    return f"Too few epochs to tell whether {names(short)} had levelled off." if short else ""


def _few_folds(v, main) -> str:
    if v.lead != "cv" or not main or main[0].second != "Wilcoxon":
        return ""
    k = main[0].nonzero
    if stats.smallest_wilcoxon_p(k) >= stats.ALPHA:
        return (f"With {k} fold{'s' * (k != 1)} of non-zero difference, Wilcoxon's "
                "signed-rank test cannot "
                "reach p < 0.05 whatever the scores; more folds are needed for it to confirm "
                "a difference.")
    return ""


def pair_sentence(c) -> str:
    how = (f"{c.a} {c.mean_a:.4f} vs {c.b} {c.mean_b:.4f}; {c.test}, "
           f"Holm-adjusted over {tests(c)}")
    if c.undecidable:
        return (f"{c.a} and {c.b} cannot be told apart by the test: every fold gives the same "
                f"difference in {said(c.label)} ({size(c.mean_diff, c.metric)}), so its variance is "
                f"zero and the t statistic is undefined ({how}).")
    low, high = size(c.ci_low, c.metric), size(c.ci_high, c.metric)
    interval = (f"95% CI {low.replace(' points', '')} to {high} for {c.a} − {c.b}"
                + (", before Holm's adjustment" if c.family > 1 else ""))
    if c.significant:
        return (f"{c.better} is ahead of {c.worse} by {size(c.mean_diff, c.metric).lstrip('+-')}"
                f" in {said(c.label)} ({interval}; {stats.format_p(c.p_holm)}, {how}).")
    return (f"the difference in {said(c.label)} between {c.a} and {c.b} "
            f"({size(c.mean_diff, c.metric)}, {interval}) is not significant "
            f"({stats.format_p(c.p_holm)}, {how}){power(c)}.")


def ranking_sentence(r) -> str:
    """Whether three or more models differ (a Holm-adjusted pairwise test says so), and the
    models in order of their mean score."""
    listed = ", ".join(f"{r.models[i]} {r.means[i]:.4f}" for i in r.order())
    test = (f"the smallest Holm-adjusted p of the {r.pairs} pairwise tests, {r.test}: "
            f"{stats.format_p(r.p)}")
    if r.significant:
        return f"On {r.where}, the models differ ({test}); by mean {said(r.label)}: {listed}."
    return (f"On {r.where}, no significant difference among the models ({test}); mean "
            f"{said(r.label)}: {listed}.")


# -- learning curves ----------------------------------------------------------------------------
def crossing_sentence(a: str, b: str, points: list) -> str:
    """Whether and where the curves of ``a`` and ``b`` cross, and which of their differences
    the tests support (``points``: the pair's comparisons, by size). The curves are said to
    cross only between a significant difference one way and a significant difference the
    other way; point estimates that swap within the noise are named as such."""
    if not points:
        return f"{a} and {b} share no training size with results on both."
    significant = [c for c in points if c.significant]
    support = ("; significant at " + ", ".join(f"{_at(c)} ({c.better} ahead, "
                                              f"{stats.format_p(c.p_holm)})"
                                              for c in significant)
               if significant else "; no difference is significant at any size")
    gap = (f"{a} − {b}: {size(points[0].mean_diff, points[0].metric)} at {_at(points[0])}, "
           f"{size(points[-1].mean_diff, points[-1].metric)} at {_at(points[-1])}")
    real = [(c, d) for c, d in zip(significant, significant[1:], strict=False)
            if c.better != d.better]
    if real:
        where = ", and again ".join(f"between {_at(c)} ({c.better} ahead) and {_at(d)} "
                                    f"({d.better} ahead)" for c, d in real)
        return f"The curves of {a} and {b} cross {where} ({gap}{support})."
    return _no_crossing(a, b, points, f"{gap}{support}")


def _no_crossing(a: str, b: str, points: list, evidence: str) -> str:
    """The sentence when no significant difference changes sides: mean curves that swap
    within the noise, one model ahead throughout, or neither."""
    ahead = [_ahead(a, b, c) for c in points]
    swaps = [(c, d, x, y) for c, d, x, y in zip(points, points[1:], ahead, ahead[1:],
                                                 strict=False) if x and y and x != y]
    if swaps:
        where = ", and again ".join(f"between {_at(c)} ({x} ahead) and {_at(d)} ({y} ahead)"
                                    for c, d, x, y in swaps)
        return (f"The mean curves of {a} and {b} swap places {where}, but not with a "
                f"significant difference on both sides ({evidence}): within the noise, "
                "the data do not show that the ranking changes with the amount of training "
                "data.")
    return _one_side(a, b, points, ahead, evidence)


def _one_side(a: str, b: str, points: list, ahead: list, evidence: str) -> str:
    """Curves whose means never swap: "ahead" is the tests' word, said of a model only when
    every size's difference is significant; otherwise the means are named as means."""
    if len(set(ahead)) != 1 or not ahead[0]:
        return f"The curves of {a} and {b} do not cross ({evidence})."
    leader = ahead[0]
    if all(c.significant for c in points):
        return (f"The curves of {a} and {b} do not cross: {leader} is ahead at every training "
                f"size ({evidence}).")
    return (f"The mean curves of {a} and {b} do not cross: {leader}'s mean is the better at "
            f"every training size, not a significant difference at every one ({evidence}).")


def _at(c) -> str:
    return f"{c.images:,.0f} images"


def _ahead(a, b, c) -> str:
    return a if c.mean_diff > 0 else b if c.mean_diff < 0 else ""


# -- trust --------------------------------------------------------------------------------------
def trust_note(run, leak) -> str:
    """Which scores to trust, in words that agree with the leakage check shown beside them."""
    flagged = leak is not None and leak["flagged"]
    if run.info["dataset"].get("test_samples"):
        return ("Lead with the official test-split scores: that split was never used for "
                f"training or model selection; {_held_out_trust(run, leak, flagged)}.")
    if flagged:
        return ("This dataset has no official test split and its held-out folds share "
                "near-copies with the training folds: the cross-validation scores are "
                "optimistic. Rerun with --split grouped for an honest estimate.")
    return ("This dataset has no official test split: the scores are cross-validation "
            "estimates on held-out folds"
            + (", and the leakage check found no near-copies across folds." if leak is not None
               else "."))


def _held_out_trust(run, leak, flagged) -> str:
    if flagged:
        return (f"on {run.name} the held-out folds share near-copies with the folds the "
                "models trained on (see the leakage check), so held-out scores are optimistic")
    if leak is not None:
        return ("the held-out folds are a second estimate: the leakage check found no "
                "near-copies across them" + (" in the grouped split used"
                                             if leak["used"] == "grouped" else ""))
    return "held-out folds were not checked for near-copies of training images"
