"""Where the cells of a plan run: zoo.grid.executors.base (the contract), .local (this
process) and .ray (Ray). :func:`from_settings` makes one from flags and zoo.toml."""
from __future__ import annotations

from zoo.errors import ConfigError
from zoo.grid.executors.base import Executor, import_ray
from zoo.grid.executors.local import LocalExecutor
from zoo.grid.executors.ray import RayExecutor

EXECUTORS = ("local", "ray")

#: where the cells run: settings that never change a result (zoo.toml keys too)
SETTINGS = {"executor": (str, "'local' or 'ray'"),
            "address": (str, "a Ray address ('auto' or HOST:PORT)"),
            "cpus_per_task": ((int, float), "a number > 0"),
            "gpus_per_task": ((int, float), "a number >= 0")}


def from_settings(toml: dict, devices=None, **flags) -> Executor:
    """The executor from flags (None: not given), then zoo.toml; every value checked before
    anything runs."""
    values = {}
    for key, (kinds, expected) in SETTINGS.items():
        value = flags.get(key) if flags.get(key) is not None else toml.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
            raise ConfigError(f"{key}: expected {expected}, got {value!r}")
        values[key] = value
    kind = values.pop("executor") or "local"
    if kind not in EXECUTORS:
        raise ConfigError(f"executor: expected one of {', '.join(EXECUTORS)}, got {kind!r}")
    if kind == "local":
        given = ["--" + k.replace("_", "-") for k, v in values.items() if v is not None]
        if given:
            raise ConfigError(f"{', '.join(given)}: only for --executor ray")
        return LocalExecutor(devices)
    import_ray()  # without Ray: one line on how to install it, before anything runs

    return RayExecutor(address=values["address"],
                       cpus_per_task=1 if values["cpus_per_task"] is None
                       else values["cpus_per_task"],
                       gpus_per_task=values["gpus_per_task"] or 0, devices=devices)


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "from_settings", "import_ray"]
