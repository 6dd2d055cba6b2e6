"""The facts format, declared once: what a cell leaves on disk, as JSON beside its arrays.

Four kinds, one dataclass each: a fold (:class:`FoldFacts`, a learning-curve point too,
with ``train_size`` below 1), a tuning trial (:class:`TrialFacts`), the final model trained
on all the training data (:class:`FinalFacts`), and a cell that failed without training to
the end (:class:`FailedFacts`). The fold runner, the fake runners of zoo's tests and the
made-up facts of its benchmarks all build their facts through these classes, so a renamed
or forgotten field fails where the facts are made, not in `zoo report` on a real run.

Every facts file records its ``kind``; ``run.json`` records the ``facts_version`` its facts
were written in (:data:`FACTS_VERSION`). Reading goes by that version, never by the shape of
a file: version 1 (runs made before the format was declared, whose run.json has no
``facts_version``) may lack the fields added since, which are filled with their defaults;
from version 2 on, every field of the kind must be there with the declared type.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field

from zoo.errors import FactsError

#: the version of the facts this zoo writes (run.json's ``facts_version``)
FACTS_VERSION = 2
#: what a run.json without ``facts_version`` holds: facts from before the format was declared
UNVERSIONED = 1


@dataclass(kw_only=True)
class Facts:
    """What every kind shares: which cell, how it ended, and where and with what it ran (the
    envelope zoo.grid.cells.run_cell and the engine add: settings a search chose or a trial
    tries, wall time, software, threads, the Ray worker, the seconds spent keeping the
    model, a tuned fold's search summary)."""
    kind: typing.ClassVar[str] = ""

    dataset: str
    model: str
    status: str
    reason: str = ""
    settings: dict = field(default_factory=dict)
    wall_seconds: float = 0.0
    environment: dict = field(default_factory=dict)
    threads: int | None = None
    worker: str = ""
    keep_seconds: float | None = None
    tuned: dict | None = None

    def to_dict(self) -> dict:
        """The JSON object written to disk: every field (optional ones left out while None)
        and the kind."""
        out = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.default is None:
                continue
            out[f.name] = value
        return out

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(kw_only=True)
class FoldFacts(Facts):
    """One model trained on every fold but ``fold`` (on ``train_size`` of that part: a
    learning-curve point when below 1), scored on the held-out fold and the test split."""
    kind: typing.ClassVar[str] = "fold"

    fold: int
    folds: int
    seed: int
    history: dict
    history_validation: str
    epochs_run: int
    epochs: int
    lr: float
    batch_size: int
    global_batch_size: int
    train_samples: int
    held_out_samples: int
    train_size: float
    fit_seconds: float
    predict_seconds: float
    explain_seconds: float
    predict_images_per_second: float
    params: int
    xla: bool
    plugin: str
    plugin_version: str
    options: dict
    devices: dict
    finished_at: str
    peak_memory_bytes: int | None      # None where it cannot be measured (a CPU)
    model_file: str = ""
    explain_errors: dict = field(default_factory=dict)
    size_bytes: int | None = None
    latency_ms: float | None = None
    latency_quartiles_ms: list | None = None


@dataclass(kw_only=True)
class TrialFacts(Facts):
    """One trial of a search inside outer fold ``fold`` (None: on the whole training set),
    scored by ``metric`` on its inner-validation part."""
    kind: typing.ClassVar[str] = "trial"

    fold: int | None
    folds: int
    trial: int
    metric: str
    score: float | None
    pruned: bool
    rung_scores: dict
    epochs: int
    epochs_run: int
    history: dict
    seed: int
    train_samples: int
    validation_samples: int
    fit_seconds: float
    lr: float
    options: dict
    finished_at: str


@dataclass(kw_only=True)
class FinalFacts(Facts):
    """The model trained on all the training data after the folds (--keep-models final)."""
    kind: typing.ClassVar[str] = "final"

    folds: int
    seed: int
    history: dict
    epochs: int
    epochs_run: int
    train_samples: int
    fit_seconds: float
    model_file: str = ""
    finished_at: str


@dataclass(kw_only=True)
class FailedFacts(Facts):
    """A cell that raised (status 'error') before it trained to the end: no arrays."""
    kind: typing.ClassVar[str] = "failed"

    fold: int | None
    folds: int
    train_size: float
    trial: int | None = None
    history: dict = field(default_factory=dict)


KINDS = {cls.kind: cls for cls in (FoldFacts, TrialFacts, FinalFacts, FailedFacts)}
#: a fold's file holds the facts of a fold or of a fold cell that failed; a trial's likewise
FOLD_FILE = ("fold", "failed")
TRIAL_FILE = ("trial", "failed")


def fold_count(protocol: dict) -> int:
    """Fold models per model in a run.json's protocol: k folds of each repeat of the split
    (runs made before repeats: k)."""
    return int(protocol["folds"]) * int(protocol.get("repeats") or 1)


def fields(kind: str) -> dict:
    """name -> type of every field of ``kind`` (as declared)."""
    hints = typing.get_type_hints(KINDS[kind])
    return {f.name: hints[f.name] for f in dataclasses.fields(KINDS[kind])}


def load(path, facts, kinds, version: int) -> dict:
    """The facts read from ``path`` (a JSON object) checked against the format of
    ``version``; returns them as a dict with every field of their kind. ``kinds``: the kinds
    such a file may hold (a fold's file: a fold or a failed cell). Raises FactsError naming
    the file and the field."""
    if not isinstance(facts, dict):
        raise FactsError(f"{path}: not a readable facts file (expected a JSON object, got "
                         f"{type(facts).__name__}); {WHAT_TO_DO}")
    if version > FACTS_VERSION:
        raise FactsError(f"{path}: written in facts version {version} by a newer zoo (this "
                         f"one reads up to {FACTS_VERSION}); upgrade keras-zoo to read it")
    kind = facts.get("kind") if version >= 2 else _old_kind(facts, kinds)
    if kind not in kinds:
        raise FactsError(f"{path}: 'kind' is {kind!r}; expected "
                         f"{' or '.join(map(repr, kinds))}; {WHAT_TO_DO}")
    cls = KINDS[kind]
    declared = fields(kind)
    out = {"kind": kind}
    for f in dataclasses.fields(cls):
        if f.name in facts:
            out[f.name] = _checked(path, f.name, facts[f.name], declared[f.name])
        elif version >= 2 and _required(f):
            raise FactsError(f"{path}: '{f.name}' is missing; facts version {version} has it "
                             f"in every {kind}; {WHAT_TO_DO}")
        else:
            out[f.name] = _default(f)
    return out


WHAT_TO_DO = ("delete it (a fold's .json with its .npz) and run the same command again to "
              "retrain just that part, or restore it from a backup")


def _old_kind(facts: dict, kinds) -> str:
    """Version 1 files said nothing of their kind: the file they were read from does (a
    fold's file holds a failed cell's facts when its status is 'error')."""
    if "kind" in facts:
        return facts["kind"]
    return "failed" if "failed" in kinds and facts.get("status") == "error" else kinds[0]


def _required(f) -> bool:
    """A field with no default is in every file of its kind (from version 2 on); the others
    may be left out (an optional one is None unless there is something to say: a cost
    measured only on whole folds, a search's summary of a tuned fold)."""
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _default(f):
    """What a field missing from a version-1 file reads as: its default, or None (not
    recorded then) for a field every newer file has."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def _types(hint) -> tuple:
    args = typing.get_args(hint)
    return tuple(a for a in args if a is not type(None)) if args else (hint,)


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:   # an integer past what a float holds: no count or time is that
        return False


def _checked(path, name: str, value, hint):
    """``value`` when it has the declared type (None where the field may be None)."""
    if value is None and type(None) in typing.get_args(hint):
        return value
    allowed = _types(hint)
    if not _fits(value, allowed) or (name == "history" and not _a_history(value)):
        shown = repr(value) if len(repr(value)) < 40 else \
            f"{repr(value)[:20]}... ({len(repr(value))} characters)"
        numeric = bool(set(allowed) & {int, float}) and bool not in allowed
        what = "a finite number" if numeric else " or ".join(t.__name__ for t in allowed)
        raise FactsError(f"{path}: '{name}' is {shown}; expected {what}; {WHAT_TO_DO}")
    return value


def _a_history(value) -> bool:
    """Keras' history: a list of numbers per metric (a diverged fold's may hold NaN)."""
    return all(isinstance(k, str) and isinstance(v, list) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        for k, v in value.items())


def _fits(value, allowed: tuple) -> bool:
    """Of one of the ``allowed`` types: a bool only where bool is allowed, a number only
    when finite, and a whole number where a float is (a hand-written 2 for 2.0)."""
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, (int, float)):
        wanted = allowed if float not in allowed else (*allowed, int)
        return isinstance(value, wanted) and _finite(value)
    return isinstance(value, allowed)
