"""Model options and variants: ``vit:patch_size=4`` is the ViT built with ``patch_size=4``.

A model's options are the keyword arguments of its ``build(input_shape, num_classes, ...)``
that have defaults; a value is checked against the default's type. ``[models.vit]`` tables in
zoo.toml change the defaults of every variant of ``vit``. A variant is a ModelSpec of its
own, named as the user wrote it, whose ``build`` has the options bound; its options and its
plugin's version are part of what identifies a run (zoo.engine), so facts made with other
ones are never resumed onto.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import inspect

from zoo.errors import ConfigError


def accepted(spec) -> dict:
    """name -> default of every option ``spec.build`` takes (after input_shape, classes)."""
    build = spec.build.func if isinstance(spec.build, functools.partial) else spec.build
    try:
        params = list(inspect.signature(build).parameters.values())
    except (TypeError, ValueError):  # a builtin or C callable: no options to offer
        return {}
    return {p.name: p.default for p in params[2:]
            if p.default is not inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def describe(spec) -> str:
    """'patch_size=None, dim=64, ...' for `zoo list`."""
    return ", ".join(f"{k}={_show(v)}" for k, v in accepted(spec).items()) or "-"


def _show(value) -> str:
    if isinstance(value, tuple):
        return "(" + ",".join(map(_show, value)) + ("," if len(value) == 1 else "") + ")"
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


def convert(spec, key: str, value, where: str):
    """``value`` (text from the command line, or a TOML value) as the type of the option's
    default; ConfigError naming the model and its accepted options otherwise."""
    options = accepted(spec)
    who = f"model '{spec.name}' (plugin {spec.plugin})"
    if key not in options:
        raise ConfigError(f"{where}: {who} has no option '{key}'; accepted options: "
                          + (describe(spec) if options else "none"))
    default = options[key]
    if isinstance(value, str) and not isinstance(default, str):
        text = value
        if isinstance(default, bool):
            lowered = text.lower()
            if lowered not in ("true", "false"):
                raise ConfigError(f"{where}: {who} option '{key}': expected true or false, "
                                  f"got {text!r}")
            return lowered == "true"
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ConfigError(f"{where}: {who} option '{key}': expected "
                              f"{_kind(default)}, got {text!r}") from None
    return _checked(value, default, f"{where}: {who} option '{key}'")


def _kind(default) -> str:
    if default is None:
        return "a value"
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, (tuple, list)):
        return f"a sequence like {_show(tuple(default))}"
    return f"a {type(default).__name__}"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: (test of the default's type, test of a value for it, conversion), most specific first
_TYPES = (
    (lambda d: isinstance(d, bool), lambda v: isinstance(v, bool), lambda v: v),
    (_is_int, _is_int, lambda v: v),
    (lambda d: isinstance(d, float), lambda v: _is_int(v) or isinstance(v, float), float),
    (lambda d: isinstance(d, (tuple, list)), lambda v: isinstance(v, (tuple, list)), tuple),
)


def _checked(value, default, who):
    """``value`` as an option whose default is ``default``: of the same kind (an integer
    for an integer, a number for a float, a sequence for a tuple, ...), else ConfigError.
    A default of None takes any value."""
    if default is None:
        return value
    for is_kind, accepts, convert in _TYPES:
        if is_kind(default):
            if not accepts(value):
                raise ConfigError(f"{who}: expected {_kind(default)}, got {value!r}")
            return convert(value)
    if not isinstance(value, type(default)):
        raise ConfigError(f"{who}: expected {_kind(default)}, got {value!r}")
    return value


def variant(spec, raw: dict, defaults: dict | None = None, name: str | None = None,
            where: str = "model"):
    """A ModelSpec for ``spec`` with options ``raw`` (over ``defaults`` from zoo.toml),
    every one checked; named ``name`` (what the user wrote)."""
    chosen = {k: convert(spec, k, v, "zoo.toml [models." + spec.name + "]")
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
