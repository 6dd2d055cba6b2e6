"""The `zoo` command: thin click wrappers that parse, call and print."""
from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path

import click

from zoo.errors import ConfigError, ZooError

DEFAULT_DATA_DIR = Path.home() / ".zoo" / "data"


def data_dir_from(option):
    if option:
        return Path(option).expanduser()
    env = os.environ.get("ZOO_DATA_DIR")
    return Path(env).expanduser() if env else DEFAULT_DATA_DIR


def _pick(kind: str, names, known: dict) -> list:
    picked = []
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"unknown {kind} '{name}'{hint} known {kind}s: "
                              + ", ".join(sorted(known)))
        if known[name] not in picked:
            picked.append(known[name])
    return picked


def _models(names, known: dict, defaults: dict) -> list:
    """The models to run: every registered one, or the named ones and variants
    ('vit:patch_size=4'), with zoo.toml's [models.NAME] defaults; all options checked."""
    from zoo import options

    for name in defaults:
        if name not in known:
            _pick("model", [name], known)  # the same message as for an unknown argument
    if not names:
        return [options.variant(spec, {}, defaults.get(spec.name)) for spec in known.values()]
    out = []
    for text in names:
        try:
            spec = options.resolve(text, known, defaults)
        except KeyError:
            _pick("model", [options.parse(text)[0]], known)
        if spec.name in [m.name for m in out]:
            continue
        out.append(spec)
    return out


class ZooGroup(click.Group):
    """Prints ZooError as one line (exit 2 for bad options, 1 otherwise); --debug re-raises."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ZooError as exc:
            if ctx.params.get("debug") or os.environ.get("ZOO_DEBUG"):
                raise
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2 if isinstance(exc, ConfigError) else 1)


@click.group(cls=ZooGroup)
@click.version_option(package_name="zoo")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
def cli(debug):
    """Compare image-classification models under one shared k-fold protocol."""


@cli.command(name="list")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with dataset files (default: $ZOO_DATA_DIR or ~/.zoo/data).")
def list_(data_dir):
    """Models, datasets and plugins: what each registers, and what is available."""
    from zoo.plugins import get_registry

    registry = get_registry()
    data_dir = data_dir_from(data_dir)
    plugins = list(registry.plugins.values())
    rows = [(p.name, f"{p.distribution} {p.version}".strip()
             or "(not installed from a distribution)",
             f"hooks: {', '.join(p.hooks) or '-'}; registers: "
             + (", ".join([f"model {m}" for m in p.models]
                          + [f"dataset {d}" for d in p.datasets]
                          + [f"metric {m}" for m in p.metrics]) or "-")) for p in plugins]
    click.echo("Plugins:")
    for (name, dist, rest), p in zip(_aligned(rows), plugins, strict=True):
        click.echo(f"  {name} {dist} {rest}".rstrip())
        for error in p.errors:
            click.echo(f"  {'':<{len(name)}} ERROR: {error}")
    click.echo("Models:")
    from zoo import options

    models = list(registry.models.values())
    for (name, rest), m in zip(_aligned([(m.name, f"[{m.plugin}] {m.description}")
                                         for m in models]), models, strict=True):
        click.echo(f"  {name} {rest}".rstrip())
        click.echo(f"  {'':<{len(name)}} options: {options.describe(m)}")
    click.echo(f"Datasets (data folder: {data_dir}):")
    datasets = list(registry.datasets.values())
    found = [d.check_available(data_dir) for d in datasets]
    rows = [(d.name, "available" if ok else "unavailable", f"[{d.plugin}] {d.description}")
            for d, (ok, _) in zip(datasets, found, strict=True)]
    for (name, state, rest), (ok, why) in zip(_aligned(rows), found, strict=True):
        click.echo(f"  {name} {state} {rest}".rstrip())
        click.echo(f"  {'':<{len(name)}} {'from' if ok else 'how to get'}: {why}")


def _aligned(rows: list) -> list:
    """Pad every column but the last to its widest cell, so columns line up whatever the
    length of a plugin's or distribution's name."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [tuple(c.ljust(w) for c, w in zip(r, widths, strict=False)) + (r[-1],)
            for r in rows]


@cli.command()
@click.argument("models", nargs=-1)
@click.option("--all", "all_", is_flag=True,
              help="Every registered model on every available dataset.")
@click.option("--dataset", "-d", "dataset_names", multiple=True,
              help="Dataset to use (repeatable); default: every available one.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with dataset files (default: $ZOO_DATA_DIR or ~/.zoo/data).")
@click.option("--preset", type=click.Choice(["quick", "paper"]), default=None,
              help="quick: 3 folds x 5 epochs, lr 1e-3 (default). "
                   "paper: 10 folds x 50 epochs, Adam lr 1e-4, as in the original study.")
@click.option("--folds", type=int, default=None, help="Number of folds (k).")
@click.option("--epochs", type=int, default=None, help="Epochs per fold.")
@click.option("--batch-size", type=int, default=None, help="Batch size per replica.")
@click.option("--lr", type=float, default=None, help="Adam learning rate.")
@click.option("--seed", type=int, default=None, help="Seed for splits, weights and shuffling.")
@click.option("--split", type=click.Choice(["stratified", "grouped", "auto"]), default=None,
              help="stratified k-fold (default); grouped: near-copies of an image stay in one "
                   "fold; auto: grouped when the leakage check finds near-copies across folds.")
@click.option("--early-stopping", type=int, default=None,
              help="Patience in epochs (0 = off); watches an inner split of the training "
                   "folds, never the held-out fold.")
@click.option("--augment", type=float, default=None,
              help="Augmentation strength for every model, in the input pipeline: 0 = none, "
                   "1 = light (default: rotations to 14 degrees, shifts to 8%, zoom to 10%).")
@click.option("--schedule", type=click.Choice(["constant", "cosine"]), default=None,
              help="Learning-rate schedule for every model (default constant).")
@click.option("--warmup", type=int, default=None,
              help="Epochs of linear learning-rate warm-up (default 0).")
@click.option("--weight-decay", type=float, default=None,
              help="Decoupled weight decay (AdamW) for every model; 0 = plain Adam (default).")
@click.option("--label-smoothing", type=float, default=None,
              help="Label smoothing of the cross-entropy loss (default 0).")
@click.option("--train-sizes", default=None, metavar="FRACTIONS",
              help="Learning curves: also train on these fractions of each fold's training "
                   "part, e.g. 0.1,0.25,0.5 (nested, stratified, the same for every model; "
                   "1.0 is always trained). Adding sizes to a finished run trains only them.")
@click.option("--config", type=click.Path(dir_okay=False), default=None,
              help="A zoo.toml with protocol settings (default: ./zoo.toml if present).")
@click.option("--devices", default=None,
              help="'auto' (all GPUs if several, else default), 'cpu', or 'gpu:0,gpu:1'.")
@click.option("--keep-models", "keep", type=click.Choice(["folds", "final", "none"]),
              default="folds", show_default=True,
              help="Keep every fold's trained model (.keras), or train and keep one final "
                   "model on all training data after the folds, or keep none.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default=None,
              help="Where the (dataset, model, fold) cells run: in this process (default) or "
                   "on Ray, from one machine's cores and GPUs to a cluster.")
@click.option("--address", default=None,
              help="Ray: the address of a running cluster ('auto', or HOST:PORT of its head); "
                   "default: start a local Ray instance.")
@click.option("--cpus-per-task", type=float, default=None,
              help="Ray: CPUs per cell (also caps TensorFlow's threads there); default 1.")
@click.option("--gpus-per-task", type=float, default=None,
              help="Ray: GPUs per cell; fractions share a GPU (0.25: four cells on one).")
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default="results",
              show_default=True, help="Where facts are saved (resumable).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="reports",
              show_default=True, help="Where the report is written.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def run(models, all_, dataset_names, data_dir, preset, folds, epochs, batch_size, lr, seed,
        split, early_stopping, augment, schedule, warmup, weight_decay, label_smoothing,
        train_sizes, config, devices, executor, address, cpus_per_task,
        gpus_per_task, keep, results_dir, out_dir, quiet):
    """Train MODELS (or --all) under one shared protocol, then write the report."""
    from zoo import engine, protocol as proto
    from zoo.plugins import get_registry

    if not models and not all_:
        raise ConfigError("name the models to run (see `zoo list`) or pass --all")
    toml = None
    if config:
        toml = proto.read_toml(config)
    elif Path("zoo.toml").exists():
        toml = proto.read_toml("zoo.toml")
    protocol = proto.resolve(toml=toml, preset=preset, folds=folds, epochs=epochs,
                             batch_size=batch_size, lr=lr, seed=seed, split=split,
                             early_stopping=early_stopping, augment=augment,
                             schedule=schedule, warmup=warmup, weight_decay=weight_decay,
                             label_smoothing=label_smoothing,
                             train_sizes=proto.parse_sizes(train_sizes, "--train-sizes")
                             if train_sizes is not None else None)
    runner = _executor(toml or {}, executor, address, cpus_per_task, gpus_per_task, devices)
    registry = get_registry()
    for plugin, error in registry.errors:
        click.echo(f"warning: plugin {plugin}: {error}", err=True)
    chosen_models = _models(models, registry.models, (toml or {}).get("models", {}))
    if not chosen_models:
        raise ConfigError("no models are registered; install a plugin (see `zoo list`)")
    data_dir = data_dir_from(data_dir)
    skipped = []
    if dataset_names:
        chosen = _pick("dataset", dataset_names, registry.datasets)
        for d in chosen:
            ok, why = d.check_available(data_dir)
            if not ok:
                raise ConfigError(f"dataset '{d.name}' is unavailable: {why}")
    else:
        chosen = []
        for d in registry.datasets.values():
            ok, why = d.check_available(data_dir)
            if ok:
                chosen.append(d)
            else:
                skipped.append({"what": "dataset", "name": d.name, "reason": why})
                click.echo(f"skipping dataset {d.name}: {why}", err=True)
    if not chosen:
        raise ConfigError("no dataset is available (see `zoo list`)")
    if not quiet:
        sizes = (", training sizes " + ", ".join(f"{v:g}" for v in protocol.train_sizes)
                 if len(protocol.train_sizes) > 1 else "")
        click.echo(f"protocol: {protocol.folds}-fold {protocol.split}, {protocol.epochs} epochs, "
                   f"batch {protocol.batch_size}, {protocol.recipe()}, seed {protocol.seed}"
                   f"{sizes}; models: {', '.join(m.name for m in chosen_models)}; "
                   f"datasets: {', '.join(d.name for d in chosen)}")
    try:
        result = engine.run(chosen_models, chosen, protocol, results_dir, data_dir=data_dir,
                            devices=devices, echo=click.echo, quiet=quiet, keep=keep,
                            executor=runner)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: finished folds are saved in {results_dir}; run the same "
                   "command again to resume at the first unfinished fold", err=True)
        # Every finished fold is on disk already (atomic writes). Leave at once: tearing the
        # interpreter down while an interrupted fit's TensorFlow threads still run crashed it
        # once in CI (free(): invalid next size) instead of exiting with 130.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    result.skipped = skipped + result.skipped + [
        {"what": "plugin", "name": p, "reason": e} for p, e in registry.errors]
    engine._checkpoint(results_dir, result)
    if result.runs:
        _render(results_dir, out_dir, quiet)
    else:
        from zoo.store import last_run_path

        click.echo(f"nothing was trained; {last_run_path(results_dir)} and the report "
                   "still show the earlier results, if any", err=True)
    if not quiet:
        click.echo(f"trained {result.trained} fold(s), resumed {result.resumed}, "
                   f"failed {result.failed}; facts in {results_dir}")
    if result.errors:
        sys.exit(1)


def _executor(toml: dict, executor, address, cpus_per_task, gpus_per_task, devices):
    """The executor from flags, then zoo.toml; every value checked before anything runs."""
    from zoo.executors import EXECUTORS, LocalExecutor, RayExecutor

    def pick(flag, key, kinds, expected):
        value = flag if flag is not None else toml.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
            raise ConfigError(f"{key}: expected {expected}, got {value!r}")
        return value

    kind = pick(executor, "executor", str, "'local' or 'ray'") or "local"
    if kind not in EXECUTORS:
        raise ConfigError(f"executor: expected one of {', '.join(EXECUTORS)}, got {kind!r}")
    address = pick(address, "address", str, "a Ray address ('auto' or HOST:PORT)")
    cpus = pick(cpus_per_task, "cpus_per_task", (int, float), "a number > 0")
    gpus = pick(gpus_per_task, "gpus_per_task", (int, float), "a number >= 0")
    if kind == "local":
        given = [name for name, v in (("--address", address), ("--cpus-per-task", cpus),
                                      ("--gpus-per-task", gpus)) if v is not None]
        if given:
            raise ConfigError(f"{', '.join(given)}: only for --executor ray")
        return LocalExecutor(devices)
    from zoo.executors import _import_ray

    _import_ray()  # without Ray: one line on how to install it, before anything runs
    return RayExecutor(address=address, cpus_per_task=1 if cpus is None else cpus,
                       gpus_per_task=0 if gpus is None else gpus, devices=devices)


def _render(results_dir, out_dir, quiet):
    from zoo import report

    context = report.build_context(results_dir)
    try:
        path = report.render(results_dir, out_dir, context=context)
    except ZooError as exc:
        raise ZooError(f"{exc} (the facts in {results_dir} are kept; "
                       f"`zoo report --out DIR` renders them elsewhere)") from None
    if not quiet:
        for d in context["datasets"]:
            click.echo(f"{d['name']}: {d['conclusion']}")
            if d["curve"]:
                click.echo(f"{d['name']}: {d['curve']['sentence']}")
        click.echo(f"report: {path}")


@cli.command()
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default="results",
              show_default=True, help="Where `zoo run` saved facts.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="reports",
              show_default=True, help="Where the report is written.")
def report(results_dir, out_dir):
    """Re-render the report from saved facts, without training."""
    _render(results_dir, out_dir, quiet=False)


@cli.command()
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default="results",
              show_default=True, help="Where `zoo run` saved facts and kept models.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (127.0.0.1: this machine only).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
def serve(results_dir, host, port):
    """Try the kept models live: draw, upload or use the webcam in a local web page."""
    from zoo.serve import Predictor, make_server

    predictor = Predictor(results_dir)
    for line in predictor.skipped:
        click.echo(f"warning: {line}", err=True)
    server = make_server(predictor, host, port)
    click.echo(f"serving {', '.join(predictor.datasets)} at "
               f"http://{host}:{server.server_address[1]}/  (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()


def main():
    cli(prog_name="zoo")


if __name__ == "__main__":
    main()
