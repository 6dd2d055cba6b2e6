"""The words of the verdict: every sentence the report and `zoo run` print about a
comparison, a ranking, a learning curve or the trust one can put in the scores. Numbers come
from zoo.comparisons and zoo.verdict; nothing is computed here but the wording."""
from __future__ import annotations

from zoo import stats
from zoo.comparisons import CEILING, MAIN, SOURCES


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
    """The verdict column of one comparison, from its Holm-adjusted p."""
    amount = size(c.mean_diff, c.metric)
    if c.undecidable:
        return (f"undecided: every shared fold gives the same difference ({amount}), so the "
                "t statistic is undefined and the test cannot tell a real difference from "
                "chance")
    adjusted = f"{stats.format_p(c.p_holm)}, Holm-adjusted over {c.family} tests"
    if c.significant:
        return f"{c.better} ahead of {c.worse} by {amount.lstrip('+-')} ({adjusted})"
    return f"no significant difference ({amount}; {adjusted})"


def second_note(c) -> str:
    """Why a second opinion could not confirm anything, when that is certain in advance."""
    if c.second == "Wilcoxon" and stats.smallest_wilcoxon_p(c.k) >= stats.ALPHA:
        return (f"with {c.k} folds Wilcoxon's test cannot reach p < 0.05 (its smallest p is "
                f"{stats.smallest_wilcoxon_p(c.k):.3f})")
    return ""


def describe(rows: list) -> list:
    """Fill in each comparison's verdict and second-opinion note."""
    for c in rows:
        c.verdict, c.second_note = comparison_verdict(c), second_note(c)
    return rows


# -- the conclusion -----------------------------------------------------------------------------
def conclusion(v, run) -> str:
    """What the report and the CLI say about one dataset's run (``v``: zoo.verdict.Verdict),
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
    for sentence in (_shared_folds(v, run), _ranked(v, main), _ceiling(main),
                     _still_improving(v), _too_short(v), _few_folds(v, main)):
        if sentence:
            parts.append(sentence)
    return " ".join(parts)


def _shared_folds(v, run) -> str:
    all_folds = run.info["protocol"]["folds"]
    if len(v.shared) >= all_folds:
        return ""
    failed = [f"{m} fold {f.fold + 1}" for m in v.compared for f in run.folds[m] if not f.ok]
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


def _ceiling(main) -> str:
    if main and all(c.at_ceiling for c in main):
        return (f"Every model scores at least {CEILING} in accuracy here: at this ceiling the "
                "scores cannot rank the models, whatever the tests say.")
    return ""


def _still_improving(v) -> str:
    improving = [m for m in v.compared if v.training[m]["state"] == "still improving"]
    if not improving:
        return ""
    which = "; ".join(f"{m}: {v.training[m]['improving']} of {v.training[m]['folds']} folds"
                      for m in improving)
    return (f"{names(improving)} {'was' if len(improving) == 1 else 'were'} still improving "
            f"when training stopped (validation loss still falling in the last epochs; "
            f"{which}); a longer budget may change this ranking.")


def _too_short(v) -> str:
    short = [m for m in v.compared if v.training[m]["state"] == "too short to tell"]
    return f"Too few epochs to tell whether {names(short)} had levelled off." if short else ""


def _few_folds(v, main) -> str:
    if v.lead != "cv" or not main:
        return ""
    k = main[0].k
    if stats.smallest_wilcoxon_p(k) >= stats.ALPHA:
        return (f"With {k} folds, Wilcoxon's signed-rank test cannot reach p < 0.05 whatever "
                "the scores; more folds are needed for it to confirm a difference.")
    return ""


def pair_sentence(c) -> str:
    how = (f"{c.a} {c.mean_a:.4f} vs {c.b} {c.mean_b:.4f}; {c.test}, "
           f"Holm-adjusted over {c.family} tests")
    if c.undecidable:
        return (f"{c.a} and {c.b} cannot be told apart by the test: every fold gives the same "
                f"difference in accuracy ({size(c.mean_diff, MAIN)}), so its variance is zero "
                f"and the t statistic is undefined ({how}).")
    if c.significant:
        return (f"{c.better} is ahead of {c.worse} by {size(c.mean_diff, MAIN).lstrip('+-')} "
                f"in accuracy (95% CI {c.ci_low * 100:+.2f} to {c.ci_high * 100:+.2f} points "
                f"for {c.a} − {c.b}; {stats.format_p(c.p_holm)}, {how}).")
    return (f"the difference in accuracy between {c.a} and {c.b} "
            f"({size(c.mean_diff, MAIN)}) is not significant "
            f"({stats.format_p(c.p_holm)}, {how}).")


def ranking_sentence(r) -> str:
    order = sorted(range(len(r.models)), key=lambda i: r.ranks[i])
    ranked = ", ".join(f"{r.models[i]} ({r.means[i]:.4f}, mean rank {r.ranks[i]:.2f})"
                       for i in order)
    verdict = ("the models differ" if r.significant
               else "no significant difference among the models")
    return (f"On {r.where}, ranked by accuracy: {ranked}. Friedman's test over "
            f"{len(r.folds)} folds: {verdict} ({stats.format_p(r.p)}); Nemenyi's critical "
            f"difference is {r.cd:.2f} ranks.")


# -- learning curves ----------------------------------------------------------------------------
def crossing_sentence(a: str, b: str, points: list) -> str:
    """Whether and where the mean curves of ``a`` and ``b`` cross, and which of their
    differences the tests support (``points``: the pair's comparisons, by size)."""
    if not points:
        return f"{a} and {b} share no training size with results on both."

    def at(c):
        return f"{c.images:,.0f} images"

    def ahead(c):
        return a if c.mean_diff > 0 else b if c.mean_diff < 0 else ""

    significant = [c for c in points if c.significant]
    support = ("; significant at " + ", ".join(f"{at(c)} ({c.better} ahead, "
                                              f"{stats.format_p(c.p_holm)})"
                                              for c in significant)
               if significant else "; no difference is significant at any size")
    crossings = [(c, d) for c, d in zip(points, points[1:], strict=False)
                 if ahead(c) and ahead(d) and ahead(c) != ahead(d)]
    gap = (f"{a} − {b}: {size(points[0].mean_diff, MAIN)} at {at(points[0])}, "
           f"{size(points[-1].mean_diff, MAIN)} at {at(points[-1])}")
    if crossings:
        where = ", and again ".join(f"between {at(c)} ({ahead(c)} ahead) and {at(d)} "
                                    f"({ahead(d)} ahead)" for c, d in crossings)
        text = f"the curves of {a} and {b} cross {where} ({gap}{support})."
        if not any(c.significant for pair in crossings for c in pair):
            text += (" Neither side of the crossing is a significant difference, so the data "
                     "do not show that the ranking changes with the amount of training data.")
        return text[0].upper() + text[1:]
    leaders = {ahead(c) for c in points if ahead(c)}
    if len(leaders) == 1:
        (leader,) = leaders
        return (f"The curves of {a} and {b} do not cross: {leader} is ahead at every training "
                f"size ({gap}{support}).")
    return f"The curves of {a} and {b} do not cross ({gap}{support})."


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
