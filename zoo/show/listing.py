"""What `zoo list` shows: every plugin with what it registered and its errors, every model
with its options' effective defaults (zoo.toml's [models.NAME] over the code's, each marked
with where it came from), every metric with its plugin, every dataset and whether it is
available. Text that plugins supply is shown without control characters, so that a plugin
cannot drive the terminal."""
from __future__ import annotations

import re
import unicodedata

from zoo import options
from zoo.backend import EXTRAS, installed, requested
from zoo.errors import ZooError
from zoo.grid import augment

_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|.)")


def plain(text) -> str:
    """``text`` without terminal escape sequences or other control characters."""
    text = _ESCAPE.sub("", str(text))
    return "".join(c if c == " " or not unicodedata.category(c).startswith("C") else "?"
                   for c in text)


def lines(registry, data_dir, model_defaults=None, available=None) -> list:
    """The lines of `zoo list`; ``model_defaults``: zoo.toml's [models.NAME] tables;
    ``available``: dataset name -> (ok, where or how to get it)."""
    return (["Plugins:"] + _plugins(registry) + ["Models:"]
            + _models(registry, model_defaults or {}) + ["Metrics:"] + _metrics(registry)
            + [f"Datasets (data folder: {data_dir}):"] + _datasets(registry, available or {})
            + ["Backends (--backend):"] + _backends())


def _backends() -> list:
    """Each Keras backend: installed (its version; the default one marked) or how to get it."""
    try:
        default = requested()
    except ZooError:   # a $KERAS_BACKEND Keras has no backend of: no default to mark
        default = None
    out = []
    for name, version in installed().items():
        said = f"{version} installed" if version else f"not installed: {EXTRAS[name]}"
        out.append(f"  {name:<11} {said}{' (default)' if name == default else ''}")
    return out


def aligned(rows: list) -> list:
    """Pad every column but the last to its widest cell, so columns line up whatever the
    length of a plugin's or distribution's name."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [tuple(c.ljust(w) for c, w in zip(r, widths, strict=False)) + (r[-1],)
            for r in rows]


def _plugins(registry) -> list:
    plugins = list(registry.plugins.values())
    rows = [(plain(p.name), plain(f"{p.distribution} {p.version}".strip())
             or "(not installed from a distribution)",
             f"hooks: {', '.join(p.hooks) or '-'}; registers: "
             + plain(", ".join([f"model {m}" for m in p.models]
                               + [f"dataset {d}" for d in p.datasets]
                               + [f"metric {m}" for m in p.metrics]) or "-"))
            for p in plugins]
    out = []
    for (name, dist, rest), p in zip(aligned(rows), plugins, strict=True):
        out.append(f"  {name} {dist} {rest}".rstrip())
        out += [f"  {'':<{len(name)}} ERROR: {plain(e)}" for e in p.errors]
    return out


def _models(registry, defaults: dict) -> list:
    models = list(registry.models.values())
    out = []
    rows = [(plain(m.name), f"[{plain(m.plugin)}] {plain(m.description)}") for m in models]
    for (name, rest), m in zip(aligned(rows), models, strict=True):
        ok, why = m.check_available()
        out.append(f"  {name} {rest}".rstrip() + ("" if ok else " (unavailable)")
                   + ("" if m.in_all else " (runs when named, not with --all)"))
        if not ok:
            out.append(f"  {'':<{len(name)}} how to get: {plain(why)}")
        out.append(f"  {'':<{len(name)}} options: {plain(_options(m, defaults.get(m.name)))}")
    return out


def _options(spec, overrides) -> str:
    """'patch_size=7 (zoo.toml), dim=64, ...': each option's effective default and, where
    zoo.toml changes the code's, where it came from (checked as `zoo run` checks it)."""
    checked = options.variant(spec, {}, overrides).options if overrides else None
    return options.describe(spec, checked)


def _metrics(registry) -> list:
    metrics = list(registry.metrics.values())
    rows = [(plain(m.name), f"[{plain(m.plugin)}] {plain(m.label or m.name)}, "
             + ("higher is better" if m.higher_is_better else "lower is better")
             + (", draws a figure" if m.figure else "")) for m in metrics]
    return [f"  {name} {rest}".rstrip() for name, rest in aligned(rows)]


def _datasets(registry, available: dict) -> list:
    datasets = list(registry.datasets.values())
    found = [available.get(d.name, (False, "")) for d in datasets]
    rows = [(plain(d.name), "available" if ok else "unavailable",
             f"[{plain(d.plugin)}] {plain(d.description)}")
            for d, (ok, _) in zip(datasets, found, strict=True)]
    out = []
    for (name, state, rest), (ok, why), d in zip(aligned(rows), found, datasets, strict=True):
        out.append(f"  {name} {state} {rest}".rstrip())
        out.append(f"  {'':<{len(name)}} {'from' if ok else 'how to get'}: {plain(why)}")
        out.append(f"  {'':<{len(name)}} holds: {_holds(d)}")
    return out


def _holds(spec) -> str:
    """'28x28x1 images, 24 classes; augmented by rotate, shift, zoom': what a dataset
    declares, and the augmentations it gets (images under 16 pixels are only shifted)."""
    size = "images of a size known once loaded" if spec.input_shape is None else \
        "{1}x{0}x{2} images".format(*spec.input_shape)
    classes = "" if spec.classes is None else f", {spec.classes} classes"
    try:
        allowed = augment.allowed(spec.augment)
        if spec.input_shape is not None:
            allowed = augment.effective(spec.input_shape, allowed)
        said = f"augmented by {', '.join(allowed)}" if allowed else "never augmented"
    except ValueError as exc:
        said = plain(str(exc))
    small = "" if spec.input_shape is not None else \
        " (images under 16 pixels a side: shift only)"
    return f"{size}{classes}; {said}{small if 'shift' in said else ''}"
