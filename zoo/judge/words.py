"""The words of the verdict: every sentence the report and `zoo run` print about a
comparison, a ranking, a learning curve or the trust one can put in the scores. Numbers come
from zoo.judge.comparisons and zoo.judge.verdict; nothing is computed here but the wording."""
from __future__ import annotations

from zoo.judge import stats
from zoo.judge.comparisons import CEILING, MAIN, SOURCES


def size(diff: float, metric: str) -> str:
    """A difference as the report states it: points of a score, or the raw log loss."""
    if metric == "log_loss":
        return f"{diff:+.4f}"
    return f"{diff * 100:+.2f} points"


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
    """'6 tests (1 pair of models × 6 metrics)': the family a p was adjusted over."""
    said = f"{c.family} test{'s' * (c.family != 1)}"
    return f"{said} ({c.family_of})" if c.family_of and c.family > 1 else said


def headline(v, run) -> str:
    """The conclusion's one plain line, before its details: which model is better than which,
    by how much and with what p, on the main metric where the conclusion leads ('cnn is
    better than vit on signs: +24.2 points of accuracy on the official test split, p =
    0.036'); or that no difference is significant; '' when nothing was compared."""
    main = [c for c in v.comparisons.get(v.lead, []) if c.metric == MAIN]
    if len(v.compared) < 2 or not main:
        return ""
    where = SOURCES[v.lead]
    won = [c for c in main if c.significant]
    if not won:
        return (f"No model is shown better than another on {run.name}: no difference in "
                f"{MAIN} on {where} is significant.")
    lines = [f"{c.better} is better than {c.worse} on {run.name}: "
             f"{size(abs(c.mean_diff), MAIN)} of {MAIN} on {where}, "
             f"{stats.format_p(c.p_holm)}" for c in sorted(won, key=lambda c: c.p_holm)]
    return "; ".join(lines) + "."


def power(c) -> str:
    """'; these 3 folds could only detect ...': what a comparison that found nothing could
    have found, so that 'not significant' is not read as 'no difference'."""
    if not (c.detectable == c.detectable) or c.significant or c.undecidable:
        return ""
    unit = f"{c.k} fold{'s' * (c.k != 1)}" if c.source == "cv" else \
        f"these {c.k} fold model{'s' * (c.k != 1)} on this test split"
    span = c.bounds[1] - c.bounds[0] if c.bounds else float("inf")
    if c.detectable >= span:
        text = (f"; with {unit} the scores vary so much that no difference the metric can "
                "take would be found with 80% power")
    else:
        text = (f"; with {unit} only a difference of about "
                f"{size(c.detectable, c.metric).lstrip('+')} or more is found with 80% power "
                "(at the 5% level, before adjustment)")
    if abs(c.mean_diff) < 1e-12:
        return text
    if c.folds_needed:
        return text + f", and about {c.folds_needed} folds would find the observed one"
    return text + (", and no number of folds up to 100 would find the observed one"
                   + (" (the test split itself is too small)" if c.source == "test" else ""))


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
    main = [c for c in v.comparisons[v.lead] if c.metric == MAIN]
    claimed = any(c.significant for c in main)
    for sentence in (_shared_folds(v, run, main), _ranked(v, main), _near_chance(v),
                     _ceiling(main), _still_improving(v, claimed), _too_short(v),
                     _few_folds(v, main)):
        if sentence:
            parts.append(sentence)
    return " ".join(parts)


def _shared_folds(v, run, main) -> str:
    all_folds = run.info["protocol"]["folds"]
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
    if ranking.significant and surviving:
        sentences.append("Pairwise differences that survive Holm's adjustment: "
                         + "; ".join(f"{c.better} ahead of {c.worse} by "
                                     f"{size(c.mean_diff, MAIN).lstrip('+-')} "
                                     f"({stats.format_p(c.p_holm)})" for c in surviving) + ".")
    elif ranking.significant:
        sentences.append("No single pair differs significantly once the tests are adjusted "
                         "for their number (Holm).")
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
        return (f"Every model scores at least {CEILING} in accuracy here: at this ceiling the "
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
    if v.lead != "cv" or not main:
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
                f"difference in accuracy ({size(c.mean_diff, MAIN)}), so its variance is zero "
                f"and the t statistic is undefined ({how}).")
    interval = (f"95% CI {c.ci_low * 100:+.2f} to {c.ci_high * 100:+.2f} points for "
                f"{c.a} − {c.b}" + (", before Holm's adjustment" if c.family > 1 else ""))
    if c.significant:
        return (f"{c.better} is ahead of {c.worse} by {size(c.mean_diff, MAIN).lstrip('+-')} "
                f"in accuracy ({interval}; {stats.format_p(c.p_holm)}, {how}).")
    return (f"the difference in accuracy between {c.a} and {c.b} "
            f"({size(c.mean_diff, MAIN)}, {interval}) is not significant "
            f"({stats.format_p(c.p_holm)}, {how}){power(c)}.")


def ranking_sentence(r) -> str:
    """The omnibus test, and the models in order of their mean score only when it finds that
    they differ."""
    listed = ", ".join(f"{r.models[i]} {r.means[i]:.4f}" for i in r.order())
    over = (f"over {len(r.folds)} folds" if r.test == "Friedman's test"
            else f"over {r.images:,} test images, on the fold ensembles")
    test = f"{r.test} {over}, {r.method}: {stats.format_p(r.p)}"
    if r.significant:
        return (f"On {r.where}, the models differ ({test}); by mean accuracy: {listed}.")
    text = (f"On {r.where}, no significant difference among the models ({test}); mean "
            f"accuracy: {listed}.")
    if r.smallest_p >= stats.ALPHA:
        text += (f" With {len(r.folds)} folds and {len(r.models)} models {r.test} cannot "
                 f"reach p < 0.05 at all (its smallest p is {r.smallest_p:.3f}).")
    return text


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
    gap = (f"{a} − {b}: {size(points[0].mean_diff, MAIN)} at {_at(points[0])}, "
           f"{size(points[-1].mean_diff, MAIN)} at {_at(points[-1])}")
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
    leaders = {x for x in ahead if x}
    if len(leaders) == 1:
        (leader,) = leaders
        return (f"The curves of {a} and {b} do not cross: {leader} is ahead at every training "
                f"size ({evidence}).")
    return f"The curves of {a} and {b} do not cross ({evidence})."


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
