"""The `zoo` command: thin click wrappers that parse, call and print."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

import click

from zoo.errors import ConfigError, ZooError


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
@click.version_option(package_name="keras-zoo")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
def cli(debug):
    """Compare image-classification models under one shared k-fold protocol."""


@cli.command(name="list")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with dataset files (default: $ZOO_DATA_DIR or ~/.zoo/data).")
@click.option("--config", type=click.Path(dir_okay=False), default=None,
              help="A zoo.toml whose [models.NAME] defaults to show (default: ./zoo.toml).")
def list_(data_dir, config):
    """Models, datasets, metrics and plugins: what each registers, and what is available."""
    # lazy: the command starts fast and imports only what a subcommand needs
    from zoo.grid import protocol as proto
    from zoo.plugins import get_registry
    from zoo.show import listing
    from zoo.store import data_dir_from

    registry = get_registry()
    data_dir = data_dir_from(data_dir)
    defaults = proto.load_config(config).get("models", {})
    available = {d.name: d.check_available(data_dir) for d in registry.datasets.values()}
    for line in listing.lines(registry, data_dir, defaults, available):
        click.echo(line)


def protocol_options(command):
    """A click option for every protocol setting that has a flag (zoo.grid.protocol.Protocol
    declares each one once: its kind, choices and help)."""
    # lazy: the command starts fast and imports only what a subcommand needs
    from zoo.grid import protocol as proto

    types = {"int": int, "float": float}
    for name, kind, help_, choices in reversed(proto.flags()):
        flag = "--" + name.replace("_", "-")
        extra = {"type": click.Choice(choices)} if choices else {"type": types.get(kind, str)}
        if kind == "sizes":
            extra = {"metavar": "FRACTIONS", "callback": _sizes(flag)}
        command = click.option(flag, name, default=None, help=help_, **extra)(command)
    return command


def tune_options(command):
    """The options of a tuning search (zoo.tune.space), also a [tune] table in zoo.toml."""
    # lazy: the command starts fast and imports only what a subcommand needs
    from zoo.tune import space

    for args, kwargs in reversed([
        (("--tune", "tune"), dict(multiple=True, metavar="SETTING=VALUES", help=(
            "Tune a setting for every model with the same search: a range LOW..HIGH "
            "(LOW..HIGH:log for a log scale) or choices A,B; a protocol setting (" +
            ", ".join(space.TUNABLE) + ") or MODEL:OPTION (vit:patch_size=4,7). "
            "Repeatable."))),
        (("--trials",), dict(type=int, default=None, help=(
            f"Trials per model (and per outer fold); default {space.DEFAULT_TRIALS}. More "
            "trials extend a finished search."))),
        (("--tune-metric",), dict(type=click.Choice(space.METRICS), default=None,
                                   help="What a trial is scored by on its inner validation "
                                        "split (default accuracy).")),
        (("--tune-scope",), dict(type=click.Choice(space.SCOPES), default=None, help=(
            "fold (default): a search inside every outer fold, nested, so held-out scores "
            "stay unbiased; once: one search on the whole training set (held-out scores "
            "are then optimistic)."))),
        (("--prune",), dict(is_flag=True, default=None, help=(
            "Stop hopeless trials early (successive halving at epoch rungs)."))),
    ]):
        command = click.option(*args, **kwargs)(command)
    return command


def _sizes(flag):
    def parse(ctx, param, value):
        # lazy: the command starts fast and imports only what a subcommand needs
        from zoo.grid.protocol import parse_sizes

        return None if value is None else parse_sizes(value, flag)

    return parse


@cli.command()
@click.argument("models", nargs=-1)
@click.option("--all", "all_", is_flag=True,
              help="Every registered model on every available dataset.")
@click.option("--dataset", "-d", "dataset_names", multiple=True,
              help="Dataset to use (repeatable); default: every available one.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with dataset files (default: $ZOO_DATA_DIR or ~/.zoo/data).")
@click.option("--images", "image_folders", multiple=True, type=click.Path(),
              help="A folder of your images, one subfolder per class (or train/ and test/ "
                   "with one each), as a dataset named after it (repeatable). Chooses the "
                   "datasets as -d does.")
@click.option("--image-size", default=None, metavar="SIZE",
              help="--images: resize to SIZE (64) or WIDTHxHEIGHT (64x48), covering it and "
                   "cropping the centre; default: the median size, at most 128 a side.")
@click.option("--color", type=click.Choice(["gray", "rgb"]), default=None,
              help="--images: grayscale or RGB; default: gray when every image is gray.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="--images: where decoded images are cached (default ~/.zoo/cache).")
@click.option("--skip-bad-images", is_flag=True, default=None,
              help="--images: leave unreadable images out (counted and named in the "
                   "report) instead of stopping.")
@click.option("--memory-limit", default=None, metavar="SIZE",
              help="--images: memory the decoded images may take, like 8GB (default: a "
                   "quarter of the memory available); over it they are decoded into the "
                   "cache in chunks and streamed from disk, memory-mapped.")
@click.option("--preset", type=click.Choice(["quick", "paper"]), default=None,
              help="quick: 3 folds x 5 epochs, lr 1e-3 (default). "
                   "paper: 10 folds x 50 epochs, Adam lr 1e-4, as in the original study.")
@protocol_options
@tune_options
@click.option("--config", type=click.Path(dir_okay=False), default=None,
              help="A zoo.toml with protocol settings (default: ./zoo.toml if present).")
@click.option("--backend", type=click.Choice(["tensorflow", "jax", "torch"]), default=None,
              help="The Keras backend to train on (default: zoo.toml's backend, else "
                   "$KERAS_BACKEND, else tensorflow). `zoo list` says which are installed.")
@click.option("--devices", default=None,
              help="'auto' (all GPUs if several, else default), 'cpu', or 'gpu:0,gpu:1'; "
                   "on JAX also 'cpu:0,cpu:1' for host devices.")
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
@click.option("--verbose", "-v", is_flag=True,
              help="Keras' own line for every epoch (instead of the live view).")
@click.option("--mlflow", "mlflow_uri", default=None, metavar="URI",
              help="Log every fold to MLflow as it finishes (a file: folder or a server's "
                   "URL), and the whole run at the end, as `zoo export mlflow` does.")
def run(models, all_, dataset_names, data_dir, image_folders, image_size, color, cache_dir,
        skip_bad_images, memory_limit, preset, config, backend, devices, keep, executor,
        address, cpus_per_task, gpus_per_task, results_dir, out_dir, quiet, verbose, tune,
        trials, tune_metric, tune_scope, prune, mlflow_uri, **settings):
    """Train MODELS (or --all) under one shared protocol, then write the report."""
    # lazy: the command starts fast and imports only what a subcommand needs
    from zoo import api

    try:
        with _terminate_cleanly():
            done = api.run(
                models, datasets=dataset_names, images=image_folders, all=all_,
                data_dir=data_dir, config=config, preset=preset, results=results_dir,
                out=out_dir, keep_models=keep, backend=backend, devices=devices,
                executor=executor,
                address=address, cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task,
                tune=tune, trials=trials, tune_metric=tune_metric, tune_scope=tune_scope,
                prune=prune, image_size=image_size, color=color, cache_dir=cache_dir,
                skip_bad_images=skip_bad_images, memory_limit=memory_limit, quiet=quiet,
                verbose=verbose,
                echo=click.echo, warn=_warn, mlflow=mlflow_uri, **settings)
    except KeyboardInterrupt:
        _interrupted(results_dir)
    if not quiet:
        for line in done.lines():
            click.echo(line)
        r = done.result
        trials = f" and {r.trials} tuning trial(s)" if r.trials else ""
        click.echo(f"trained {r.trained} fold(s){trials}, resumed {r.resumed}, "
                   f"failed {r.failed}; facts in {results_dir}")
    if done.failed:
        sys.exit(1)


def _warn(text: str) -> None:
    click.echo(text, err=True)


@contextlib.contextmanager
def _terminate_cleanly():
    """SIGTERM (kill, a job scheduler's stop) leaves through the same doors as Ctrl-C: the
    executor's session closes (a local Ray instance is shut down, its agents with it) and
    the run folder's lock is released. A SIGKILL cannot be caught: see the README."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(results_dir):
    # lazy: the command starts fast and imports only what a subcommand needs
    from zoo.grid.interrupt import RECEIVED

    how = "terminated" if RECEIVED["signal"] == signal.SIGTERM else "interrupted"
    click.echo(f"\n{how}: finished folds are saved in {results_dir}; run the same "
               "command again to resume at the first unfinished fold", err=True)
    # Every finished fold is on disk already (atomic writes). Leave at once: tearing the
    # interpreter down while an interrupted fit's TensorFlow threads still run crashed it
    # once in CI (free(): invalid next size) instead of exiting with 130.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(128 + int(RECEIVED["signal"]))


@cli.command()
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default="results",
              show_default=True, help="Where `zoo run` saved facts.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="reports",
              show_default=True, help="Where the report is written.")
@click.option("--run", "run_id", default=None, metavar="ID",
              help="Only this run's page (an id from `zoo runs`, or a unique start of it).")
def report(results_dir, out_dir, run_id):
    """Re-render the report from saved facts, without training: the last `zoo run`, led by
    an index of every run, each with its own page."""
    # lazy: the command starts fast and imports only what a subcommand needs
    from zoo import api

    done = api.report(results_dir, out_dir, run=run_id, warn=_warn)
    for line in done.lines():
        click.echo(line)
    if done.failed:
        sys.exit(1)


@cli.command()
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default="results",
              show_default=True, help="Where `zoo run` saved facts.")
def runs(results_dir):
    """Every run kept under the results folder, newest first: id, date, dataset, models,
    status, protocol and headline."""
    # lazy: the command starts fast and imports only what a subcommand needs
    from zoo import api
    from zoo.judge import history

    for line in history.lines(api.runs(results_dir)):
        click.echo(line)


@cli.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default="results",
              show_default=True, help="Where `zoo run` saved facts.")
def diff(run_a, run_b, results_dir):
    """What changed from run RUN_A to run RUN_B (settings, models, software, data) and how
    every shared model's scores moved; paired fold by fold when both used the same splits."""
    # lazy: the command starts fast and imports only what a subcommand needs
    from zoo import api
    from zoo.judge import history

    for line in history.diff_lines(api.diff(run_a, run_b, results_dir)):
        click.echo(line)


@cli.command()
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default="results",
              show_default=True, help="Where `zoo run` saved facts and kept models.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (127.0.0.1: this machine only).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--run", "run_id", default=None, metavar="ID",
              help="The run to open on (an id from `zoo runs`, or a unique start of it); "
                   "default: the newest run with kept models. The page switches to any other.")
def serve(results_dir, host, port, run_id):
    """Try the kept models live: draw, upload or use the webcam in a local web page."""
    # lazy: the command starts fast and imports only what a subcommand needs
    from zoo.show.serve import Predictor, is_loopback, make_server

    if not is_loopback(host):
        click.echo(f"warning: serving on {host}, not only this machine: the models answer "
                   "anyone who can reach it on this port", err=True)
    predictor = Predictor(results_dir, run=run_id)
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


@cli.group()
def export():
    """Take a run's results elsewhere: a model out of zoo (`zoo export model`)."""


@export.command(name="model")
@click.argument("model")
@click.option("--run", "run_id", default=None, metavar="ID",
              help="The run (an id from `zoo runs`); default: the last `zoo run`'s.")
@click.option("--dataset", "-d", default=None,
              help="The last `zoo run`'s run of this dataset (when it made several).")
@click.option("--format", "fmt", type=click.Choice(["keras", "onnx", "litert", "saved_model"]),
              default="keras", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="exports",
              show_default=True, help="Where the export, its check and its card are written.")
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default="results",
              show_default=True, help="Where `zoo run` saved facts and kept models.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Where the dataset's files are, to check the export on its images.")
def export_model(model, run_id, dataset, fmt, out_dir, results_dir, data_dir):
    """Export MODEL (the final model when the run kept one, else the best fold's), check that
    it answers as the Keras model does, and write a model card beside it."""
    # lazy: the command starts fast and imports only what a subcommand needs
    from zoo import api

    done = api.export_model(model, run=run_id, dataset=dataset, format=fmt, out=out_dir,
                            results=results_dir, data_dir=data_dir)
    click.echo(f"exported {done['source']} of {model} as {fmt}: {done['path']}")
    click.echo(f"checked on {done['images_from']}: top-1 agreement "
               f"{done['top1_agreement']:.2%}, largest difference in a probability "
               f"{done['max_abs_diff']:.2e}")
    click.echo(f"one image: {done['latency_ms']:.2f} ms ({fmt}), {done['keras_latency_ms']:.2f} "
               f"ms (Keras) on this machine")
    click.echo(f"model card: {done['card']}")


@export.command(name="mlflow")
@click.option("--run", "run_id", default=None, metavar="ID",
              help="The run (an id from `zoo runs`); default: every run of the last `zoo run`.")
@click.option("--tracking-uri", default="file:./mlruns", show_default=True,
              help="Where MLflow keeps runs: a file: folder (no server) or a server's URL.")
@click.option("--experiment", default="zoo", show_default=True, help="The MLflow experiment.")
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default="results",
              show_default=True, help="Where `zoo run` saved facts.")
def export_mlflow(run_id, tracking_uri, experiment, results_dir):
    """Log runs to MLflow: a parent run per model and dataset (protocol, recipe and tuned
    settings as params, every metric's mean and 95% interval, the comparisons' adjusted p
    and verdict as tags, the report and kept models as artifacts), a child run per fold with
    its metrics per epoch. Exporting again replaces the earlier export."""
    # lazy: the command starts fast and imports only what a subcommand needs
    from zoo import api

    done = api.export_mlflow(results_dir, run=run_id, tracking_uri=tracking_uri,
                             experiment=experiment)
    for run, parents in done.items():
        click.echo(f"run {run}: {len(parents)} model{'s' * (len(parents) != 1)} logged to "
                   f"{tracking_uri} (experiment {experiment})")


def main():
    cli(prog_name="zoo")


if __name__ == "__main__":
    main()
