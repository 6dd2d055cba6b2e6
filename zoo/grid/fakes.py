"""Fakes for zoo's own tests and benchmarks (not the plugin authors' kit, which is
zoo.testing): synthetic facts, what `zoo run` would have saved, made without training (and
without TensorFlow), and trainers that train nothing, which run the real loop, store and
executors in milliseconds."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zoo.grid.protocol import Protocol, fold_seed, held_out, training, trial_split
from zoo.grid.settings import TUNABLE
from zoo.grid.train import Trained
from zoo.schema import FailedFacts, FinalFacts, FoldFacts, TrialFacts
from zoo.store import RunStore, write_last_run


def fake_probs(rng, y, n_classes, skill):
    """Probabilities whose argmax is right with probability ``skill``."""
    logits = rng.normal(0, 1, (len(y), n_classes))
    right = rng.random(len(y)) < skill
    logits[np.arange(len(y)), np.where(right, y, rng.integers(0, n_classes, len(y)))] += 8
    e = np.exp(logits - logits.max(1, keepdims=True))
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


def make_facts(results_dir, datasets=("alpha",), models=None, folds=3, classes=5,
               samples=200, test_samples=0, epochs=4, seed=0, class_names=None,
               failed=(), improving=(), curves=None, latency=None, repeats=1,
               metric="accuracy") -> list:
    """Write facts for every dataset x model x fold; ``models`` maps name -> skill.
    ``failed`` lists (dataset, model, fold) triples saved as diverged. The loss of the models
    in ``improving`` falls steadily to the last epoch; the others level off after one.
    ``curves`` maps model -> {training size below 1: skill}: learning-curve facts too.
    ``latency`` maps model -> milliseconds per image: cost facts too (size 1 MB a 1000
    parameters). ``repeats``: the k-fold split repeated (each repeat shifts the folds);
    ``metric``: the primary metric the run.json names."""
    made = _Made(models or {"cnn": 0.9, "vit": 0.8}, folds, classes, samples, test_samples,
                 epochs, seed, failed, improving, latency or {},
                 np.random.default_rng(seed), Protocol(folds=folds, epochs=epochs,
                                                       repeats=repeats, metric=metric))
    runs = []
    for d_i, name in enumerate(datasets):
        store = _made_run(results_dir, name, made, class_names, curves)
        cells = [(m, s, 1.0) for m, s in made.models.items()] + [
            (m, s, size) for m, by in (curves or {}).items() for size, s in by.items()]
        for model, skill, size in cells:
            for k in range(made.protocol.total_folds):
                _made_fold(store, made, name, model, skill, size, k, d_i)
        runs.append({"dataset": name, "run_id": store.run_id, "path": str(store.path),
                     "models": list(made.models)})
    write_last_run(results_dir, runs, [])
    return runs


@dataclass
class _Made:
    """What make_facts was asked for, and its random stream (drawn in a fixed order)."""
    models: dict
    folds: int
    classes: int
    samples: int
    test_samples: int
    epochs: int
    seed: int
    failed: tuple
    improving: tuple
    latency: dict
    rng: np.random.Generator
    protocol: Protocol

    @property
    def y(self):
        return np.arange(self.samples) % self.classes

    @property
    def y_test(self):
        return np.arange(self.test_samples) % self.classes if self.test_samples else None

    @property
    def fold_of(self):
        splits = [(np.arange(self.samples) // self.classes + r) % self.folds
                  for r in range(self.protocol.repeats)]
        return splits[0] if len(splits) == 1 else np.stack(splits)


def _made_run(results_dir, name: str, made: _Made, class_names, curves) -> RunStore:
    """A run's folder as `zoo run` leaves it before its folds: run.json, splits, labels."""
    store = RunStore(results_dir, name, made.protocol.run_id(f"{name}-{made.seed}"))
    store.write_splits(made.fold_of.astype(np.int32))
    if made.test_samples:
        store.write_test_labels(made.y_test)
    names = list(class_names or [f"class {i}" for i in range(made.classes)])
    store.write_run({
        "train_sizes": sorted({s for by in (curves or {}).values() for s in by} | {1.0}),
        "dataset": {"name": name, "samples": made.samples, "test_samples": made.test_samples,
                    "input_shape": [28, 28, 1], "classes": names, "source": "synthetic",
                    "fingerprint": f"{name}-{made.seed}", "notes": []},
        "protocol": made.protocol.to_dict(), "run_id": store.run_id,
        "models": list(made.models),
        "environment": {"zoo": "test", "tensorflow": "none", "keras": "none"},
        "specs": {m: {"plugin": f"plugin-{m}", "version": "1.0", "description": "",
                      "explain": []} for m in made.models},
        "started_at": "2026-01-01T00:00:00", "finished_at": "2026-01-01T01:00:00"})
    return store


def _made_fold(store, made: _Made, name, model, skill, size, k, d_i) -> None:
    """One made-up fold's facts and predictions (a diverged one when asked for)."""
    held = held_out(made.fold_of, k)
    if (name, model, k) in made.failed:
        store.write_fold(model, k, FailedFacts(
            dataset=name, model=model, status="diverged", fold=k, folds=made.folds,
            train_size=size, reason="training loss became nan in epoch 2",
            history={"loss": [1.0, float("nan")]}), {}, size)
        return
    epochs, rng, y = made.epochs, made.rng, made.y
    if model in made.improving:
        loss = list(np.linspace(2.0, 0.3, epochs) + rng.random(epochs) * 0.01)
    else:
        loss = list(0.3 + 1.7 * (np.arange(epochs) == 0) + rng.random(epochs) * 1e-3)
    arrays = {"held_out_index": held.astype(np.int32), "y_true": y[held],
              "y_prob": fake_probs(rng, y[held], made.classes, skill)}
    if made.test_samples:
        arrays["test_prob"] = fake_probs(rng, made.y_test, made.classes, skill - 0.1)
    costs, params = model in made.latency, 1000 * (1 + len(model))
    facts = fold_facts(
        dataset=name, model=model, status="ok", fold=k, folds=made.folds, seed=made.seed,
        history={"loss": loss, "accuracy": [0.5] * epochs, "val_loss": loss,
                 "val_accuracy": [0.5] * epochs},
        epochs=epochs, lr=made.protocol.lr,
        train_samples=int(round(size * (made.samples - len(held)))),
        held_out_samples=int(len(held)), train_size=size, fit_seconds=10.0 + d_i,
        predict_seconds=0.5, predict_images_per_second=1000.0, params=params,
        wall_seconds=11.0, costs=costs,
        latency_ms=made.latency[model] * (1 + 0.05 * k) if costs else 1.0)
    if costs:
        facts.size_bytes = params * 1000
    store.write_fold(model, k, facts, arrays, size)


class FakeRunnerFactory:
    """A runner factory whose runners train nothing, for tests of the run loop, the store and the executors
    that take milliseconds and no TensorFlow: each cell's facts and predictions are made up
    at once, seeded by the cell, so the same cell always gives the same outcome.

    ``skill`` maps a model name to the share of images it gets right (default 0.8);
    ``raising`` maps (model, fold) to an exception the cell raises ((model, 'trial'): every
    tuning trial of the model); ``on_cell(cell_key)`` is
    called as each cell starts, with (model, fold, size) (a trial: (model, fold, 'trial',
    number)). A tuning trial's score is ``trial_score(model, settings)`` (default: the
    skill, less 0.1 for every factor of ten its lr lies from 1e-3). zoo.grid.executors and
    zoo.grid.cells call it as they call zoo.grid.train.RunnerFactory; an executor takes the
    class (``runners=FakeRunnerFactory``), or :meth:`handing` of an instance whose record
    (``made``) a test reads afterwards."""

    def __init__(self, devices=None, verbose: int = 0, on_epoch=None, *, skill=None,
                 raising=None, on_cell=None, trial_score=None):
        self.skill, self.raising, self.on_cell = skill or {}, raising or {}, on_cell
        self.trial_score = trial_score or self._trial_score
        self.made = []   # the (model) of every runner made: one per (dataset, model) switch

    def _trial_score(self, model: str, settings: dict) -> float:
        lr = settings.get("lr", 1e-3)
        return self.skill.get(model, 0.8) - 0.1 * abs(math.log10(lr) + 3)

    def __call__(self, spec, prepared):
        self.made.append(spec.name)
        return _FakeRunner(self, spec, prepared)

    def describe(self) -> str:
        return "fake trainers (nothing is trained)"

    def handing(self):
        """What an executor's ``runners=`` takes, handing out this very factory: called as
        ``runners(devices, verbose[, on_epoch])`` it ignores them."""
        return lambda devices=None, verbose=0, on_epoch=None: self


class _FakeRunner:
    """Made-up outcomes with every field a real fold runner writes (zoo.schema), so that the
    loop, the store and the report see what a real run gives them."""

    def __init__(self, trainers, spec, prepared):
        self.trainers, self.spec, self.prepared = trainers, spec, prepared
        self.protocol = prepared.protocol

    def _common(self, fold) -> dict:
        p = self.protocol
        return {"dataset": self.prepared.dataset.name, "model": self.spec.name, "status": "ok",
                "folds": p.folds, "seed": fold_seed(p, fold), "epochs": p.epochs,
                "finished_at": FINISHED}

    def trial(self, fold, fold_of, number, rungs=(), groups=None, metric="accuracy", key=None):
        """A made-up trial on the inner split a real one would use (zoo.grid.protocol)."""
        t, p, ds = self.trainers, self.protocol, self.prepared.dataset
        if t.on_cell is not None:
            t.on_cell((self.spec.name, fold, "trial", number))
        if (self.spec.name, "trial") in t.raising:
            raise t.raising[self.spec.name, "trial"]
        fit, val = trial_split(p, ds.y, fold_of, fold, groups)
        settings = {**{k: getattr(p, k) for k in TUNABLE}, **self.spec.options}
        final = float(t.trial_score(self.spec.name, settings))
        scores, pruned = {}, None
        for epoch, threshold in rungs:
            scores[str(epoch)] = final * epoch / p.epochs
            if threshold is not None and scores[str(epoch)] < threshold:
                pruned = epoch
                break
        facts = TrialFacts(
            **self._common(fold), fold=fold, trial=number, metric=metric,
            score=scores[str(pruned)] if pruned else final, pruned=bool(pruned),
            rung_scores=scores, epochs_run=pruned or p.epochs,
            history={"loss": [1.0] * (pruned or p.epochs)}, lr=p.lr,
            train_samples=int(len(fit)), validation_samples=int(len(val)), fit_seconds=0.0,
            options=dict(self.spec.options))
        return Trained(facts, {"train_index": fit.astype(np.int32),
                               "validation_index": val.astype(np.int32)})

    def run(self, fold, fold_of, size=1.0, key=None):
        t, ds, name = self.trainers, self.prepared.dataset, self.spec.name
        if t.on_cell is not None:
            t.on_cell((name, fold, size))
        if (name, fold) in t.raising:
            raise t.raising[name, fold]
        held = held_out(fold_of, fold)
        skill = t.skill.get(name, 0.8)
        rng = np.random.default_rng([self.protocol.seed, fold, int(size * 1000),
                                     sum(map(ord, name))])
        arrays = {"held_out_index": held.astype(np.int32), "y_true": ds.y[held].astype(np.int16),
                  "y_prob": fake_probs(rng, ds.y[held], ds.num_classes, skill)}
        if ds.has_test:
            arrays["test_prob"] = fake_probs(rng, ds.y_test, ds.num_classes, skill)
        epochs = self.protocol.epochs
        loss = [float(2.0 / (e + 1)) for e in range(epochs)]
        facts = fold_facts(
            **self._common(fold), fold=fold, history={
                "loss": loss, "val_loss": loss, "accuracy": [skill] * epochs,
                "val_accuracy": [skill] * epochs},
            lr=self.protocol.lr, batch_size=self.protocol.batch_size,
            train_samples=int(round(size * len(training(fold_of, fold)))),
            held_out_samples=int(len(held)), train_size=float(size),
            options=dict(self.spec.options), plugin=self.spec.plugin,
            plugin_version=self.spec.version, costs=size >= 1)
        return Trained(facts, arrays)

    def fit_final(self, key=None):
        facts = FinalFacts(**self._common(None), history={"loss": [1.0] * self.protocol.epochs},
                           epochs_run=self.protocol.epochs, fit_seconds=0.0,
                           train_samples=int(len(self.prepared.dataset.y)))
        return Trained(facts)


#: when every made-up cell finished
FINISHED = "2026-01-01T01:00:00+0000"


def fold_facts(*, costs=True, latency_ms=1.0, params=0, fit_seconds=0.0, **given) -> FoldFacts:
    """The facts of a made-up fold: every field a real one has, ``given`` ones as given, the
    rest as a fold that trained in no time on one CPU would leave them; ``costs``: with the
    costs a real whole fold measures (size on disk, batch-1 latency)."""
    history = given.get("history", {})
    facts = {"reason": "", "history_validation": "held-out fold (monitoring only)",
             "epochs_run": len(history.get("loss", [])), "batch_size": 128,
             "global_batch_size": given.get("batch_size", 128), "fit_seconds": fit_seconds,
             "predict_seconds": 0.0, "explain_seconds": 0.0, "predict_images_per_second": 0.0,
             "params": params, "xla": False, "plugin": "fake", "plugin_version": "0",
             "options": {}, "devices": {"devices": ["/cpu:0"], "replicas": 1},
             "finished_at": FINISHED, "seed": 0, "peak_memory_bytes": None, **given}
    if costs:
        facts.update(size_bytes=params * 4, latency_ms=latency_ms,
                     latency_quartiles_ms=[latency_ms, latency_ms])
    return FoldFacts(**facts)
