"""One protocol for every model: folds, budget, optimizer, seed, and the splits.

Settings come from, in order of precedence: command-line flags, ``zoo.toml``, the preset.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import ConfigError

#: stratified: StratifiedKFold. grouped: StratifiedGroupKFold over groups of near-copies
#: (zoo.leakage.groups), so copies of one image never sit on both sides. auto: grouped when
#: the leakage check flags the stratified split, else stratified.
SPLIT_KINDS = ("stratified", "grouped", "auto")


@dataclass(frozen=True)
class Protocol:
    folds: int = 3
    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    seed: int = 0
    split: str = "stratified"
    #: patience in epochs; 0 turns early stopping off. It watches an inner validation split
    #: carved from the training folds, never the held-out fold.
    early_stopping: int = 0
    #: fraction of the training folds held back as that inner split (early stopping only)
    inner_validation: float = 0.1
    #: the recipe, shared by every model (zoo.augment, zoo.train): augmentation strength in
    #: the input pipeline (0 = none), learning-rate schedule and linear warm-up in epochs,
    #: decoupled weight decay (AdamW when > 0), label smoothing
    augment: float = 1.0
    schedule: str = "constant"
    warmup: int = 0
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    #: learning curves: fractions of each fold's training part to train on as well, nested
    #: and stratified (1.0, the whole part, is always among them)
    train_sizes: tuple = (1.0,)

    def validate(self) -> "Protocol":
        def bad(option, expected, value):
            raise ConfigError(f"{option}: expected {expected}, got {value!r}")

        def integer(value):  # True is an int to Python, never a number of folds to a user
            return isinstance(value, int) and not isinstance(value, bool)

        def number(value):
            return isinstance(value, (int, float)) and not isinstance(value, bool)

        if not integer(self.folds) or self.folds < 2:
            bad("folds", "an integer >= 2", self.folds)
        if not integer(self.epochs) or self.epochs <= 0:
            bad("epochs", "an integer > 0", self.epochs)
        if not integer(self.batch_size) or self.batch_size <= 0:
            bad("batch_size", "an integer > 0", self.batch_size)
        if not number(self.lr) or not (0 < self.lr < 10):
            bad("lr", "a learning rate > 0 (e.g. 1e-3)", self.lr)
        if self.optimizer != "adam":
            bad("optimizer", "'adam' (the one the shared protocol uses)", self.optimizer)
        if self.split not in SPLIT_KINDS:
            bad("split", "one of " + ", ".join(SPLIT_KINDS), self.split)
        if not integer(self.seed) or not (0 <= self.seed < 2**32 // 1000):
            # fold seeds are seed * 1000 + fold, and NumPy seeds must lie in 0..2**32-1
            bad("seed", f"an integer 0..{2**32 // 1000 - 1}", self.seed)
        if not integer(self.early_stopping) or self.early_stopping < 0:
            bad("early_stopping", "an integer >= 0 (patience in epochs; 0 = off)",
                self.early_stopping)
        if not number(self.inner_validation) or not (0 < self.inner_validation < 0.5):
            bad("inner_validation", "a fraction between 0 and 0.5", self.inner_validation)
        if not number(self.augment) or not (0 <= self.augment <= 5):
            bad("augment", "a strength from 0 (none) to 5 (1 = light)", self.augment)
        if self.schedule not in SCHEDULES:
            bad("schedule", "one of " + ", ".join(SCHEDULES), self.schedule)
        if not integer(self.warmup) or not (0 <= self.warmup < self.epochs):
            bad("warmup", f"an integer number of epochs from 0 to {self.epochs - 1} "
                "(fewer than the epochs)", self.warmup)
        if not number(self.weight_decay) or not (0 <= self.weight_decay < 1):
            bad("weight_decay", "a number from 0 (off) below 1 (e.g. 0.05)", self.weight_decay)
        if not number(self.label_smoothing) or not (0 <= self.label_smoothing < 1):
            bad("label_smoothing", "a number from 0 (off) below 1 (e.g. 0.1)",
                self.label_smoothing)
        sizes = self.train_sizes
        if not isinstance(sizes, tuple) or not sizes or not all(
                number(v) and 0 < v <= 1 for v in sizes) or list(sizes) != sorted(set(sizes)) \
                or sizes[-1] != 1.0:
            bad("train_sizes", "fractions of the training folds above 0 and up to 1, like "
                "0.1,0.25,0.5,1.0", sizes)
        return self

    def recipe(self) -> str:
        """The training recipe in words: 'Adam lr 0.001, cosine schedule, ...'."""
        parts = [("AdamW" if self.weight_decay else "Adam") + f" lr {self.lr:g}"
                 + (f" (weight decay {self.weight_decay:g})" if self.weight_decay else "")]
        if self.schedule != "constant":
            parts.append(f"{self.schedule} schedule")
        if self.warmup:
            parts.append(f"{self.warmup} warm-up epoch{'s' * (self.warmup > 1)}")
        if self.label_smoothing:
            parts.append(f"label smoothing {self.label_smoothing:g}")
        parts.append(f"augmentation {self.augment:g}" if self.augment else "no augmentation")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def run_id(self, dataset_fingerprint: str) -> str:
        """Same settings on the same data give the same id, so a rerun resumes. The training
        sizes are not part of it (a rerun with more sizes adds their cells to the same run),
        and recipe settings left at their defaults are not either (runs made before those
        settings existed keep their ids)."""
        settings = {k: v for k, v in self.to_dict().items()
                    if k != "train_sizes" and not (k in _ADDED and v == getattr(Protocol, k))}
        blob = json.dumps({"protocol": settings, "data": dataset_fingerprint},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


SCHEDULES = ("constant", "cosine")
#: recipe settings added after the first runs (see Protocol.run_id)
_ADDED = ("augment", "schedule", "warmup", "weight_decay", "label_smoothing")


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
    return tuple(sorted(set(sizes) | {1.0}))


PRESETS = {
    # Small enough for a 2-core CPU: minutes on the bundled digits.
    "quick": Protocol(folds=3, epochs=5, batch_size=128, lr=1e-3),
    # The original study: 10-fold cross-validation, 50 epochs, Adam at 1e-4.
    "paper": Protocol(folds=10, epochs=50, batch_size=128, lr=1e-4),
}

FIELDS = {f.name: f.type for f in dataclasses.fields(Protocol)}
#: where the cells run: settings that never change a result, so not part of the protocol
EXECUTION_KEYS = {"executor", "address", "cpus_per_task", "gpus_per_task"}
#: [models.NAME] tables: default options of a model (zoo.options)
TOML_KEYS = set(FIELDS) | {"preset", "models"} | EXECUTION_KEYS


def read_toml(path) -> dict:
    """Read protocol settings from a zoo.toml; errors name the file, line and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    data = ({**data.get("protocol", {}), **({"models": data["models"]} if "models" in data
                                            else {})}
            if set(data) <= {"protocol", "models"} and "protocol" in data else data)
    for key, value in data.items():
        if key not in TOML_KEYS:
            raise ConfigError(f"{path}: unknown key '{key}'; known keys: "
                              + ", ".join(sorted(TOML_KEYS)))
        if key == "models":
            if not isinstance(value, dict) or not all(isinstance(v, dict)
                                                      for v in value.values()):
                raise ConfigError(f"{path}: 'models' must hold one table per model, like "
                                  "[models.vit] with patch_size = 4")
        elif isinstance(value, dict):
            raise ConfigError(f"{path}: '{key}' must be a value, not a table")
    return data


def resolve(preset: str | None = None, toml: dict | None = None, **flags) -> Protocol:
    """Preset, then zoo.toml, then flags (None means 'not given'); the preset itself comes
    from the flag, else zoo.toml, else 'quick'."""
    toml = {k: v for k, v in (toml or {}).items() if k not in EXECUTION_KEYS | {"models"}}
    preset = preset or toml.pop("preset", None) or "quick"
    toml.pop("preset", None)
    if preset not in PRESETS:
        raise ConfigError(f"preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
    values = PRESETS[preset].to_dict()
    for source in (toml, {k: v for k, v in flags.items() if v is not None}):
        for key, value in source.items():
            if key not in FIELDS:
                raise ConfigError(f"unknown protocol setting '{key}'")
            if FIELDS[key] in (float, "float") and isinstance(value, int) \
                    and not isinstance(value, bool):
                value = float(value)
            if key == "train_sizes":
                value = parse_sizes(value)
            values[key] = value
    return Protocol(**values).validate()


def make_splits(y: np.ndarray, protocol: Protocol, groups=None) -> np.ndarray:
    """Return ``fold_of``: for every sample, the fold (0..k-1) in which it is held out.

    Computed once per dataset and reused by every model, so all models see the same splits.
    With ``groups`` (and split 'grouped'), samples of one group share a fold.
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y = np.asarray(y)
    counts = np.bincount(y)
    smallest = int(counts[counts > 0].min())
    if protocol.folds > smallest:
        raise ConfigError(f"folds: {protocol.folds} folds need at least {protocol.folds} "
                          f"samples of every class, but the smallest class has {smallest}")
    fold_of = np.empty(len(y), dtype=np.int32)
    if protocol.split == "grouped":
        if groups is None:
            raise ValueError("a grouped split needs groups")
        if len(np.unique(groups)) < protocol.folds:
            raise ConfigError(f"folds: {protocol.folds} folds need at least {protocol.folds} "
                              f"groups of near-copies, found {len(np.unique(groups))}")
        splitter = StratifiedGroupKFold(n_splits=protocol.folds, shuffle=True,
                                        random_state=protocol.seed)
        parts = splitter.split(np.zeros(len(y)), y, groups)
    else:
        splitter = StratifiedKFold(n_splits=protocol.folds, shuffle=True,
                                   random_state=protocol.seed)
        parts = splitter.split(np.zeros(len(y)), y)
    for k, (_, held_out) in enumerate(parts):
        fold_of[held_out] = k
    return fold_of
