"""The run loop: for each dataset load once and split once; for each model and fold, train
(or skip a fold that already has facts) and save the facts. No metric is computed here."""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.errors import ConfigError, PluginError, WriteError, ZooError
from zoo.protocol import make_splits
from zoo.store import RunStore, write_json, write_last_run


@dataclass
class RunResult:
    runs: list = field(default_factory=list)       # [{"dataset", "run_id", "path"}]
    skipped: list = field(default_factory=list)    # [{"what", "name", "reason"}]
    trained: int = 0                                # folds trained in this invocation
    resumed: int = 0                                # folds found finished already
    failed: int = 0                                 # folds that diverged or raised

    @property
    def errors(self) -> list:
        return [s for s in self.skipped if s.get("error")]


class Progress:
    """One line per fold start/end with an ETA for the whole run."""

    def __init__(self, total: int, echo=print, quiet: bool = False):
        self.total, self.done, self.echo, self.quiet = total, 0, echo, quiet
        self.seconds = 0.0
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        if not self.quiet:
            self.echo(text)

    def eta(self) -> str:
        if not self.done:
            return "ETA unknown"
        left = (self.total - self.done) * self.seconds / self.done
        return f"ETA {_clock(left)}"

    def finished(self, seconds: float, trained: bool) -> None:
        self.done += 1
        if trained:
            self.seconds += seconds
        else:  # resumed folds cost nothing; do not let them shrink the estimate
            self.total -= 1
            self.done -= 1


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


KEEP = ("folds", "final", "none")


def run(models: list, datasets: list, protocol, results_dir, data_dir=None, devices=None,
        echo=print, quiet: bool = False, verbose: int | None = None,
        keep: str = "folds") -> RunResult:
    """Train every model in ``models`` on every dataset in ``datasets`` (specs) under
    ``protocol``; facts go to ``results_dir``. Returns what ran and what was skipped.

    ``keep``: 'folds' keeps every fold's trained model (fold-01.keras, ...); 'final' trains
    one more model on all the training data after the folds and keeps that (final.keras);
    'none' keeps no model."""
    if keep not in KEEP:
        raise ConfigError(f"--keep-models: expected one of {', '.join(KEEP)}, got {keep!r}")
    from zoo.distribute import choose_strategy
    from zoo.train import FoldRunner, environment

    results_dir = Path(results_dir)
    result = RunResult()
    strategy = choose_strategy(devices)
    env = environment()
    progress = Progress(len(models) * len(datasets) * protocol.folds, echo, quiet)
    progress.say(_where(strategy))
    keras_verbose = (0 if quiet else 2) if verbose is None else verbose

    for dspec in datasets:
        try:
            dataset = dspec.load(data_dir)
            dataset.validate(plugin=dspec.plugin)
            dprotocol, fold_of, groups, leak = split_dataset(dataset, protocol)
        except ConfigError:  # a bad option is the user's to fix, for every dataset alike
            raise
        except Exception as exc:  # bad data or a plugin bug: report it, go on with the rest
            reason = str(exc) if isinstance(exc, ZooError) else \
                f"plugin {dspec.plugin}: load raised {type(exc).__name__}: {exc}"
            result.skipped.append({"what": "dataset", "name": dspec.name, "reason": reason,
                                   "error": True})
            progress.total -= len(models) * protocol.folds
            echo(f"error: dataset {dspec.name}: {reason}")
            continue
        summary = dataset.summary()
        if leak["note"]:
            progress.say(f"{dataset.name}: {leak['note']}")
        if leak["checks"][dprotocol.split]["leakage"]:
            echo(f"warning: {dataset.name}: held-out folds leak: "
                 + "; ".join(leak["checks"][dprotocol.split]["reasons"])
                 + ". Held-out scores will be optimistic; "
                 + ("trust the official test split, or use --split grouped" if dataset.has_test
                    else "use --split grouped"))
        store = RunStore(results_dir, dataset.name, dprotocol.run_id(summary["fingerprint"]))
        saved = store.read_splits()
        if saved is not None and (saved != fold_of).any():
            raise ZooError(f"{store.path}: saved splits differ from the ones computed now; "
                           "remove that folder to start afresh")
        info = store.read_run() if (store.path / "run.json").exists() else {}
        known = list(info.get("models", []))
        info.update({"dataset": summary, "protocol": dprotocol.to_dict(), "leakage": leak,
                     "run_id": store.run_id, "environment": env,
                     "models": known + [m.name for m in models if m.name not in known],
                     "specs": {**info.get("specs", {}), **{m.name: {
                         "plugin": m.plugin, "version": m.version,
                         "description": m.description, "explain": list(m.explain)}
                         for m in models}}})
        info.setdefault("started_at", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        store.write_splits(fold_of, groups)
        if dataset.has_test:
            from zoo.store import write_npz

            write_npz(store.path / "test_labels.npz", y_test=dataset.y_test)
        store.write_run(info)
        result.runs.append({"dataset": dataset.name, "run_id": store.run_id,
                            "path": str(store.path), "models": [m.name for m in models]})
        _checkpoint(results_dir, result)

        for mspec in models:
            runner = FoldRunner(mspec, dataset, dprotocol, strategy, verbose=keras_verbose)
            for fold in range(protocol.folds):
                label = f"{dataset.name} / {mspec.name} / fold {fold + 1}/{protocol.folds}"
                if store.has_fold(mspec.name, fold):
                    facts, _ = store.read_fold(mspec.name, fold)
                    if facts.get("status") in ("ok", "diverged"):
                        result.resumed += 1
                        progress.finished(0, trained=False)
                        progress.say(f"[skip] {label}: already done")
                        continue
                progress.say(f"[start] {label}  ({progress.eta()})")
                t0 = time.monotonic()
                try:
                    facts, arrays = runner.run(
                        fold, fold_of,
                        save_to=store.model_path(mspec.name, fold) if keep == "folds" else None)
                except PluginError as exc:
                    result.skipped.append({"what": "model", "name": mspec.name,
                                           "dataset": dataset.name, "reason": str(exc),
                                           "error": True})
                    progress.total -= protocol.folds - fold
                    echo(f"error: {exc}")
                    break
                except WriteError:  # a full disk is no fold's failure: stop, keep what is saved
                    raise
                except Exception as exc:
                    facts = {"dataset": dataset.name, "model": mspec.name, "fold": fold,
                             "folds": protocol.folds, "status": "error",
                             "reason": f"{type(exc).__name__}: {exc}"[:2000]}
                    arrays = {}
                seconds = time.monotonic() - t0
                facts["wall_seconds"] = seconds
                facts["environment"] = env
                store.write_fold(mspec.name, fold, facts, arrays)
                result.trained += 1
                progress.finished(seconds, trained=True)
                if facts["status"] != "ok":
                    result.failed += 1
                    echo(f"[failed] {label}: {facts['status']}: {facts['reason']}")
                else:
                    progress.say(f"[done] {label} in {_clock(seconds)}  ({progress.eta()})")
            final_facts = store.model_path(mspec.name).with_suffix(".json")
            if keep == "final" and not final_facts.exists() \
                    and any(store.has_fold(mspec.name, k) for k in range(dprotocol.folds)):
                progress.say(f"[final] {dataset.name} / {mspec.name}: training on all "
                             f"{len(dataset.y)} training images")
                try:
                    final = runner.fit_final(store.model_path(mspec.name))
                    write_json(final_facts, final)
                except PluginError as exc:
                    echo(f"error: {exc}")
            del runner
            _release()
        info["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        store.write_run(info)
        _checkpoint(results_dir, result)
    _checkpoint(results_dir, result)
    return result


def split_dataset(dataset, protocol):
    """The dataset's folds under ``protocol.split``, with the leakage check's numbers.

    Returns (protocol with the split kind actually used, fold_of, groups or None, leakage
    info). 'auto' becomes 'grouped' when the check flags a stratified split."""
    from dataclasses import replace

    from zoo import leakage

    stratified = replace(protocol, split="stratified")
    fold_of = make_splits(dataset.y, stratified)
    checks = {"stratified": leakage.check(dataset.x, dataset.y, fold_of, dataset.x_test,
                                          dataset.y_test, seed=protocol.seed)}
    kind, note, groups = protocol.split, "", None
    if kind == "auto":
        kind = "grouped" if checks["stratified"]["leakage"] else "stratified"
        note = (f"split chosen automatically: {kind}, since "
                + ("the leakage check flagged a stratified split" if kind == "grouped"
                   else "the leakage check found no leakage"))
    if kind == "grouped":
        groups = leakage.groups(dataset.x, dataset.y, checks["stratified"]["near_copy_threshold"])
        protocol = replace(protocol, split="grouped")
        fold_of = make_splits(dataset.y, protocol, groups)
        checks["grouped"] = leakage.check(dataset.x, dataset.y, fold_of, dataset.x_test,
                                          dataset.y_test, seed=protocol.seed)
    else:
        protocol = stratified
    info = {"checks": checks, "used": kind, "note": note,
            "groups": int(len(np.unique(groups))) if groups is not None else None}
    return protocol, fold_of, groups, info


def _where(strategy) -> str:
    """One plain line on where training runs (TensorFlow's own start-up lines are hidden)."""
    from zoo.distribute import NO_GPU, describe

    d = describe(strategy)
    how = "one device" if d["replicas"] == 1 else f"{d['strategy']}, {d['replicas']} replicas"
    where = f"devices: {', '.join(d['devices'])} ({how})"
    if not d["gpus"]:
        where += "; no GPU found" + (" (CUDA could not start)" if NO_GPU["seen"] else "")
    return where


def _checkpoint(results_dir, result: RunResult) -> None:
    write_last_run(results_dir, result.runs, result.skipped)


def _release() -> None:
    """Free the finished model's graph and variables before the next model."""
    import keras

    keras.backend.clear_session()
    gc.collect()
