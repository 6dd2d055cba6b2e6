"""Model options and variants: ``vit:patch_size=4`` is the ViT built with ``patch_size=4``.

A model's options are the keyword arguments of its ``build(input_shape, num_classes, ...)``
that have defaults; a value is checked against the option's annotation when it has one
(``patch_size: int | None = None``), else against the default's type (a default of None with
no annotation takes any literal). A plugin raises zoo.ConfigError from ``build`` for a value
of the right type it cannot use (zoo.grid.checks turns that into a one-line error before
training). ``[models.vit]`` tables in zoo.toml change the defaults of every variant of
``vit``. A variant is a ModelSpec of its own, named as the user wrote it, whose ``build`` has
the options bound; its options and its plugin's version are part of what identifies a run
(zoo.grid.plan), so facts made with other ones are never resumed onto.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import types
import typing

from zoo.errors import ConfigError


def _build(spec):
    return spec.build.func if isinstance(spec.build, functools.partial) else spec.build


def _parameters(spec) -> list:
    try:
        params = list(inspect.signature(_build(spec)).parameters.values())
    except (TypeError, ValueError):  # a builtin or C callable: no options to offer
        return []
    return [p for p in params[2:] if p.default is not inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def accepted(spec) -> dict:
    """name -> default of every option ``spec.build`` takes (after input_shape, classes)."""
    return {p.name: p.default for p in _parameters(spec)}


@dataclasses.dataclass(frozen=True)
class Kind:
    """The values an option takes: from its annotation (``patch_size: int | None = None``)
    when it has one, else from its default's type. ``types`` empty: any literal."""
    types: tuple
    none: bool = False
    example: tuple = (16, 32)   # shown for a sequence: the default, when it is one

    def text(self) -> str:
        names = {bool: "true or false", int: "an integer", float: "a number",
                 str: "a string", tuple: f"a sequence like {show(tuple(self.example))}"}
        parts = [names.get(t, f"a {t.__name__}") for t in self.types] or ["any literal"]
        return " or ".join(parts + (["None"] if self.none and self.types else []))

    def check(self, value, who: str):
        """``value`` as the option takes it (an int for a float option becomes a float, a
        list for a sequence a tuple); a ConfigError naming ``who`` otherwise."""
        if not self.types or (value is None and self.none):
            return value
        for t in self.types:
            got = _CONVERT.get(t, _instance_of(t))(value)
            if got is not _NO:
                return got
        raise ConfigError(f"{who}: expected {self.text()}, got {value!r}")


#: a value an option's type does not take
_NO = object()


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


#: each option type's check and conversion (a bool is no number here)
_CONVERT = {
    bool: lambda v: v if isinstance(v, bool) else _NO,
    int: lambda v: v if _number(v) and isinstance(v, int) else _NO,
    float: lambda v: float(v) if _number(v) else _NO,
    tuple: lambda v: tuple(v) if isinstance(v, (tuple, list)) else _NO,
}


def _instance_of(t):
    return lambda v: v if isinstance(v, t) else _NO


def kinds(spec) -> dict:
    """name -> Kind of every option of ``spec``."""
    try:
        hints = typing.get_type_hints(_build(spec))
    except Exception:  # an annotation that does not resolve: fall back on the defaults
        hints = {}
    return {p.name: _kind_of(hints.get(p.name), p.default) for p in _parameters(spec)}


def _kind_of(annotation, default) -> Kind:
    if annotation is not None:
        members = typing.get_args(annotation) if typing.get_origin(annotation) in (
            typing.Union, types.UnionType) else (annotation,)
        simple = tuple(typing.get_origin(m) or m for m in members if m is not type(None))
        simple = tuple(tuple if t is list else t for t in simple)
        if all(isinstance(t, type) for t in simple):
            example = tuple(default) if isinstance(default, (tuple, list)) and default \
                else (16, 32)
            return Kind(simple, type(None) in members, example)
    if default is None:
        return Kind((), True)
    if isinstance(default, (tuple, list)):
        return Kind((tuple,), example=tuple(default) or (16, 32))
    return Kind((type(default),))


def describe(spec, overrides=None) -> str:
    """'patch_size=None (an integer or None), dim=64, ...' for `zoo list`: every option with
    its effective default (``overrides``, zoo.toml's [models.NAME], marked as such, over the
    code's), and what it takes where the default alone does not say."""
    hinted, overrides = kinds(spec), overrides or {}
    out = []
    for name, default in accepted(spec).items():
        kind = hinted[name]
        text = f"{name}={show(overrides.get(name, default))}"
        if name in overrides:
            text += " (zoo.toml)"
        if kind != _kind_of(None, default) or default is None:
            text += f" ({kind.text()})"
        out.append(text)
    return ", ".join(out) or "-"


def show(value) -> str:
    if isinstance(value, tuple):
        return "(" + ",".join(map(show, value)) + ("," if len(value) == 1 else "") + ")"
    return str(value).lower() if isinstance(value, bool) else repr(value) \
        if isinstance(value, str) else str(value)


def parse(text: str) -> tuple:
    """'vit:patch_size=4,depth=6' -> ('vit', {'patch_size': '4', 'depth': '6'}) (raw)."""
    base, sep, rest = text.partition(":")
    options = {}
    if sep:
        if not rest.strip():
            raise ConfigError(f"model '{text}': expected options after ':', like "
                              f"{base}:name=value,name=value")
        for item in _split(rest):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise ConfigError(f"model '{text}': '{item}' is not an option; expected "
                                  "name=value")
            options[key.strip()] = value.strip()
    return base.strip(), options


def _split(text: str) -> list:
    """Split on the commas that are not inside brackets: 'a=1,b=(2,3)' -> ['a=1', 'b=(2,3)']."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


def convert(spec, key: str, value, where: str, text: bool = True):
    """``value`` checked against the option's kind (its annotation, else its default's type);
    ConfigError naming the model and its accepted options otherwise. ``text``: the value is
    text from the command line, read as a Python literal ('4', '(16,32)', 'None', 'true');
    values from zoo.toml are already typed and are taken as they are (``"7"`` is a string)."""
    options = kinds(spec)
    who = f"model '{spec.name}' (plugin {spec.plugin})"
    if key not in options:
        raise ConfigError(f"{where}: {who} has no option '{key}'; accepted options: "
                          + (describe(spec) if options else "none"))
    kind = options[key]
    if text and isinstance(value, str) and str not in kind.types:
        value = _literal(value, kind, f"{where}: {who} option '{key}'")
    return kind.check(value, f"{where}: {who} option '{key}'")


def _literal(text: str, kind: Kind, who: str):
    if bool in kind.types and text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ConfigError(f"{who}: expected {kind.text()}, got {text!r}") from None


def variant(spec, raw: dict, defaults: dict | None = None, name: str | None = None,
            where: str = "model"):
    """A ModelSpec for ``spec`` with options ``raw`` (over ``defaults`` from zoo.toml),
    every one checked; named ``name`` (what the user wrote)."""
    chosen = {k: convert(spec, k, v, "zoo.toml [models." + spec.name + "]", text=False)
              for k, v in (defaults or {}).items()}
    chosen.update({k: convert(spec, k, v, where) for k, v in raw.items()})
    if not chosen:
        return spec
    return dataclasses.replace(spec, name=name or spec.name,
                               build=functools.partial(spec.build, **chosen),
                               options=dict(sorted(chosen.items())), base=spec.name)


def resolve(text: str, models: dict, defaults: dict | None = None):
    """The ModelSpec for a model argument like 'vit' or 'vit:patch_size=4'."""
    base, raw = parse(text)
    if base not in models:
        raise KeyError(base)
    return variant(models[base], raw, (defaults or {}).get(base), name=text if raw else base,
                   where=f"model '{text}'")
