"""What a plugin hands over: a ModelSpec, a DatasetSpec, and the Dataset it loads."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np

from zoo.errors import PluginError


@dataclass
class ModelSpec:
    """A model a plugin offers.

    ``build(input_shape, num_classes, **options)`` returns an *uncompiled* ``keras.Model``
    whose output is a probability vector of length ``num_classes`` (softmax). zoo compiles and
    trains it. Its keyword arguments with defaults are the model's options
    (``zoo run vit:patch_size=4``).
    """

    name: str
    build: Callable[[tuple, int], object]
    description: str = ""
    #: XLA-compile the train step when running on a single device (faster for some models),
    #: when a fold trains for enough steps to pay back the compile time (zoo.grid.train).
    jit_compile: bool = False
    #: Explanations the model supports in the report, e.g. ("grad-cam",) or ("attention",).
    explain: Sequence[str] = ()
    #: Returns the custom Keras classes the model uses (name -> class), so that a kept model
    #: loads back with ``safe_mode=True``. Leave it out when the model uses keras.layers only.
    custom_objects: Optional[Callable[[], dict]] = None
    #: ``available()`` returns ``(True, what)`` or ``(False, how to get it)`` for a model that
    #: needs something not always installed (an optional package); leave it out otherwise.
    available: Optional[Callable[[], tuple]] = None
    #: ``preflight(**options)`` returns ``(True, "")`` or ``(False, what is wrong)`` for what
    #: only a variant's options can tell and would otherwise fail after the datasets have
    #: loaded (a named pretrained preset that cannot be fetched); `zoo run` calls it with the
    #: variant's options before any dataset loads. Leave it out otherwise.
    preflight: Optional[Callable[..., tuple]] = None
    #: False for a model that runs only when named (or configured by a [models.NAME] table in
    #: zoo.toml): a family that needs an option such as a pretrained preset, or one too costly
    #: for every `zoo run --all`
    in_all: bool = True
    #: Filled in by zoo: the plugin that registered it and that plugin's version.
    plugin: str = ""
    version: str = ""
    #: Filled in by zoo for a variant (``vit:patch_size=4``): the options bound into
    #: ``build`` and the name the plugin registered.
    options: dict = field(default_factory=dict)
    base: str = ""

    def check_available(self) -> tuple:
        if self.available is None:
            return True, "built in"
        ok, why = self.available()
        return bool(ok), str(why)

    def check_preflight(self) -> tuple:
        """``preflight`` with this variant's options, or (True, '') without one."""
        if self.preflight is None:
            return True, ""
        ok, why = self.preflight(**self.options)
        return bool(ok), str(why)


@dataclass
class MetricSpec:
    """A metric a plugin offers: ``function(y_true, y_prob, num_classes)`` returns one number
    for one set of predictions (integer labels 0..C-1, an (n, C) array of class
    probabilities). The report's tables, its statistical comparisons and metrics.csv include
    every registered metric; a metric that raises is reported for its plugin and shown as
    missing, and the rest of the report renders."""

    name: str
    function: Callable[[np.ndarray, np.ndarray, int], float]
    higher_is_better: bool = True
    #: shown in the tables; defaults to the name
    label: str = ""
    #: the range the metric can take, which bounds the intervals of its differences; None
    #: for an unbounded one
    bounds: Optional[tuple] = (0.0, 1.0)
    #: an optional figure for the report: ``figure(predictions, num_classes)`` returns a
    #: Plotly figure as a plain dict (``{"data": [...], "layout": {...}}``); ``predictions``
    #: maps each model to (y_true, y_prob) of its held-out folds pooled
    figure: Optional[Callable[[dict, int], dict]] = None
    #: the fewest classes for which the metric says something: on a dataset with fewer it is
    #: shown as trivial (top-5 accuracy is 1.0 whatever the model with 5 classes or fewer)
    #: and left out of the comparisons
    min_classes: int = 0
    plugin: str = ""
    version: str = ""


@dataclass
class DatasetSpec:
    """A dataset a plugin offers.

    ``load(data_dir)`` returns a :class:`Dataset`; ``data_dir`` is the folder the user named
    (``--data-dir`` / ``ZOO_DATA_DIR``) or zoo's default. A loader that takes a second
    argument, ``load(data_dir, seed)``, gets the run's seed (for a subsample, say).
    ``available(data_dir)`` returns ``(True, where)`` or ``(False, how to get it)``; leave it
    out for data that ships with code.
    """

    name: str
    load: Callable[[Optional[Path]], "Dataset"]
    description: str = ""
    available: Optional[Callable[[Optional[Path]], tuple]] = None
    #: which of zoo's augmentations keep this dataset's labels: True (every one: rotations,
    #: shifts and zooms; zoo never flips), False (none: classes defined by position or
    #: orientation), or names among "rotate", "shift", "zoom"
    augment: Union[bool, Sequence[str]] = True
    #: what the dataset holds, when the plugin knows it before loading: the image shape
    #: (height, width, channels) and the number of classes. `zoo list` shows them without
    #: loading anything; zoo checks them when the dataset loads
    input_shape: Optional[tuple] = None
    classes: Optional[int] = None
    plugin: str = ""
    version: str = ""

    def declared_problem(self, dataset) -> str:
        """How a loaded dataset differs from what this spec declares, or ''."""
        if self.input_shape is not None and tuple(dataset.input_shape) != tuple(
                self.input_shape):
            return (f"declares images of {tuple(self.input_shape)}, loaded "
                    f"{tuple(dataset.input_shape)}")
        if self.classes is not None and dataset.num_classes != self.classes:
            return f"declares {self.classes} classes, loaded {dataset.num_classes}"
        return ""

    def check_available(self, data_dir):
        if self.available is None:
            return True, "bundled"
        ok, why = self.available(data_dir)
        return bool(ok), str(why)


def _part_problem(xs, ys, part: str, num_classes: int):
    """What is wrong with one split's images and labels, or None."""
    if not isinstance(xs, np.ndarray) or not isinstance(ys, np.ndarray):
        return f"{part} must be numpy arrays, got {type(xs).__name__}/{type(ys).__name__}"
    if xs.ndim != 4:
        return f"{part}: images must have shape (n, height, width, channels), got {xs.shape}"
    if ys.ndim != 1 or len(ys) != len(xs):
        return f"{part}: labels must have shape ({len(xs)},), got {ys.shape}"
    if len(xs) == 0:
        return f"{part}: no samples"
    if xs.dtype != np.uint8 and not np.issubdtype(xs.dtype, np.floating):
        return f"{part}: images must be floating point in [0, 1] or uint8, got {xs.dtype}"
    if xs.dtype != np.uint8 and not np.isfinite(xs).all():
        return f"{part}: images contain NaN or infinity"
    if not np.issubdtype(ys.dtype, np.integer):
        return f"{part}: labels must be integers, got {ys.dtype}"
    if ys.min() < 0 or ys.max() >= num_classes:
        return f"{part}: labels must lie in 0..{num_classes - 1}, found {ys.min()}..{ys.max()}"
    return None


#: rows hashed at once by Dataset.fingerprint
_ROWS = 4096


@dataclass
class Dataset:
    """Images and labels, ready to train on.

    ``x`` is float32 of shape (n, height, width, channels) scaled to [0, 1], or uint8 pixels
    0-255 (zoo scales each batch as it trains: a quarter of the memory); ``y`` holds integer
    labels 0..len(class_names)-1. ``x_test``/``y_test`` are an official test split,
    when the dataset has one; it is never used for training or model selection.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    class_names: list
    x_test: Optional[np.ndarray] = None
    y_test: Optional[np.ndarray] = None
    source: str = ""
    notes: list = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple:
        return tuple(int(d) for d in self.x.shape[1:])

    @property
    def has_test(self) -> bool:
        return self.x_test is not None

    def validate(self, plugin: str = "") -> "Dataset":
        """Raise PluginError naming the plugin when the arrays are not what zoo expects."""
        who = f"dataset '{self.name}'" + (f" (plugin {plugin})" if plugin else "")
        if not self.class_names or len(set(map(str, self.class_names))) != len(self.class_names):
            raise PluginError(f"{who}: class_names must be a non-empty list of distinct names")
        problem = _part_problem(self.x, self.y, "x/y", self.num_classes)
        if problem is None and (self.x_test is not None or self.y_test is not None):
            problem = _part_problem(self.x_test, self.y_test, "x_test/y_test", self.num_classes)
        if problem is None and self.x_test is not None \
                and self.x_test.shape[1:] != self.x.shape[1:]:
            problem = (f"x_test images are {self.x_test.shape[1:]} but x images are "
                       f"{self.x.shape[1:]}")
        if problem is not None:
            raise PluginError(f"{who}: {problem}")
        return self

    def fingerprint(self) -> str:
        """A short hash of the data: runs on different data never share results."""
        h = hashlib.sha256()
        for a in (self.x, self.y, self.x_test, self.y_test):
            if a is not None:
                h.update(str(a.shape).encode())
                # a block of rows at a time (the same digest as the whole array's bytes): a
                # memory-mapped array is read through, never copied whole
                for start in range(0, len(a), _ROWS):
                    h.update(np.ascontiguousarray(a[start:start + _ROWS]))
        h.update("\x00".join(map(str, self.class_names)).encode())
        return h.hexdigest()[:16]

    @property
    def streamed(self) -> str:
        """The file the training images are memory-mapped from ('' when in memory): zoo
        then reads them a batch at a time."""
        return str(getattr(self.x, "filename", "") or "") if isinstance(self.x, np.memmap) \
            else ""

    def summary(self) -> dict:
        return {
            "streamed": self.streamed,
            "name": self.name,
            "samples": int(len(self.x)),
            "test_samples": int(len(self.x_test)) if self.has_test else 0,
            "input_shape": list(self.input_shape),
            "classes": [str(c) for c in self.class_names],
            "source": self.source,
            "fingerprint": self.fingerprint(),
            "notes": list(self.notes),
        }
