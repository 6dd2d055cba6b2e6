"""The tuning search: every model gets the same number of trials, nested inside each outer
fold, run as cells of the plan on whatever executor runs the others.

For each (dataset, model) and each outer fold (or once, with scope 'once') a :class:`Search`
asks Optuna's TPE sampler (seeded) for settings, WAVE trials at a time through its ask/tell
interface; the trials run as cells (zoo.grid.cells, on an inner split of the fold's training
part, so neither the held-out fold nor the test split is seen); their scores are told back
in trial order once the whole wave has finished. Asking a wave at a time, whatever the
executor, makes local and Ray runs choose the same settings, and replaying the trials a
store holds (asking again, telling their saved scores) makes a killed search resume where
it stopped and a search with more trials extend a finished one.

With pruning, a trial is scored at rung epochs (RUNGS_FROM the budget / ETA**2, then ETA
times more, ...) and stops when it is not among the best 1/ETA of the trials of earlier
waves at that epoch (successive halving, asynchronous as in ASHA).

:class:`Tuner` holds every search of a run and the outer cells their choices unlock; the
engine asks it for cells and tells it outcomes. It writes nothing.
"""
from __future__ import annotations

import json
from collections import deque

from zoo.grid.cells import FINAL, Cell
from zoo.grid.protocol import fold_seed
from zoo.grid.settings import oriented
from optuna.trial import TrialState
import optuna

#: trials asked at once (and run at once on an executor with that many slots)
WAVE = 4
#: trials sampled at random before TPE models the scores
STARTUP = 6
#: successive halving keeps the best 1/ETA at each rung; rungs lie ETA times apart
ETA = 3


def rungs(epochs: int) -> tuple:
    """The epochs at which a pruned search scores its trials: about epochs / ETA**2, then ETA
    times more each, below the budget."""
    out, r = [], max(1, round(epochs / ETA ** 2))
    while r < epochs:
        out.append(r)
        r *= ETA
    return tuple(out)


def same(a: dict, b: dict) -> bool:
    """Two settings alike as JSON keeps them (a tuple and a list are alike)."""
    return json.dumps(a, sort_keys=True, default=repr) == json.dumps(b, sort_keys=True,
                                                                       default=repr)


class Search:
    """One model's search on one dataset, inside outer fold ``fold`` (None: on the whole
    training set). ``done``: number -> facts of trials finished earlier (the store's)."""

    def __init__(self, cell: Cell, params, tuning, epochs: int, seed: int, done=None):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.cell, self.params, self.tuning = cell, tuple(params), tuning
        self.rung_epochs = rungs(epochs) if tuning.prune else ()
        self.study = optuna.create_study(
            direction="minimize" if tuning.metric == "log_loss" else "maximize",
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP))
        self.distributions = {p.key: p.distribution() for p in self.params}
        self.done = dict(done or {})
        self.replayed = set()    # numbers whose stored facts matched what was asked again
        self.wave = {}           # number -> optuna trial, of the wave being run
        self.ready = deque()     # cells of the wave still to hand out
        self.told = 0
        self._advance()

    # -- the driver's side --------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.told >= self.tuning.trials and not self.wave

    def next_cell(self) -> Cell | None:
        return self.ready.popleft() if self.ready else None

    def tell(self, number: int, facts: dict) -> None:
        """A trial of the current wave finished (its facts as saved)."""
        self.done[number] = facts
        if all(n in self.done for n in self.wave):
            self._tell_wave()
            self._advance()

    def drop(self) -> None:
        """Stop: the model failed on this dataset."""
        self.ready.clear()
        self.wave = {}
        self.told = self.tuning.trials

    # -- ask and tell ------------------------------------------------------------------------
    def _advance(self) -> None:
        while not self.wave and self.told < self.tuning.trials:
            self._ask_wave()
            if all(n in self.done for n in self.wave):   # replayed from the store
                self._tell_wave()

    def _ask_wave(self) -> None:
        thresholds = self._thresholds()
        for _ in range(min(WAVE, self.tuning.trials - self.told)):
            trial = self.study.ask(self.distributions)
            self.wave[trial.number] = trial
            stored = self.done.get(trial.number)
            # a trial that raised is tried again, as a fold that raised is
            if stored is not None and stored.get("status") != "error" and \
                    same(stored.get("settings"), trial.params):
                self.replayed.add(trial.number)
                continue
            self.done.pop(trial.number, None)   # asked otherwise now, or raised: run it
            settings = tuple((p.key, trial.params[p.key]) for p in self.params)
            c = self.cell
            self.ready.append(Cell(c.dataset, c.model, c.fold, c.folds, 1.0, trial.number,
                                   settings, thresholds))

    def _tell_wave(self) -> None:
        for number in sorted(self.wave):
            trial, facts = self.wave[number], self.done[number]
            if facts.get("status") != "ok" or facts.get("score") is None:
                self.study.tell(trial, state=TrialState.FAIL)
                continue
            for epoch, score in sorted((int(e), s) for e, s in
                                       facts.get("rung_scores", {}).items()):
                trial.report(score, epoch)
            if facts.get("pruned"):
                self.study.tell(trial, state=TrialState.PRUNED)
            else:
                self.study.tell(trial, facts["score"])
        self.told += len(self.wave)
        self.wave = {}

    def _thresholds(self) -> tuple:
        """(epoch, threshold) for every rung: the score a trial must reach there to go on,
        from the trials of earlier waves (None while fewer than ETA reached that rung)."""
        out = []
        metric = self.tuning.metric
        for epoch in self.rung_epochs:
            scores = sorted((oriented(f["rung_scores"][str(epoch)], metric)
                             for n, f in self.done.items() if n < self.told
                             and f.get("status") == "ok"
                             and str(epoch) in f.get("rung_scores", {})), reverse=True)
            out.append((epoch, scores[max(1, len(scores) // ETA) - 1]
                        if len(scores) >= ETA else None))
        return tuple(out)

    # -- the choice --------------------------------------------------------------------------
    def best(self) -> dict | None:
        """The facts of the best trial that trained to the end (the lowest number among
        equals); None when none did."""
        complete = [f for n, f in sorted(self.done.items()) if n < self.tuning.trials
                    and f.get("status") == "ok" and not f.get("pruned")
                    and f.get("score") is not None]
        if not complete:
            return None
        return max(complete, key=lambda f: (oriented(f["score"], self.tuning.metric),
                                            -f["trial"]))

    def summary(self) -> dict:
        """What an outer fold's facts say of the search that chose its settings."""
        trials = [f for n, f in self.done.items() if n < self.tuning.trials]
        best = self.best()
        return {"scope": self.tuning.scope, "trials": len(trials), "metric": self.tuning.metric,
                "pruned": sum(bool(f.get("pruned")) for f in trials),
                "failed": sum(f.get("status") != "ok" for f in trials),
                "epochs": sum(int(f.get("epochs_run") or 0) for f in trials),
                "best_trial": None if best is None else best["trial"],
                "best_score": None if best is None else best["score"],
                "settings": {} if best is None else best["settings"],
                "fallback": best is None}


class Tuner:
    """Every search of a run (one per dataset, model and outer fold; or per dataset and model
    with scope 'once') and the outer cells their choices unlock: the engine takes cells from
    :meth:`next_cell` and hands trial outcomes to :meth:`tell`. ``opened``: dataset name ->
    zoo.grid.plan.Opened; ``sizes``: each dataset's training sizes."""

    def __init__(self, tuning, opened: dict, models: list, keep: str = "folds"):
        self.tuning, self.opened, self.keep = tuning, opened, keep
        self.searches = {}       # (dataset, model, fold or None) -> Search
        self.outer = deque()     # outer cells unlocked, still to hand out
        self.resumed = []        # outer cells found finished with the chosen settings
        self.redo = 0.0          # work of finished outer cells whose settings changed
        self.unlocked = set()
        for name, o in opened.items():
            p = o.protocol
            for m in models:
                params = tuning.for_model(m)
                for fold in ([None] if tuning.scope == "once" else range(p.total_folds)):
                    cell = Cell(name, m.name, fold, p.total_folds)
                    seed = fold_seed(p, fold)
                    self.searches[name, m.name, fold] = Search(
                        cell, params, tuning, p.epochs, seed, o.store.read_trials(m.name, fold))
        for search in self.searches.values():
            if search.finished:
                self._unlock(search)

    # -- what the engine asks ----------------------------------------------------------------
    def work(self) -> float:
        """The work still to do (in folds), for progress: trials not yet finished and outer
        cells without facts."""
        trial = Cell("", "", 0, 2, trial=0).work
        left = sum(trial * (s.tuning.trials - len([n for n in s.done if n < s.tuning.trials]))
                   for s in self.searches.values())
        for (name, model, _), s in self.searches.items():
            o = self.opened[name]
            for cell in self._outer_cells(s):
                if o.store.fold_facts(model, cell.fold, cell.size) is None:
                    left += cell.work
        return left + self.redo

    def next_cell(self) -> Cell | None:
        if self.outer:
            return self.outer.popleft()
        for search in self.searches.values():
            cell = search.next_cell()
            if cell is not None:
                return cell
        return None

    def tell(self, cell: Cell, facts: dict) -> None:
        search = self.searches[cell.dataset, cell.model, cell.fold]
        search.tell(cell.trial, facts)
        if search.finished:
            self._unlock(search)

    def drop(self, dataset: str, model: str) -> None:
        for (name, m, _), search in self.searches.items():
            if (name, m) == (dataset, model):
                search.drop()
        self.outer = deque(c for c in self.outer if (c.dataset, c.model) != (dataset, model))

    def needed(self) -> set:
        """(model, dataset) pairs with cells still to run."""
        return {(m, d) for (d, m, _), s in self.searches.items() if not s.finished} | \
            {(c.model, c.dataset) for c in self.outer}

    def summary(self, cell: Cell) -> dict:
        """The search behind an outer cell, for its facts (the final model of a nested
        search: the settings chosen in the most folds)."""
        if cell.kind == FINAL and self.tuning.scope == "fold":
            return {"scope": "fold", "settings": dict(cell.settings),
                    "chosen_by": "the most outer folds"}
        fold = None if self.tuning.scope == "once" else cell.fold
        return self.searches[cell.dataset, cell.model, fold].summary()

    # -- the outer cells ---------------------------------------------------------------------
    def _outer_cells(self, search) -> list:
        o = self.opened[search.cell.dataset]
        folds = range(o.protocol.total_folds) if search.cell.fold is None \
            else [search.cell.fold]
        return [Cell(search.cell.dataset, search.cell.model, k, o.protocol.total_folds, size)
                for k in folds for size in o.protocol.train_sizes]

    def _unlock(self, search) -> None:
        """A search finished: the outer cells of its fold (all folds, scope 'once') train
        with its choice; those finished with that choice already are resumed."""
        key = search.cell.dataset, search.cell.model, search.cell.fold
        if key in self.unlocked:
            return
        self.unlocked.add(key)
        settings = search.summary()["settings"]
        store = self.opened[search.cell.dataset].store
        for cell in self._outer_cells(search):
            facts = store.fold_facts(cell.model, cell.fold, cell.size)
            if facts is not None and facts.get("status") in ("ok", "diverged") and \
                    same(facts.get("settings", {}), settings):
                self.resumed.append(cell)
                continue
            if facts is not None:
                self.redo += cell.work
            self.outer.append(Cell(cell.dataset, cell.model, cell.fold, cell.folds, cell.size,
                                   settings=frozen(settings)))
        self._final(*key[:2])

    def _final(self, dataset: str, model: str) -> None:
        """With --keep-models final, once every search of the model has chosen: the final
        model, with the settings chosen in the most folds (the first fold's among equals)."""
        mine = [s for (d, m, _), s in self.searches.items() if (d, m) == (dataset, model)]
        if self.keep != "final" or not all(s.finished for s in mine) or \
                self.opened[dataset].store.has_final(model):
            return
        chosen = [frozen(s.summary()["settings"]) for s in mine]
        settings = max(chosen, key=lambda c: (chosen.count(c), -chosen.index(c)))
        self.outer.append(Cell(dataset, model, None, self.opened[dataset].protocol.total_folds,
                               settings=settings))


def frozen(settings: dict) -> tuple:
    """Settings as a cell holds them: sorted (key, value) pairs, lists made tuples."""
    def freeze(v):
        return tuple(freeze(x) for x in v) if isinstance(v, (list, tuple)) else v

    return tuple(sorted((k, freeze(v)) for k, v in settings.items()))
