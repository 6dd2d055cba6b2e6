"""What a tuning search may change, and how a setting of it is applied to a cell.

``--tune lr=1e-4..1e-2:log --tune label_smoothing=0,0.1 --tune vit:patch_size=4,7`` (or a
``[tune]`` table in zoo.toml) is a :class:`Tuning`: ranges (``LOW..HIGH``, ``:log`` for a
log scale), choices (``a,b,c``), of protocol settings (for every model) and of one model's
options (``MODEL:OPTION``, for every variant of that model). Every value is checked before
anything trains; a bad one is one line naming the entry and what was expected.

:func:`apply` turns a cell's settings into the model spec and protocol it trains with. The
search itself (Optuna, the trials, the choice) is zoo.tune.search's.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

from zoo import options as opts
from zoo.grid.settings import TUNABLE, apply
from zoo.errors import ConfigError
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from zoo.grid.protocol import FIELDS
from zoo.grid.protocol import Protocol

#: what a trial is scored by on its inner validation part
METRICS = ("accuracy", "log_loss")
#: fold: one search inside every outer fold (nested; unbiased held-out scores). once: one
#: search on an inner split of the whole training set, its settings used by every fold
SCOPES = ("fold", "once")
DEFAULT_TRIALS = 12
MAX_TRIALS = 1000
#: a chosen value this close to an end of its range (as a share of the range, on the log
#: scale for log ranges) counts as at that end: the range may be too narrow
EDGE = 0.05


@dataclass(frozen=True)
class Param:
    """One tuned setting: ``key`` is a protocol setting ('lr') or MODEL:OPTION
    ('vit:patch_size'); either a range (``low``..``high``, ``log``, ``integer``) or
    ``choices``."""
    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple = ()

    @property
    def model(self) -> str | None:
        return self.key.partition(":")[0] if ":" in self.key else None

    @property
    def name(self) -> str:
        return self.key.rpartition(":")[2]

    def text(self) -> str:
        """As the user writes it: '1e-4..1e-2:log', '4,7'."""
        if self.choices:
            return ",".join(opts.show(c) for c in self.choices)
        return f"{self.low:g}..{self.high:g}" + (":log" if self.log else "")

    def distribution(self):
        if self.choices:
            return CategoricalDistribution(list(self.choices))
        if self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(float(self.low), float(self.high), log=self.log)

    def edge(self, value) -> str | None:
        """'lower' or 'upper' when ``value`` sits at that end of the range (within EDGE of
        its width); None inside it, or for choices."""
        if self.choices or value is None:
            return None
        scale = math.log if self.log else float
        low, high, v = scale(self.low), scale(self.high), scale(value)
        if v <= low + EDGE * (high - low):
            return "lower"
        if v >= high - EDGE * (high - low):
            return "upper"
        return None

    def to_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items()
                if not (v is None or v is False or v == ())}


@dataclass(frozen=True)
class Tuning:
    """The search every model gets alike: the space, ``trials`` per model (and per outer
    fold with scope 'fold'), the metric, the scope and whether hopeless trials are pruned."""
    params: tuple
    trials: int = DEFAULT_TRIALS
    metric: str = "accuracy"
    scope: str = "fold"
    prune: bool = False

    def for_model(self, spec) -> tuple:
        """The protocol settings, and the options of ``spec``'s model, tuned for it."""
        names = {spec.name, spec.base or spec.name}
        return tuple(p for p in self.params if p.model is None or p.model in names)

    def variants(self, spec, protocol) -> list:
        """``spec`` with every tuned option value it may be built with (each choice, each end
        of a range), for the check before training; named for the value ('vit with
        patch_size=4'), their ``base`` the model's."""
        return [dataclasses.replace(apply(spec, protocol, [(p.key, value)])[0],
                                    name=f"{spec.name} with {p.name}={opts.show(value)}")
                for p in self.for_model(spec) if p.model is not None
                for value in p.choices or (p.low, p.high)]

    def identity(self) -> str:
        """What identifies a run's search (the number of trials is not part of it: more
        trials extend a finished search)."""
        return json.dumps({"space": [p.to_dict() for p in self.params], "metric": self.metric,
                           "scope": self.scope, "prune": self.prune}, sort_keys=True)

    def to_dict(self) -> dict:
        return {"space": [{**p.to_dict(), "text": p.text()} for p in self.params],
                "trials": self.trials, "metric": self.metric, "scope": self.scope,
                "prune": self.prune}

    def describe(self) -> str:
        """'lr 1e-4..1e-2:log, vit:patch_size 4,7; 12 trials per model in every outer fold'"""
        where = "in every outer fold" if self.scope == "fold" else \
            "once, on the whole training set"
        return (", ".join(f"{p.key} {p.text()}" for p in self.params)
                + f"; {self.trials} trials per model {where}, scored by {self.metric} on an "
                  "inner validation split" + (", hopeless trials pruned" if self.prune else ""))


# -- parsing -----------------------------------------------------------------------------------
def parse(entries, models, protocol, trials=None, metric=None, scope=None, prune=None,
          table=None) -> Tuning | None:
    """The search from ``--tune`` entries ('KEY=VALUES') and zoo.toml's ``[tune]`` table
    (``table``: its entries and its trials / metric / scope / prune), flags first; None when
    nothing is tuned. ``models``: the run's model specs; ``protocol``: the run's."""
    table = dict(table or {})
    settings = {k: table.pop(k, None) for k in ("trials", "metric", "scope", "prune")}
    given = {"trials": trials, "metric": metric, "scope": scope, "prune": prune}
    settings.update({k: v for k, v in given.items() if v is not None})
    parsed = {}
    for entry in entries:
        _add(parsed, _flag_param(entry, models, protocol))
    for key, value in table.items():
        if key not in parsed:   # a flag overrides zoo.toml's entry
            _add(parsed, _param(str(key), value, models, protocol,
                                f"zoo.toml [tune] {key}", text=isinstance(value, str)))
    if not parsed:
        named = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None]
        if named:
            raise ConfigError(f"{', '.join(named)}: nothing is tuned; add --tune "
                              "SETTING=LOW..HIGH (e.g. --tune lr=1e-4..1e-2:log)")
        return None
    return _checked(Tuning(tuple(parsed.values()), **{k: v for k, v in settings.items()
                                                      if v is not None}))


def _flag_param(entry, models, protocol) -> Param:
    """One --tune KEY=VALUES."""
    key, sep, value = str(entry).partition("=")
    if not sep or not key.strip() or not value.strip():
        raise ConfigError(f"--tune {entry}: expected SETTING=LOW..HIGH, SETTING=A,B or "
                          "MODEL:OPTION=..., like lr=1e-4..1e-2:log")
    return _param(key.strip(), value.strip(), models, protocol, f"--tune {entry}", text=True)


def _add(parsed: dict, param: Param) -> None:
    if param.key in parsed:
        raise ConfigError(f"--tune {param.key}: given twice; give each setting one range or "
                          "one list of choices")
    parsed[param.key] = param


def _checked(t: Tuning) -> Tuning:
    def bad(key, expected, value):
        raise ConfigError(f"{key}: expected {expected}, got {value!r}")

    if isinstance(t.trials, bool) or not isinstance(t.trials, int) or \
            not 1 <= t.trials <= MAX_TRIALS:
        bad("trials", f"an integer from 1 to {MAX_TRIALS}", t.trials)
    if t.metric not in METRICS:
        bad("tune_metric", "one of " + ", ".join(METRICS), t.metric)
    if t.scope not in SCOPES:
        bad("tune_scope", "one of " + ", ".join(SCOPES), t.scope)
    if not isinstance(t.prune, bool):
        bad("prune", "true or false", t.prune)
    return t


def _param(key: str, value, models, protocol, where: str, text: bool) -> Param:
    """One entry: which setting or option it tunes, and its range or choices, checked."""
    if ":" in key:
        return _option(key, value, models, where, text)
    if key not in TUNABLE:
        why = "not a protocol setting" if key not in FIELDS else \
            "the same for every trial (the shared budget and data)"
        raise ConfigError(f"{where}: '{key}' cannot be tuned ({why}); tunable settings: "
                          + ", ".join(TUNABLE) + ", or MODEL:OPTION for a model's option")
    kind = _protocol_kind(key)
    param = _shape(key, value, where, text, integer=kind == "int", numeric=kind != "choice",
                   convert=lambda v: _protocol_value(key, kind, v, where))
    for v in param.choices or (param.low, param.high):
        try:
            dataclasses.replace(protocol, **{key: v}).validate()
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return param


def _protocol_kind(key: str) -> str:
    return next(f.metadata["kind"] for f in dataclasses.fields(Protocol) if f.name == key)


def _protocol_value(key, kind, value, where):
    if kind == "choice":
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key} takes names, got {value!r}")
        return value
    number = _number(value, where, key)
    if kind == "int":
        if number != int(number):
            raise ConfigError(f"{where}: {key} takes whole numbers, got {value!r}")
        return int(number)
    return float(number)


def _number(value, where, key):
    if isinstance(value, bool):
        raise ConfigError(f"{where}: {key} takes numbers, got {value!r}")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ConfigError(f"{where}: {key}: {value!r} is not a finite number")
    return number


def _option(key, value, models, where, text) -> Param:
    model, _, name = key.partition(":")
    specs = [m for m in models if model in (m.name, m.base or m.name)]
    if not specs:
        raise ConfigError(f"{where}: '{model}' is not among this run's models ("
                          + ", ".join(m.name for m in models) + ")")
    kind = opts.kinds(specs[0]).get(name)
    if kind is None:
        opts.convert(specs[0], name, None, where)   # the error naming the accepted options
    numeric = bool(set(kind.types) & {int, float})
    integer = int in kind.types and float not in kind.types

    def convert(v):
        return opts.convert(specs[0], name, v, where, text=text and isinstance(v, str))

    return _shape(key, value, where, text, integer=integer, numeric=numeric, convert=convert)


def _shape(key, value, where, text, integer, numeric, convert) -> Param:
    """A range 'LOW..HIGH[:log]' or choices 'A,B' (a list in zoo.toml), each value through
    ``convert``."""
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str) and ".." in value:
        return _range(key, value, where, integer, numeric, convert)
    elif isinstance(value, str):
        items = [v.strip() for v in opts._split(value)]
    else:
        raise ConfigError(f"{where}: expected a range like \"1e-4..1e-2:log\" or a list of "
                          f"choices, got {value!r}")
    choices = []
    for item in items:
        v = convert(item)
        if v in choices:
            raise ConfigError(f"{where}: {opts.show(v)} is listed twice")
        choices.append(v)
    if len(choices) < 2:
        raise ConfigError(f"{where}: one value is not a search; give a range LOW..HIGH or at "
                          "least two choices A,B")
    if not all(v is None or isinstance(v, (bool, int, float, str)) for v in choices):
        raise ConfigError(f"{where}: choices must be single values (numbers, names, true or "
                          "false), not sequences")
    return Param(key, choices=tuple(choices))


def _range(key, value, where, integer, numeric, convert) -> Param:
    body, _, scale = value.partition(":")
    if scale not in ("", "log"):
        raise ConfigError(f"{where}: unknown scale ':{scale}'; expected LOW..HIGH or "
                          "LOW..HIGH:log")
    if not numeric:
        raise ConfigError(f"{where}: {key} is not a number, so it takes choices A,B, not a "
                          "range")
    if body.count("..") != 1 or "..." in body:   # 1e-4...1e-2 once read as 1e-4..0.001
        raise ConfigError(f"{where}: expected exactly LOW..HIGH or LOW..HIGH:log, two dots "
                          f"between two numbers, like 1e-4..1e-2; got {value!r}")
    low_text, _, high_text = body.partition("..")
    low, high = (_number(v, where, key) for v in (low_text, high_text))
    if integer and (low != int(low) or high != int(high)):
        raise ConfigError(f"{where}: {key} takes whole numbers; got the range {body}")
    if not low < high:
        raise ConfigError(f"{where}: the range {body} is empty; expected LOW..HIGH with LOW "
                          "below HIGH")
    if scale == "log" and low <= 0:
        raise ConfigError(f"{where}: a log range must stay above 0; got {body}")
    low, high = (int(v) if integer else float(v) for v in (low, high))
    for v in (low, high):
        convert(v)
    return Param(key, low=low, high=high, log=scale == "log", integer=integer)
