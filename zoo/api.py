"""zoo from Python: :func:`run` and :func:`report`, what `zoo run` and `zoo report` do, with
the same settings, defaults, zoo.toml and checks; they return a :class:`Run` (each model's
scores as rows, the conclusion, the report's path) that a notebook shows as a table.

    import zoo
    result = zoo.run(["cnn", "vit"], datasets=["digits"], folds=3, epochs=2)
    result.rows            # one dict per dataset and model
    print(result.conclusion)
    result                 # in Jupyter: the scores table and the conclusion

The command (zoo.cli) parses, calls these and prints what they return.
"""
from __future__ import annotations

import html
import sys
from dataclasses import dataclass, field
from pathlib import Path

from zoo import backend as keras_backend
from zoo.errors import ConfigError, ZooError
from zoo.grid import engine, executors, plan, progress, protocol as proto
from zoo.grid.engine import RunResult
import numpy as np

from zoo.grid import export
from zoo.judge import card, comparisons, history
from zoo.judge.facts import load_run
from zoo.metrics import METRICS
from zoo.plugins import get_registry
from zoo.show import listing, report as show, tracker
from zoo.store import (RunStore, atomic_write_bytes, data_dir_from, find_run, last_run_path,
                       read_last_run, safe_name, write_json)
from zoo.tune import search, space

@dataclass
class Run:
    """What a run (or a re-rendered report) shows: ``rows``, one per dataset and model, with
    its main score (mean ± std over its folds, on the split the conclusion leads with);
    ``conclusions``, dataset -> the written conclusion; ``report``, the report's path (None
    when nothing was rendered). ``result``: the counts of what this call trained (None for
    :func:`report`). ``broken``: metrics of plugins that failed while rendering."""
    rows: list = field(default_factory=list)
    conclusions: dict = field(default_factory=dict)
    report: Path | None = None
    result: RunResult | None = None
    results_dir: Path = Path("results")
    datasets: list = field(default_factory=list)
    broken: list = field(default_factory=list)

    @property
    def conclusion(self) -> str:
        """Every dataset's conclusion, a paragraph each."""
        return "\n\n".join(f"{d}: {text}" for d, text in self.conclusions.items())

    @property
    def failed(self) -> bool:
        """A plugin's model, dataset or metric was skipped, a facts file left out, or every
        cell that trained failed (`zoo run` exits 1)."""
        r = self.result
        return bool(self.broken or (r is not None and (r.errors or (r.failed and not r.runs))))

    def lines(self) -> list:
        """What `zoo run` and `zoo report` print at the end, line by line."""
        out = []
        for d in self.datasets:
            if d.partial:
                out.append(f"{d.name}: partial run: {d.partial}")
            out += [f"{d.name}: {model} was skipped: {reason}"
                    for model, reason in d.skipped_models]
            out += _score_lines(d)
            if d.headline:
                out.append(f"{d.name}: {d.headline}")
            out.append(f"{d.name}: {d.conclusion}")
            if d.curve:
                out.append(f"{d.name}: {d.curve['sentence']}")
        if self.report is not None:
            out.append(f"report: {self.report}")
        return out

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in
                       ("dataset", "model", "split", "accuracy", "folds"))
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(r[k]))}</td>" for k in
                             ("dataset", "model", "split", "accuracy", "folds")) + "</tr>"
            for r in self.rows)
        told = "".join(f"<p><b>{html.escape(d)}</b>: {html.escape(t)}</p>"
                       for d, t in self.conclusions.items())
        where = f"<p>report: <code>{html.escape(str(self.report))}</code></p>" \
            if self.report else ""
        return f"<table><tr>{head}</tr>{body}</table>{told}{where}"


def run(models=(), *, datasets=None, images=None, all: bool = False,
        data_dir=None, config=None, preset=None, results="results", out="reports",
        keep_models: str = "folds", devices=None, executor=None, address=None,
        cpus_per_task=None, gpus_per_task=None, tune=(), trials=None, tune_metric=None,
        tune_scope=None, prune=None, image_size=None, color=None, cache_dir=None,
        skip_bad_images=None, memory_limit=None, quiet: bool = False, verbose: bool = False,
        render: bool = True, echo=print, warn=None, mlflow=None,
        experiment: str = "zoo", backend=None, **settings) -> Run:
    """Train ``models`` (names, with options: ``"vit:patch_size=4"``; ``all=True``: every
    registered one) on ``datasets`` (names; default every available one) and ``images``
    (folders of your images) under one protocol, write the facts to ``results`` and the
    report to ``out``. ``settings`` are the protocol's (folds, epochs, batch_size, lr, seed,
    split, augment, schedule, warmup, weight_decay, label_smoothing, train_sizes,
    early_stopping, ...), over zoo.toml (``config``, default ./zoo.toml) over the
    ``preset``; every other argument is a `zoo run` option of the same name. Progress goes
    to ``echo`` (a live view on a terminal), warnings to ``warn`` (default: stderr);
    ``quiet`` says nothing but errors; ``render=False`` writes the facts and no report (the
    returned Run then holds only ``result``: a benchmark times training alone). Rerunning
    with the same settings resumes. A bad setting raises zoo.ConfigError before anything
    trains; Ctrl-C raises KeyboardInterrupt once the finished cells are saved. ``mlflow``: a
    tracking URI each fold is logged to as it finishes (``experiment``), the whole run
    exported there at the end (:func:`export_mlflow`). ``backend``: the Keras backend
    (tensorflow, jax, torch; default zoo.toml's ``backend``, else $KERAS_BACKEND, else
    tensorflow), set before Keras starts in this process and in every Ray worker."""
    warn = warn or _stderr
    toml = proto.load_config(config)
    settings["backend"] = keras_backend.requested(backend, toml)
    protocol = proto.resolve(toml=toml, preset=preset, **_sizes(settings))
    keras_backend.use(protocol.backend)
    runner = executors.from_settings(toml, devices, executor=executor, address=address,
                                     cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task)
    registry = get_registry()
    for plugin, error in registry.errors:
        warn(f"warning: plugin {plugin}: {error}")
    _check_metric(protocol.metric, registry)
    data_dir = data_dir_from(data_dir)
    folders, image_options = _images(toml, images, image_size=image_size, color=color,
                                     cache_dir=cache_dir, skip_bad_images=skip_bad_images,
                                     memory_limit=memory_limit)
    chosen = plan.select(registry, _names(models, "models"), _names(datasets, "datasets"),
                         data_dir, toml.get("models"), all, folders, image_options)
    tuning = space.parse(_names(tune, "tune"), chosen.models, protocol, trials, tune_metric,
                         tune_scope, prune, toml.get("tune"))
    for s in chosen.skipped:
        warn(f"skipping {s['what']} {s['name']}: {s['reason']}")
    if not quiet:
        echo(protocol_line(protocol, chosen))
        if tuning is not None:
            echo(f"tuning: {tuning.describe()}")
    skipped = chosen.skipped + [{"what": "plugin", "name": p, "reason": e}
                                for p, e in registry.errors]
    live = tracker.LiveTracker(mlflow, experiment) if mlflow is not None else None
    result = engine.run(chosen.models, chosen.datasets, protocol, results, data_dir=data_dir,
                        keep=keep_models, executor=runner, skipped=skipped,
                        verbose=2 if verbose else 0,
                        progress=progress.for_terminal(echo, quiet, verbose), tuning=tuning,
                        tuner=search.Tuner, on_fold=live and live.fold)
    for entry in result.runs if live is not None else []:   # the whole run, at the end
        export_mlflow(results, run=entry["run_id"], tracking_uri=mlflow, experiment=experiment)
    _said_nothing(result, results, warn)
    if not result.runs or not render:
        return Run(result=result, results_dir=Path(results))
    done = report(results, out, warn=warn)
    done.result = result
    return done


def report(results="results", out="reports", *, run=None, warn=None) -> Run:
    """Render the report of the last `zoo run` in ``results`` into ``out`` from the saved
    facts, training nothing, with the index of every run and a page each; ``run``: only that
    run's page (its id, or a unique start of it). Returns what it shows (:class:`Run`). A
    plugin's metric that fails is named through ``warn`` (default: stderr) and in
    ``Run.broken``."""
    warn = warn or _stderr
    if run is not None:
        return Run(report=show.render_run(results, out, run), results_dir=Path(results))
    context = show.build_context(results)
    try:
        path = show.render(results, out, context=context)
    except ZooError as exc:
        raise ZooError(f"{exc} (the facts in {results} are kept; `zoo report --out DIR` "
                       "renders them elsewhere)") from None
    broken = [s for s in context["skipped"] if s["what"] in ("metric", "metric figure", "facts")]
    for s in broken:   # a plugin's metric that failed, a facts file left out: named, never
        # only in the HTML
        warn(f"error: {s['reason']}")
    return Run(rows=[row for d in context["datasets"] for row in _rows(d)],
               conclusions={d.name: " ".join(t for t in (d.headline, d.conclusion) if t)
                            for d in context["datasets"]},
               report=Path(path), results_dir=Path(results), datasets=context["datasets"],
               broken=broken)


def runs(results="results") -> list:
    """Every run under ``results``, newest first (zoo.judge.history.RunEntry: id, dataset,
    dates, models, protocol, status, headline)."""
    return history.entries(results)


def diff(a: str, b: str, results="results") -> dict:
    """What changed from run ``a`` to run ``b`` (ids, or unique starts of them) and how the
    shared models' scores moved (zoo.judge.history.diff)."""
    stores = [find_run(results, x, what) for x, what in ((a, "RUN_A"), (b, "RUN_B"))]
    loaded = [load_run(s) for s in stores]
    return history.diff(*loaded)


def _said_nothing(result, results, warn) -> None:
    """Say when a run left nothing new to show (and that the earlier results stay)."""
    if not result.runs and result.failed:
        warn(f"error: every cell that trained failed ({result.failed}); "
             f"{last_run_path(results)} and the report still show the earlier results, if any")
    elif not result.runs:
        warn(f"nothing was trained; {last_run_path(results)} and the report still show the "
             "earlier results, if any")


def export_mlflow(results="results", *, run=None, tracking_uri="file:./mlruns",
                  experiment: str = "zoo") -> dict:
    """Log runs to MLflow (zoo.show.tracker): ``run`` (an id), else every run of the last
    `zoo run`; a parent MLflow run per model and dataset, a child per fold. Exporting again
    replaces the earlier export. Returns {zoo run id: [MLflow parent run ids]}."""
    stores = [find_run(results, run)] if run is not None else \
        [RunStore(results, e["dataset"], e["run_id"]) for e in read_last_run(results)["runs"]]
    registry = get_registry()
    return {s.run_id: tracker.export_run(load_run(s, registry.metrics),
                                         tracking_uri, experiment) for s in stores}


def export_model(model: str, *, run=None, dataset=None, format: str = "keras",
                 out="exports", results="results", data_dir=None) -> dict:
    """Export ``model`` of a run (``run``: an id; else the last `zoo run`'s run of
    ``dataset``) as ``format`` (keras, onnx, litert, saved_model) into ``out``, checked
    against the Keras model, with a model card beside it; returns the export's facts (path,
    card, source, images, max_abs_diff, top1_agreement, latency_ms, keras_latency_ms). The
    check's images: the model's held-out images (the test split for a final model) from the
    dataset reloaded, else the run's kept examples."""
    if format not in export.FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(export.FORMATS)}, got "
                          f"{format!r}")
    store = _export_run(results, run, dataset)
    registry = get_registry()
    loaded = load_run(store, registry.metrics)
    chosen = export.choose(loaded, model, comparisons.primary(loaded))
    images, source = _parity_images(loaded, chosen, registry, data_dir)
    target = export.target_path(Path(out), loaded, model, format)
    facts = export.export(chosen, format, target, images,
                          registry.custom_objects(loaded.base(model)))
    facts["images_from"] = source
    card_path = Path(str(target) + ".md")
    atomic_write_bytes(card_path, card.card(loaded, model, facts).encode())
    facts["card"] = str(card_path)
    write_json(store.path / "exports" / f"{safe_name(model)}-{format}.json", facts)
    return facts


def _export_run(results, run, dataset):
    """The run an export takes its model from: ``run``, else the last `zoo run`'s run of
    ``dataset`` (or its only one)."""
    if run is not None:
        return find_run(results, run)
    everything = read_last_run(results)["runs"]
    entries = [e for e in everything if dataset is None or e["dataset"] == dataset]
    if len(entries) != 1:
        names = ", ".join(e["dataset"] for e in everything)
        raise ConfigError("--dataset: " + (f"the last `zoo run` has no run of {dataset!r}"
                                           if dataset is not None else
                                           "the last `zoo run` made several runs")
                          + f"; choose one of {names} (or --run ID)")
    return RunStore(results, entries[0]["dataset"], entries[0]["run_id"])


def _parity_images(run, chosen, registry, data_dir) -> tuple:
    """(images, where from): up to export.PARITY_IMAGES of the chosen model's held-out
    images (a final model: the test split), from the dataset as its plugin loads it again
    when its fingerprint matches; else the run's kept examples."""
    spec = registry.datasets.get(run.name)
    try:
        if spec is None:
            raise ZooError("no plugin registers it now")
        dataset = plan.load(spec, data_dir_from(data_dir), run.info["protocol"]["seed"])
        if dataset.summary()["fingerprint"] != run.info["dataset"].get("fingerprint"):
            raise ZooError("its data changed since the run")
        if chosen.fold is None:
            x = dataset.x_test if dataset.has_test else dataset.x
            where = "test-split images" if dataset.has_test else "training images"
        else:
            fold = next(f for f in run.ok_folds(chosen.model) if f.fold == chosen.fold)
            held = np.asarray(fold.arrays["held_out_index"])[:export.PARITY_IMAGES]
            x = dataset.x[np.sort(held)]   # only these images are read
            where = f"held-out images of fold {chosen.fold + 1}"
        return x[:export.PARITY_IMAGES], f"{min(len(x), export.PARITY_IMAGES):,} {where}"
    except Exception as exc:   # any dataset that cannot be read again: the kept examples
        kept = run.store.read_examples()
        if kept is None:
            raise ZooError(f"no images to check the export on: dataset {run.name} could not "
                           f"be loaded again ({exc}) and the run kept no examples") from None
        return kept[0], (f"the run's {len(kept[0])} kept example images (dataset "
                         f"{run.name} could not be loaded again: {exc})")


def _check_metric(metric: str, registry) -> None:
    """The primary metric must be one the comparisons make: a core one they compare, or a
    plugin's."""
    known = list(comparisons.COMPARED) + [m for m in registry.metrics if m not in METRICS]
    if metric not in known:
        raise ConfigError(f"metric: expected one of {', '.join(known)} (the metrics models "
                          f"are compared on), got {metric!r}")


def protocol_line(protocol, chosen) -> str:
    sizes = (", training sizes " + ", ".join(f"{v:g}" for v in protocol.train_sizes)
             if len(protocol.train_sizes) > 1 else "")
    split = "split chosen by the leakage check" if protocol.split == "auto" else protocol.split
    repeats = f" x {protocol.repeats} repeats" if protocol.repeats > 1 else ""
    metric = f", claims on {protocol.metric}" if protocol.metric != "accuracy" else ""
    return (f"protocol: {protocol.folds}-fold ({split}){repeats}{metric}, "
            f"{protocol.epochs} epochs, "
            f"batch {protocol.batch_size}, {protocol.recipe()}, seed {protocol.seed}{sizes}; "
            f"models: {', '.join(m.name for m in chosen.models)}; "
            f"datasets: {', '.join(d.name for d in chosen.datasets)}")


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def _names(given, what: str) -> list:
    """A name or a list of names (a lone string is one name, not its letters)."""
    if given is None:
        return []
    if isinstance(given, str):
        return [given]
    if not all(isinstance(g, str) for g in given):
        raise ConfigError(f"{what}: expected names (strings), got {list(given)!r}")
    return list(given)


def _sizes(settings: dict) -> dict:
    """train_sizes as the command takes it ('0.1,0.25') or as a list of fractions."""
    sizes = settings.get("train_sizes")
    if isinstance(sizes, str):
        return {**settings, "train_sizes": proto.parse_sizes(sizes, "train_sizes")}
    return settings


def _images(toml: dict, folders, **flags) -> tuple:
    """(folders, options) of --images from flags, then zoo.toml; the plugin checks values."""
    folders = _names(folders, "images") or toml.get("images") or []
    if isinstance(folders, str) or not all(isinstance(f, str) for f in folders):
        raise ConfigError(f"images: expected a list of folders, like images = "
                          f"[\"~/photos\"], got {folders!r}")
    options = {k: v if v is not None else toml.get(k) for k, v in flags.items()}
    return folders, {k: v for k, v in options.items() if v is not None}


def _rows(d: dict) -> list:
    """Each model's main score on dataset ``d`` (mean ± std over its folds), on the split the
    conclusion leads with."""
    rows = d.test_summary if d.has_test else d.summary
    split = "official test split" if d.has_test else "held-out folds"
    return [{"dataset": d.name, "model": r["model"], "split": split,
             "accuracy": r["cells"]["accuracy"]["text"],
             "folds": f"{r['folds_ok']} of {r['folds']}"}
            for r in rows if "accuracy" in r["cells"]]


def _score_lines(d: dict) -> list:
    table = [(r["model"], r["accuracy"], r["folds"] + " folds") for r in _rows(d)]
    if not table:
        return []
    split = "official test split" if d.has_test else "held-out folds"
    head = [("model", f"accuracy ({split})", "folds")]
    return [f"{d['name']}:"] + ["  " + "  ".join(row) for row in listing.aligned(head + table)]
