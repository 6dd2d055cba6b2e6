"""The plan of a run: which models on which datasets, each dataset loaded, checked and split
once, and every cell that has no facts yet.

1. :func:`select` picks the models and datasets a `zoo run` names (or every one registered
   and available), with their options checked.
2. :func:`prepare` loads one dataset, validates it, checks it for leakage, splits it once
   for every model and opens its store.
3. :func:`cells` lists every (dataset, model, fold[, training size]) cell still to do;
   finished ones are skipped, so a rerun resumes.

No model is named here, and nothing is trained.
"""
from __future__ import annotations

import difflib
import json
import time
from dataclasses import dataclass, field, replace

import numpy as np

from zoo.grid import augment, leakage
from zoo import options
from zoo.grid.cells import Cell, Prepared
from zoo.errors import ConfigError, PluginError, ZooError
from zoo.grid.protocol import first_split, held_out, make_splits
from zoo.store import RunStore
from pathlib import Path
from zoo.grid.train import to_uint8
import dataclasses
import functools
import inspect

KEEP = ("folds", "final", "none")


# -- what to run ------------------------------------------------------------------------------
@dataclass
class Selection:
    models: list                                    # ModelSpecs, variants included
    datasets: list                                  # DatasetSpecs
    skipped: list = field(default_factory=list)     # [{"what", "name", "reason"}]


def select(registry, model_names=(), dataset_names=(), data_dir=None, model_defaults=None,
           everything: bool = False, images=(), image_options=None) -> Selection:
    """The models and datasets to run. Models: the named ones and variants
    ('vit:patch_size=4'), or with ``everything`` and no names every registered one, with
    zoo.toml's [models.NAME] defaults. Datasets: a folder of images for every path of
    ``images`` and the named ones (each must be available); or, naming none, every
    available one (the others are skipped, with how to get them)."""
    if not model_names and not everything:
        raise ConfigError("name the models to run (see `zoo list`) or pass --all")
    models, unavailable = _available(choose_models(model_names, registry.models,
                                                   model_defaults or {}), bool(model_names))
    if not models:
        raise ConfigError("no models are registered; install a plugin (see `zoo list`)")
    selection = Selection(models, image_datasets(registry, images, image_options or {}),
                          unavailable)
    if dataset_names or images:
        for spec in pick("dataset", dataset_names, registry.datasets):
            ok, why = spec.check_available(data_dir)
            if not ok:
                raise ConfigError(f"dataset '{spec.name}' is unavailable: {why}")
            selection.datasets.append(spec)
    else:
        for spec in registry.datasets.values():
            ok, why = spec.check_available(data_dir)
            if ok:
                selection.datasets.append(spec)
            else:
                selection.skipped.append({"what": "dataset", "name": spec.name, "reason": why})
    if not selection.datasets:
        raise ConfigError("no dataset is available (see `zoo list`)")
    return selection


def _available(models: list, named: bool) -> tuple:
    """(models to run, skipped): a named model that is unavailable is an error with how to
    get it; with --all it is skipped, saying so."""
    keep, skipped = [], []
    for m in models:
        ok, why = m.check_available()
        if ok:
            ok, why = m.check_preflight()   # before any dataset loads (a preset offline)
            if not ok:
                raise ConfigError(f"model '{m.name}': {why}")
            keep.append(m)
        elif named:
            raise ConfigError(f"model '{m.name}' is unavailable: {why}")
        else:
            skipped.append({"what": "model", "name": m.name, "reason": why})
    return keep, skipped


def image_datasets(registry, paths, options: dict) -> list:
    """A dataset for every folder of ``paths``, named after it: the images plugin's spec
    with the folder and ``options`` (image_size, color, cache_dir, skip_bad_images)
    bound into its loader."""

    if not paths:
        return []
    spec = registry.datasets.get("images")
    if spec is None:
        raise ConfigError("--images needs zoo's images plugin, which is not loaded (is "
                          "ZOO_PLUGINS leaving out 'images'?)")
    out = {}
    for path in paths:
        name = Path(path).expanduser().resolve().name or str(path)
        if name in out:
            raise ConfigError(f"--images: two folders are named {name!r}; a dataset is named "
                              "after its folder, so give them different names")
        out[name] = dataclasses.replace(
            spec, name=name, available=None, description=f"the images in {path}",
            load=functools.partial(spec.load, path=str(path), **options))
    return list(out.values())


def pick(kind: str, names, known: dict) -> list:
    """The registered things of these names; an unknown name is an error that lists the
    known ones and suggests the closest."""
    picked = []
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"unknown {kind} '{name}'{hint} known {kind}s: "
                              + ", ".join(sorted(known)))
        if known[name] not in picked:
            picked.append(known[name])
    return picked


def choose_models(names, known: dict, defaults: dict) -> list:
    """The named models and variants, or every registered one; all options checked."""
    for name in defaults:
        if name not in known:
            pick("model", [name], known)  # the same message as for an unknown argument
    if not names:
        return [options.variant(spec, {}, defaults.get(spec.name)) for spec in known.values()
                if spec.in_all or spec.name in defaults]
    out = []
    for text in names:
        try:
            spec = options.resolve(text, known, defaults)
        except KeyError:
            pick("model", [options.parse(text)[0]], known)
        if spec.name not in [m.name for m in out]:
            out.append(spec)
    return out


# -- one dataset --------------------------------------------------------------------------------
@dataclass
class Opened:
    """A dataset prepared for its cells, with the store its facts go to and its run.json."""
    prepared: Prepared
    store: RunStore
    info: dict

    @property
    def name(self) -> str:
        return self.prepared.dataset.name

    @property
    def protocol(self):
        return self.prepared.protocol


def prepare(dspec, models, protocol, results_dir, data_dir, env, locks=None,
            tuning=None) -> Opened:
    """Load, validate, leakage-check and split one dataset; write its run.json and splits.
    Raises for a dataset that cannot be used. ``locks`` (a contextlib.ExitStack) takes the
    run folder's lock before anything is written there, and holds it until it closes.
    ``tuning`` (zoo.tune.space.Tuning) is part of the run's identity, its number of trials
    aside (more trials extend a search)."""
    dataset = load(dspec, data_dir, protocol.seed)
    dataset.validate(plugin=dspec.plugin)
    problem = dspec.declared_problem(dataset)
    if problem:
        raise PluginError(f"dataset '{dspec.name}' (plugin {dspec.plugin}): {problem}")
    transforms = _transforms(dspec, dataset.input_shape)
    dprotocol, fold_of, groups, leak = split_dataset(dataset, protocol)
    summary = dataset.summary()
    narrowed = "" if transforms == augment.effective(dataset.input_shape) else \
        "|augment=" + ",".join(transforms)   # only then: earlier runs keep their ids
    tuned = "" if tuning is None else "|tune=" + tuning.identity()
    store = RunStore(results_dir, dataset.name, dprotocol.run_id(
        summary["fingerprint"] + "|" + identity(models) + narrowed + tuned
        + _draws(dprotocol, transforms)))
    if locks is not None:
        locks.enter_context(store.lock())
    saved = store.read_splits()
    if saved is not None and (saved != fold_of).any():
        raise ZooError(f"{store.path}: saved splits differ from the ones computed now; "
                       "remove that folder to start afresh")
    info = _run_info(store, summary, dprotocol, leak, env, models)
    info["augment"] = list(transforms)
    if tuning is not None:
        info["tuning"] = tuning.to_dict()   # the trials of this invocation are shown
    store.write_splits(fold_of, groups)
    if dataset.has_test:
        store.write_test_labels(dataset.y_test)
    _keep_examples(store, dataset, fold_of, dprotocol.seed)
    store.write_run(info)
    return Opened(Prepared(dataset, dprotocol, fold_of, transforms, groups, tuning), store,
                  info)


#: how the augmentation draws its random numbers (zoo.grid.batches._Draws), part of the
#: identity of a run that shifts images: version 2 draws each number of a layer afresh
#: (before it, a shift's horizontal and vertical parts were one number, so images moved along
#: the diagonal only), so such a run made before never resumes onto folds augmented now
AUGMENT_DRAWS = 2


def _draws(protocol, transforms) -> str:
    """The draws' version in a run's identity, for a run that shifts images; nothing for any
    other (rotation and zoom draw one number a layer, the same as ever, so those runs keep
    their ids)."""
    return f"|draws={AUGMENT_DRAWS}" if protocol.augment and "shift" in transforms else ""


def load(dspec, data_dir, seed: int):
    """``dspec.load(data_dir)``, or ``dspec.load(data_dir, seed)`` for a loader that takes
    the run's seed."""
    try:
        params = inspect.signature(dspec.load).parameters.values()
    except (TypeError, ValueError):
        params = []
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_seed = len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)
    return dspec.load(data_dir, seed) if takes_seed else dspec.load(data_dir)


def _transforms(dspec, input_shape) -> tuple:
    """The augmentations applied to this dataset: what it allows, as its image size allows."""
    try:
        return augment.effective(input_shape, augment.allowed(dspec.augment))
    except ValueError as exc:
        raise PluginError(f"dataset '{dspec.name}' (plugin {dspec.plugin}): {exc}") from None


def _run_info(store, summary, protocol, leak, env, models) -> dict:
    """run.json: what an earlier run of the same id saved, updated with this one's models,
    training sizes and settings."""
    info = store.read_run() if store.has_run() else {}
    info.pop("finished_at", None)   # this invocation has not finished yet
    known = list(info.get("models", []))
    sizes = sorted(set(info.get("train_sizes", [])) | set(protocol.train_sizes))
    specs = {m.name: {"plugin": m.plugin, "version": m.version, "description": m.description,
                      "explain": list(m.explain), "base": m.base or m.name,
                      "options": m.options} for m in models}
    info.update({"dataset": summary, "protocol": protocol.to_dict(), "leakage": leak,
                 "train_sizes": sizes, "run_id": store.run_id, "environment": env,
                 "models": known + [m.name for m in models if m.name not in known],
                 "specs": {**info.get("specs", {}), **specs}})
    info.setdefault("started_at", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    return info


#: images kept for `zoo serve`'s "random test image"
EXAMPLES = 64


def _keep_examples(store, dataset, fold_of, seed: int) -> None:
    """A seeded sample of images for `zoo serve` to show: the official test split's, or
    the first held-out fold's (which that fold's models never trained on)."""
    rng = np.random.default_rng(seed)
    if dataset.has_test:
        x, y, source, fold = dataset.x_test, dataset.y_test, "the official test split", None
    else:   # positions into the whole set: only the sampled images are read
        held = held_out(fold_of, 0)
        x, y, source, fold = dataset.x, dataset.y[held], "held-out fold 1", 0
    take = np.sort(rng.choice(len(y), min(EXAMPLES, len(y)), replace=False))
    at = take if dataset.has_test else held[take]
    store.write_examples(to_uint8(x[at]), np.asarray(y)[take].astype(np.int16), source, fold)


def identity(models) -> str:
    """What identifies the models of a run besides the protocol and the data: each one's
    name, plugin version and options. Changing any of them starts a new run beside the old
    one instead of resuming onto facts made with other ones."""
    return json.dumps(sorted([m.name, m.plugin, m.version, m.options] for m in models),
                      sort_keys=True, default=repr)


def split_dataset(dataset, protocol):
    """The dataset's folds under ``protocol.split``, with the leakage check's numbers.

    Returns (protocol with the split kind actually used, fold_of, groups or None, leakage
    info). 'auto' becomes 'grouped' when the check flags a stratified split."""
    stratified = replace(protocol, split="stratified")
    fold_of = make_splits(dataset.y, stratified)
    checks = {"stratified": leakage.check(dataset.x, dataset.y, first_split(fold_of),
                                          dataset.x_test,
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
        checks["grouped"] = leakage.check(dataset.x, dataset.y, first_split(fold_of),
                                          dataset.x_test,
                                          dataset.y_test, seed=protocol.seed)
    else:
        protocol = stratified
    info = {"checks": checks, "used": kind, "note": note,
            "groups": int(len(np.unique(groups))) if groups is not None else None}
    return protocol, fold_of, groups, info


# -- the cells ----------------------------------------------------------------------------------
def cells(opened: dict, models: list, keep: str, tuned: bool = False) -> tuple:
    """(cells still to do, cells finished already), dataset by dataset and model by model.
    A fold counts as finished when its facts say ok or diverged (a diverged fold is a
    result); a final model when its facts exist. ``tuned``: none (the searches unlock the
    cells of a tuned run, zoo.tune.search)."""
    todo, done = [], []
    if tuned:
        return todo, done
    for name, o in opened.items():
        folds = o.protocol.total_folds
        for m in models:
            for fold in range(folds):
                for size in o.protocol.train_sizes:
                    cell = Cell(name, m.name, fold, folds, size)
                    finished = o.store.fold_status(m.name, fold, size) in ("ok", "diverged")
                    (done if finished else todo).append(cell)
            if keep == "final" and not o.store.has_final(m.name):
                todo.append(Cell(name, m.name, None, folds))
    return todo, done
