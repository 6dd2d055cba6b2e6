"""A cell's settings: what a search may change, and how a cell's chosen or tried settings
are applied to the model spec and protocol it trains with (zoo.tune builds the search; the
fold runner and the cells only apply what it chose)."""
from __future__ import annotations

import dataclasses
import functools

#: the protocol settings a search may tune; the others fix the protocol every trial shares
#: (epochs: the same budget for every trial; folds, split, seed: the same data)
TUNABLE = ("lr", "weight_decay", "label_smoothing", "augment", "warmup", "schedule",
           "batch_size")
#: settings a compiled model does not depend on: trials that differ only in these reuse it
UNCOMPILED = ("lr", "augment", "schedule", "warmup")


def oriented(score: float, metric: str) -> float:
    """A trial's score with higher better, whatever its metric (log loss: lower is better)."""
    return -score if metric == "log_loss" else score


def apply(spec, protocol, settings) -> tuple:
    """(spec, protocol) with ``settings`` (pairs of key and value: protocol settings, and
    MODEL:OPTION options) applied; the spec keeps its name."""
    settings = dict(settings)
    changes = {k: v for k, v in settings.items() if ":" not in k}
    chosen = {k.rpartition(":")[2]: v for k, v in settings.items() if ":" in k}
    if changes:
        protocol = dataclasses.replace(protocol, **changes)
    if chosen:
        spec = dataclasses.replace(spec, build=functools.partial(spec.build, **chosen),
                                   options=dict(sorted({**spec.options, **chosen}.items())),
                                   base=spec.base or spec.name)
    return spec, protocol


def compiled_key(settings) -> tuple:
    """The part of ``settings`` a compiled model depends on (trials that differ only in the
    rest reuse one compiled model)."""
    return tuple((k, v) for k, v in settings if k not in UNCOMPILED)
