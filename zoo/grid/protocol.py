"""One protocol for every model: folds, budget, optimizer, seed, and the splits.

Settings come from, in order of precedence: command-line flags, ``zoo.toml``, the preset.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.errors import ConfigError
import warnings

#: stratified: StratifiedKFold. grouped: StratifiedGroupKFold over groups of near-copies
#: (zoo.grid.leakage.groups), so copies of one image never sit on both sides. auto: grouped when
#: the leakage check flags the stratified split, else stratified.
SPLIT_KINDS = ("stratified", "grouped", "auto")


def _integer(value) -> bool:  # True is an int to Python, never a number of folds to a user
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _sizes_ok(sizes) -> bool:
    return (isinstance(sizes, tuple) and bool(sizes) and all(_number(v) and 0 < v <= 1
                                                             for v in sizes)
            and list(sizes) == sorted(set(sizes)) and sizes[-1] == 1.0)


def setting(default, kind: str, expected, check=None, help: str = "", choices=(),
            flag: bool = True):
    """A protocol setting, declared once: its default, its kind ('int', 'float', 'choice',
    'sizes'), what a valid value is (``expected``: text, or a function of the protocol for
    checks that depend on other settings), ``check(value, protocol)``, and the help of its
    command-line flag (``flag`` False: zoo.toml only)."""
    return field(default=default, metadata={
        "kind": kind, "expected": expected, "check": check, "help": help,
        "choices": tuple(choices), "flag": flag})


#: the type test of each kind of setting, before its own check
_KINDS = {"int": _integer, "float": _number, "choice": lambda v: isinstance(v, str),
          "sizes": lambda v: True}

SCHEDULES = ("constant", "cosine")
#: fold seeds are seed * 1000 + fold, and NumPy seeds must lie in 0..2**32-1
MAX_SEED = 2**32 // 1000 - 1
#: bounds that no real run comes near, which keep a typo (or a hand-edited run.json) from
#: reaching the framework as an int64 overflow or a report that loops for hours
MAX_FOLDS = 1000
MAX_REPEATS = 20
MAX_EPOCHS = 100_000
MAX_BATCH = 2**20


@dataclass(frozen=True)
class Protocol:
    """One protocol for every model. Each field is a setting (see :func:`setting`): flags,
    zoo.toml keys, checks and help all come from here."""
    folds: int = setting(3, "int", f"an integer from 2 to {MAX_FOLDS:,}",
                         lambda v, p: 2 <= v <= MAX_FOLDS, help="Number of folds (k).")
    epochs: int = setting(5, "int", f"an integer from 1 to {MAX_EPOCHS:,}",
                          lambda v, p: 0 < v <= MAX_EPOCHS, help="Epochs per fold.")
    batch_size: int = setting(128, "int", f"an integer from 1 to {MAX_BATCH:,}",
                              lambda v, p: 0 < v <= MAX_BATCH, help="Batch size per replica.")
    optimizer: str = setting("adam", "choice", "'adam' (the one the shared protocol uses)",
                             choices=("adam",), flag=False)
    lr: float = setting(1e-3, "float", "a learning rate > 0 (e.g. 1e-3)",
                        lambda v, p: 0 < v < 10, help="Peak learning rate (Adam / AdamW).")
    seed: int = setting(0, "int", f"an integer 0..{MAX_SEED}", lambda v, p: 0 <= v <= MAX_SEED,
                        help="Seed for splits, weights, shuffling and augmentation.")
    split: str = setting(
        "auto", "choice", "one of " + ", ".join(SPLIT_KINDS), choices=SPLIT_KINDS,
        help="auto (default): a stratified k-fold split, or a grouped one when the leakage "
             "check finds near-copies across its folds (and says so); stratified: always "
             "stratified; grouped: near-copies of an image always stay in one fold.")
    #: patience in epochs; 0 turns early stopping off. It watches an inner validation split
    #: carved from the training folds, never the held-out fold.
    early_stopping: int = setting(
        0, "int", "an integer >= 0 (patience in epochs; 0 = off)", lambda v, p: v >= 0,
        help="Patience in epochs (0 = off); watches an inner split of the training folds, "
             "never the held-out fold.")
    #: fraction of the training folds held back as that inner split (early stopping only)
    inner_validation: float = setting(0.1, "float", "a fraction between 0 and 0.5",
                                      lambda v, p: 0 < v < 0.5, flag=False)
    #: the recipe, shared by every model (zoo.grid.augment, zoo.grid.recipe)
    augment: float = setting(
        1.0, "float", "a strength from 0 (none) to 5 (1 = light)", lambda v, p: 0 <= v <= 5,
        help="Augmentation strength for every model, in the input pipeline: 0 = none, 1 = "
             "light (default: rotations to 14 degrees, shifts to 8%, zoom to 10%).")
    schedule: str = setting("constant", "choice", "one of " + ", ".join(SCHEDULES),
                            choices=SCHEDULES,
                            help="Learning-rate schedule for every model (default constant).")
    warmup: int = setting(
        0, "int", lambda p: f"an integer number of epochs from 0 to {p.epochs - 1} "
                            "(fewer than the epochs)",
        lambda v, p: 0 <= v < p.epochs,
        help="Epochs of linear learning-rate warm-up (default 0).")
    weight_decay: float = setting(
        0.0, "float", "a number from 0 (off) below 1 (e.g. 0.05)", lambda v, p: 0 <= v < 1,
        help="Decoupled weight decay (AdamW) for every model; 0 = plain Adam (default).")
    label_smoothing: float = setting(
        0.0, "float", "a number from 0 (off) below 1 (e.g. 0.1)", lambda v, p: 0 <= v < 1,
        help="Label smoothing of the cross-entropy loss (default 0).")
    #: learning curves: fractions of each fold's training part to train on as well, nested
    #: and stratified (1.0, the whole part, is always among them)
    train_sizes: tuple = setting(
        (1.0,), "sizes", "fractions of the training folds above 0 and up to 1, like "
                         "0.1,0.25,0.5,1.0", lambda v, p: _sizes_ok(v),
        help="Learning curves: also train on these fractions of each fold's training part, "
             "e.g. 0.1,0.25,0.5 (nested, stratified, the same for every model; 1.0 is always "
             "trained). Adding sizes to a finished run trains only them.")

    #: the Keras backend the models train on (numbers differ between backends in the last
    #: digits, so a run on another backend is another run); chosen before Keras starts
    backend: str = setting(
        "tensorflow", "choice", "one of tensorflow, jax, torch",
        choices=("tensorflow", "jax", "torch"), flag=False,
        help="The Keras backend (default: $KERAS_BACKEND, else tensorflow).")

    #: repeats of the k-fold split, each with new seeded splits: more fold scores for the
    #: corrected repeated k-fold t-test (Bouckaert and Frank), at R times the training
    repeats: int = setting(
        1, "int", f"an integer from 1 to {MAX_REPEATS} (folds x repeats at most {MAX_FOLDS:,})",
        lambda v, p: 1 <= v <= MAX_REPEATS and v * p.folds <= MAX_FOLDS,
        help="Repeat the k-fold split this many times with new seeded splits (default 1): "
             "more power for the comparison, at that many times the training.")
    #: the metric the claims are made on (one Holm family over the pairs of models); the
    #: others are secondary results. Checked against the registered metrics by zoo.api.run.
    metric: str = setting(
        "accuracy", "choice", "a metric's name, like accuracy or f1",
        lambda v, p: v.replace("_", "").isalnum(),
        help="The primary metric the conclusion's claims are made on (default accuracy): "
             "accuracy, f1, mcc, roc_auc or a plugin's metric; the others are reported as "
             "secondary results.")

    @property
    def total_folds(self) -> int:
        """Fold models per model: k folds of each of the repeats."""
        return self.folds * self.repeats

    def validate(self) -> "Protocol":
        """Every setting checked; ConfigError names the first bad one, what was expected and
        what it got."""
        for f in dataclasses.fields(self):
            meta, value = f.metadata, getattr(self, f.name)
            ok = _KINDS[meta["kind"]](value)
            if ok and meta["choices"]:
                ok = value in meta["choices"]
            if ok and meta["check"] is not None:
                ok = meta["check"](value, self)
            if not ok:
                expected = meta["expected"]
                expected = expected(self) if callable(expected) else expected
                raise ConfigError(f"{f.name}: expected {expected}, got {value!r}")
        return self

    def recipe(self, transforms=None) -> str:
        """The training recipe in words: 'Adam lr 0.001, cosine schedule, ...'; with
        ``transforms``, the augmentations a dataset gets (what it allows at its image size:
        'augmentation 1 (shift)'; runs made before datasets declared them: not said)."""
        parts = [("AdamW" if self.weight_decay else "Adam") + f" lr {self.lr:g}"
                 + (f" (weight decay {self.weight_decay:g})" if self.weight_decay else "")]
        if self.schedule != "constant":
            parts.append(f"{self.schedule} schedule")
        if self.warmup:
            parts.append(f"{self.warmup} warm-up epoch{'s' * (self.warmup > 1)}")
        if self.label_smoothing:
            parts.append(f"label smoothing {self.label_smoothing:g}")
        parts.append(f"augmentation {self.augment:g}" if self.augment else "no augmentation")
        text = ", ".join(parts)
        if transforms is not None and self.augment:
            text += (f" ({', '.join(transforms)})" if transforms else
                     " (none applied: the dataset's labels do not survive it)")
        return text

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def run_id(self, dataset_fingerprint: str) -> str:
        """Same settings on the same data give the same id, so a rerun resumes. The training
        sizes are not part of it (a rerun with more sizes adds their cells to the same run),
        nor is the primary metric (choosing another judges the same facts again), and
        settings left at their defaults are not either (runs made before those
        settings existed keep their ids)."""
        settings = {k: v for k, v in self.to_dict().items()
                    if k not in ("train_sizes", "metric")
                    and not (k in _ADDED and v == getattr(Protocol, k))}
        blob = json.dumps({"protocol": settings, "data": dataset_fingerprint},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


#: recipe settings added after the first runs (see Protocol.run_id)
_ADDED = ("augment", "schedule", "warmup", "weight_decay", "label_smoothing", "repeats",
          "backend")


def parse_sizes(value, option: str = "train_sizes") -> tuple:
    """'0.1,0.25,0.5' or [0.1, 0.25] -> (0.1, 0.25, 0.5, 1.0): sorted, without repeats, with
    1.0 (the whole training part, which the comparison is made on) always among them."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"{option}: expected fractions like 0.1,0.25,0.5,1.0, got {value!r}")
    sizes = []
    for item in items:
        try:
            if isinstance(item, bool):
                raise ValueError
            v = float(item.strip()) if isinstance(item, str) else float(item)
        except (TypeError, ValueError):
            raise ConfigError(f"{option}: {item!r} is not a number; expected fractions of the "
                              "training folds like 0.1,0.25,0.5,1.0") from None
        if not 0 < v <= 1:
            raise ConfigError(f"{option}: {item!r} is not a fraction above 0 and up to 1 "
                              "(1.0 = the whole training part of a fold)")
        sizes.append(v)
    sizes = tuple(sorted(set(sizes) | {1.0}))
    if len(sizes) > MAX_SIZES:
        raise ConfigError(f"{option}: {len(sizes)} training sizes; at most {MAX_SIZES} (each "
                          "one trains every model on every fold again)")
    return sizes


#: learning-curve points at most: each trains every model on every fold once more
MAX_SIZES = 20


PRESETS = {
    # Small enough for a 2-core CPU: minutes on the bundled digits.
    "quick": Protocol(folds=3, epochs=5, batch_size=128, lr=1e-3),
    # The original study: 10-fold cross-validation, 50 epochs, Adam at 1e-4.
    "paper": Protocol(folds=10, epochs=50, batch_size=128, lr=1e-4),
}

FIELDS = {f.name: f.type for f in dataclasses.fields(Protocol)}
#: where the cells run: settings that never change a result, so not part of the protocol
EXECUTION_KEYS = {"executor", "address", "cpus_per_task", "gpus_per_task"}
#: a folder of images as a dataset (zoo_plugins.images): the folders and how to read them
IMAGE_KEYS = {"images", "image_size", "color", "cache_dir", "skip_bad_images", "memory_limit"}
#: [models.NAME] tables: default options of a model (zoo.options)
TOML_KEYS = set(FIELDS) | {"preset", "models", "tune"} | EXECUTION_KEYS | IMAGE_KEYS


#: the largest zoo.toml zoo reads
MAX_CONFIG = 1024 * 1024


def _config_text(path: Path) -> str:
    """The text of a config file: a regular file of at most MAX_CONFIG bytes of UTF-8 (a
    device such as /dev/zero was read until memory ran out)."""
    try:
        if not path.is_file():
            raise ConfigError(f"{path}: not a file; expected a zoo.toml")
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_CONFIG:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG // 1024} KiB; expected a zoo.toml "
                          "of settings")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; expected a zoo.toml") from None


def read_toml(path) -> dict:
    """Read protocol settings from a zoo.toml; errors name the file, line and key."""
    path = Path(path)
    text = _config_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    data = ({**data.get("protocol", {}), **{k: data[k] for k in ("models", "tune") if k in data}}
            if set(data) <= {"protocol", "models", "tune"} and "protocol" in data else data)
    for key, value in data.items():
        if key not in TOML_KEYS:
            raise ConfigError(f"{path}: unknown key '{key}'; known keys: "
                              + ", ".join(sorted(TOML_KEYS)))
        if key == "models":
            if not isinstance(value, dict) or not all(isinstance(v, dict)
                                                      for v in value.values()):
                raise ConfigError(f"{path}: 'models' must hold one table per model, like "
                                  "[models.vit] with patch_size = 4")
        elif key == "tune":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: 'tune' must be a table, like [tune] with lr = "
                                  "\"1e-4..1e-2:log\" and trials = 12")
        elif isinstance(value, dict):
            raise ConfigError(f"{path}: '{key}' must be a value, not a table")
    return data


def load_config(path=None) -> dict:
    """The settings of ``path``, else of ./zoo.toml when there is one, else none."""
    if path:
        return read_toml(path)
    return read_toml("zoo.toml") if Path("zoo.toml").exists() else {}


def flags() -> list:
    """The settings that have a command-line flag: (name, kind, help, choices)."""
    return [(f.name, f.metadata["kind"], f.metadata["help"], f.metadata["choices"])
            for f in dataclasses.fields(Protocol) if f.metadata["flag"]]


def resolve(preset: str | None = None, toml: dict | None = None, **flags) -> Protocol:
    """Preset, then zoo.toml, then flags (None means 'not given'); the preset itself comes
    from the flag, else zoo.toml, else 'quick'."""
    toml = {k: v for k, v in (toml or {}).items()
            if k not in EXECUTION_KEYS | IMAGE_KEYS | {"models", "tune"}}
    preset = preset or toml.pop("preset", None) or "quick"
    toml.pop("preset", None)
    if preset not in PRESETS:
        raise ConfigError(f"preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
    values = PRESETS[preset].to_dict()
    for source in (toml, {k: v for k, v in flags.items() if v is not None}):
        values.update((key, _setting(key, value)) for key, value in source.items())
    return Protocol(**values).validate()


def _setting(key: str, value):
    """A protocol setting as given, a known one (an integer for a float setting becomes a
    float; training sizes are parsed); Protocol.validate checks the values."""
    if key not in FIELDS:
        raise ConfigError(f"unknown protocol setting '{key}'")
    if FIELDS[key] in (float, "float") and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return parse_sizes(value) if key == "train_sizes" else value


def make_splits(y: np.ndarray, protocol: Protocol, groups=None) -> np.ndarray:
    """Return ``fold_of``: for every sample, the fold (0..k-1) in which it is held out; with
    ``protocol.repeats`` R > 1, an R x n array, one split per repeat (the first is the
    unrepeated split, the others drawn with seeds of their own). Fold ``f`` of a run is
    fold ``f % k`` of repeat ``f // k`` (see :func:`held_out`).

    Computed once per dataset and reused by every model, so all models see the same splits.
    With ``groups`` (and split 'grouped'), samples of one group share a fold.
    """
    y = np.asarray(y)
    counts = np.bincount(y)
    smallest = int(counts[counts > 0].min())
    if protocol.folds > smallest:
        raise ConfigError(f"folds: {protocol.folds} folds need at least {protocol.folds} "
                          f"samples of every class, but the smallest class has {smallest}")
    if protocol.split == "grouped":
        if groups is None:
            raise ValueError("a grouped split needs groups")
        if len(np.unique(groups)) < protocol.folds:
            raise ConfigError(f"folds: {protocol.folds} folds need at least {protocol.folds} "
                              f"groups of near-copies, found {len(np.unique(groups))}")
    splits = [_one_split(y, protocol, groups, split_seed(protocol, r))
              for r in range(protocol.repeats)]
    return splits[0] if protocol.repeats == 1 else np.stack(splits)


def split_seed(protocol: Protocol, repeat: int) -> int:
    """The seed of repeat ``repeat``'s split: the protocol's seed for the first, so a
    repeated run's first split is the unrepeated one."""
    if repeat == 0:
        return protocol.seed
    return int(np.random.SeedSequence([protocol.seed, repeat]).generate_state(1)[0])


def _one_split(y, protocol: Protocol, groups, seed: int) -> np.ndarray:
    # lazy: scikit-learn takes 1 s to import
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    fold_of = np.empty(len(y), dtype=np.int32)
    if protocol.split == "grouped":
        splitter = StratifiedGroupKFold(n_splits=protocol.folds, shuffle=True,
                                        random_state=seed)
        parts = splitter.split(np.zeros(len(y)), y, groups)
    else:
        splitter = StratifiedKFold(n_splits=protocol.folds, shuffle=True, random_state=seed)
        parts = splitter.split(np.zeros(len(y)), y)
    for k, (_, held_out) in enumerate(parts):
        fold_of[held_out] = k
    return fold_of


def _split_of(fold_of, fold: int) -> tuple:
    """(the split fold ``fold`` belongs to, its number within that split)."""
    fold_of = np.asarray(fold_of)
    if fold_of.ndim == 1:
        return fold_of, fold
    k = int(fold_of[0].max()) + 1
    return fold_of[fold // k], fold % k


def held_out(fold_of, fold: int) -> np.ndarray:
    """Positions of the samples fold ``fold`` holds out (over every repeat's folds)."""
    split, k = _split_of(fold_of, fold)
    return np.flatnonzero(split == k)


def training(fold_of, fold: int) -> np.ndarray:
    """Positions of the samples fold ``fold`` trains on."""
    split, k = _split_of(fold_of, fold)
    return np.flatnonzero(split != k)


def first_split(fold_of) -> np.ndarray:
    """The first (or only) split: the one the leakage check and `zoo serve` look at."""
    fold_of = np.asarray(fold_of)
    return fold_of if fold_of.ndim == 1 else fold_of[0]


#: the share of a training part a tuning trial is scored on (zoo.tune.search)
TUNE_VALIDATION = 0.2


def fold_seed(protocol: Protocol, fold) -> int:
    """The seed of outer fold ``fold`` (``protocol.folds`` or None: the final model, or a
    search on the whole training set): its weights, shuffling, augmentation and inner
    split."""
    return protocol.seed * 1000 + (protocol.total_folds if fold is None else fold)


def trial_split(protocol: Protocol, y: np.ndarray, fold_of: np.ndarray, fold, groups=None):
    """(train, validation) of every trial of the search inside outer fold ``fold`` (None:
    the search on the whole training set): :func:`tuning_split` of that fold's training
    part, with that fold's seed."""
    positions = np.arange(len(y)) if fold is None else training(fold_of, fold)
    return tuning_split(positions, y, groups, fold_seed(protocol, fold))


def tuning_split(positions: np.ndarray, y: np.ndarray, groups=None, seed: int = 0,
                 fraction: float = TUNE_VALIDATION) -> tuple:
    """(train, validation): the images at ``positions`` (indices into ``y``) split for the
    trials of a search, ``fraction`` of them held back for scoring; stratified, and grouped
    (near-copies on one side) when ``groups`` are given. The same for every model and trial
    of a search: it depends only on the positions, the labels, the groups and the seed."""
    # lazy: scikit-learn takes 1 s to import
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    positions = np.asarray(positions)
    labels = np.asarray(y)[positions]
    parts = max(2, round(1 / fraction))
    with warnings.catch_warnings():   # a class with fewer images than parts: still fine
        warnings.simplefilter("ignore", UserWarning)
        try:
            if groups is not None and len(np.unique(np.asarray(groups)[positions])) >= parts:
                split = StratifiedGroupKFold(parts, shuffle=True, random_state=seed).split(
                    positions, labels, np.asarray(groups)[positions])
            else:
                split = StratifiedKFold(parts, shuffle=True, random_state=seed).split(
                    positions, labels)
            train, val = next(split)
        except ValueError:   # every class smaller than the parts: a plain shuffled cut
            order = np.random.default_rng(seed).permutation(len(positions))
            cut = max(1, int(round(fraction * len(positions))))
            val, train = np.sort(order[:cut]), np.sort(order[cut:])
    return positions[train], positions[val]
