"""`zoo export model`: the chosen model leaves zoo in Keras' own format, ONNX, LiteRT or a
SavedModel, checked against the Keras model by its own runtime, with a model card beside it
and its latency in the report."""
import json
import shutil

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import zoo
from conftest import TinyModelPlugin, TinyPlugin, registered
from zoo.cli import cli
from zoo.grid import export
from zoo.judge.facts import load_run
from zoo.show import report
from zoo.store import RunStore, read_json


def train(results, *args):
    r = CliRunner().invoke(cli, ["run", "dense", "--dataset", "tiny", "--folds", "3",
                                 "--epochs", "2", "--batch-size", "8", "--lr", "0.01", "--quiet",
                                 "--results", str(results), "--out", str(results / "report"),
                                 *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output


@pytest.fixture
def tiny(register_plugin):
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small run with kept fold models, trained once for the module."""
    results = tmp_path_factory.mktemp("export") / "results"
    with registered(TinyPlugin(), "tiny"), registered(TinyModelPlugin(), "dense"):
        train(results)
    return results


@pytest.fixture
def kept(tiny, tmp_path, trained):
    """A copy of that run for one test (its exports are written into the run's folder)."""
    shutil.copytree(trained, tmp_path / "results")
    return tmp_path / "results"


def the_run(results):
    (entry,) = read_json(results / "last_run.json")["runs"]
    store = RunStore(results, entry["dataset"], entry["run_id"])
    return load_run(store)


@pytest.mark.parametrize("fmt", ["keras", "onnx", "litert", "saved_model"])
def test_every_format_answers_as_the_keras_model_does(kept, tmp_path, fmt):
    import keras

    backends = export.FORMATS[fmt][2]
    here = keras.backend.backend()
    if backends is not None and here not in backends:   # TensorFlow's formats, on JAX/torch
        with pytest.raises(zoo.ZooError, match=f"--format {fmt}: the {here} backend cannot "
                                               "write it; tensorflow can"):
            zoo.api.export_model("dense", format=fmt, out=tmp_path / "out", results=kept)
        return
    done = zoo.api.export_model("dense", format=fmt, out=tmp_path / "out", results=kept)
    run = the_run(kept)
    assert done["top1_agreement"] == 1.0 and done["max_abs_diff"] < 1e-5
    # the best fold's model by held-out accuracy, named as such
    best = max(run.ok_folds("dense"), key=lambda f: f.scores["accuracy"])
    assert done["kept_model"].endswith(f"fold-{best.fold + 1:02d}.keras")
    assert done["source"].startswith(f"fold {best.fold + 1}'s model (the best held-out "
                                     "accuracy of the 3 kept folds")
    assert done["images_from"] == f"{len(best.arrays['y_true'])} held-out images of fold " \
        f"{best.fold + 1}"
    assert done["latency_ms"] > 0 and done["keras_latency_ms"] > 0 and done["size_bytes"] > 0
    path = tmp_path / "out" / f"dense-tiny-{run.store.run_id}{export.FORMATS[fmt][0]}"
    assert done["path"] == str(path) and path.exists()
    assert read_json(str(path) + ".parity.json")["top1_agreement"] == 1.0
    assert [e["format"] for e in run.store.read_exports()] == [fmt]


def test_the_model_card_is_a_hugging_face_model_index_and_says_what_zoo_knows(kept, tmp_path):
    done = zoo.api.export_model("dense", format="onnx", out=tmp_path / "out", results=kept)
    text = open(done["card"], encoding="utf-8").read()
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["pipeline_tag"] == "image-classification" and meta["datasets"] == ["tiny"]
    (entry,) = meta["model-index"]
    (result,) = entry["results"]
    assert entry["name"] == "dense" and result["task"]["type"] == "image-classification"
    assert result["dataset"]["name"] == "tiny"
    run = the_run(kept)
    acc = [f.test_scores["accuracy"] for f in run.ok_folds("dense")]
    accuracy = next(m for m in result["metrics"] if m["type"] == "accuracy")
    assert accuracy["value"] == f"{np.mean(acc):.3f} ± {np.std(acc, ddof=1):.3f}"
    assert "official test split" in accuracy["name"]
    for part in ("# dense on tiny", "## How it was judged", "3-fold cross-validation",
                 "## Leakage", "Lead with the official test-split scores", "## Intended use",
                 "## Limits zoo measured", "top-1 agreement 100.00%",
                 "Claims on the official test split are about models trained on these "):
        assert part in body, part


def test_the_final_model_is_exported_when_the_run_kept_one(tiny, tmp_path):
    results = tmp_path / "results"
    train(results, "--keep-models", "final")
    done = zoo.api.export_model("dense", out=tmp_path / "out", results=results)
    assert done["source"] == "the final model, trained on all the training data (36 images)"
    assert done["kept_model"].endswith("final.keras")
    assert done["images_from"] == "12 test-split images"


def test_an_export_that_answers_otherwise_fails_with_its_agreement(kept, tmp_path,
                                                                   monkeypatch):
    real = export._runtime

    def shuffled(fmt, path, custom_objects):
        run = real(fmt, path, custom_objects)
        return lambda x: np.roll(run(x), 1, axis=1)   # every top class moved

    monkeypatch.setattr(export, "_runtime", shuffled)
    with pytest.raises(zoo.ZooError, match=r"agrees with the Keras model on the top class of "
                                           r"only \d+\.\d\d% of \d+ images \(at least 99\.9%"):
        zoo.api.export_model("dense", format="onnx", out=tmp_path / "out", results=kept)
    parity = next((tmp_path / "out").glob("*.parity.json"))
    assert json.loads(parity.read_text())["top1_agreement"] < 0.999   # kept for a look


def test_without_the_dataset_the_export_is_checked_on_the_kept_examples(kept, tmp_path,
                                                                         monkeypatch):
    def gone(*args):
        raise zoo.ZooError("/data/tiny: no such folder")

    monkeypatch.setattr(zoo.api.plan, "load", gone)
    done = zoo.api.export_model("dense", out=tmp_path / "out", results=kept)
    assert done["images_from"] == ("the run's 12 kept example images (dataset tiny could not "
                                   "be loaded again: /data/tiny: no such folder)")
    assert done["top1_agreement"] == 1.0 and done["images"] == 12


def test_exports_join_the_reports_costs_and_its_accuracy_against_latency(kept, tmp_path):
    zoo.api.export_model("dense", format="onnx", out=tmp_path / "out", results=kept)
    html = report.render(kept, tmp_path / "r").read_text()
    assert '<tr class="export"><td class="text">dense <span class="muted small">(onnx export, ' \
        "100.00% top-1 agreement)" in html
    assert "dense (onnx)" in html   # its own point in the accuracy-against-latency figure


def test_bad_exports_get_one_line(kept, tmp_path):
    out = CliRunner().invoke(cli, ["export", "model", "cnn", "--results", str(kept)])
    assert out.exit_code != 0 and "MODEL: 'cnn' is not in run" in out.output
    assert "its models: dense" in out.output
    out = CliRunner().invoke(cli, ["export", "model", "dense", "--format", "pt", "--results",
                                   str(kept)])
    assert out.exit_code == 2 and "'pt' is not one of" in out.output
    ok = CliRunner().invoke(cli, ["export", "model", "dense", "--format", "onnx", "--results",
                                  str(kept), "--out", str(tmp_path / "o")])
    assert ok.exit_code == 0, ok.output
    assert "checked on" in ok.output and "top-1 agreement 100.00%" in ok.output
    assert "model card: " in ok.output


def test_a_run_that_kept_no_model_says_how_to_keep_one(tiny, tmp_path):
    results = tmp_path / "results"
    train(results, "--keep-models", "none")
    with pytest.raises(zoo.ZooError, match="kept no model of dense: run it with "
                                           "--keep-models final"):
        zoo.api.export_model("dense", out=tmp_path / "out", results=results)


def test_a_format_that_cannot_take_a_layer_says_so_in_one_line(tmp_path):
    """The ViT's exact GELU becomes an Erfc op that tf2onnx writes and ONNX Runtime cannot
    run (benchmarks/results/export.txt): one line, the file removed, and other formats work."""
    import keras

    from zoo.grid.modelio import model_bytes

    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Dense(8, activation=keras.activations.gelu)(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    kept = tmp_path / "gelu.keras"
    kept.write_bytes(model_bytes(model))
    chosen = export.Chosen("gelu", kept, None, "a test model")
    images = np.random.default_rng(0).random((20, 4, 4, 1)).astype(np.float32)
    target = tmp_path / "gelu.onnx"
    if keras.backend.backend() != "tensorflow":   # torch.onnx and jax2onnx write it well
        assert export.export(chosen, "onnx", target, images)["top1_agreement"] == 1.0
        return
    with pytest.raises(zoo.ZooError, match=r"--format onnx: gelu could not be exported and "
                                           r"loaded back by its runtime: .*Erfc.*another "
                                           r"--format may take it"):
        export.export(chosen, "onnx", target, images)
    assert not target.exists()
    done = export.export(chosen, "litert", tmp_path / "gelu.tflite", images)
    assert done["top1_agreement"] == 1.0


def test_the_card_of_a_keras_hub_preset_names_its_base_model(tmp_path):
    from zoo.grid.fakes import make_facts
    from zoo.judge import card

    (entry,) = make_facts(tmp_path, models={"hub": 0.9, "cnn": 0.7}, folds=3, samples=300)
    store = RunStore(tmp_path, entry["dataset"], entry["run_id"])
    info = store.read_run()
    info["specs"]["hub"]["options"] = {"preset": "resnet_18_imagenet"}
    store.write_run(info)
    run = load_run(store)
    facts = {"format": "onnx", "source": "fold 1's model", "images": 100,
             "top1_agreement": 1.0, "max_abs_diff": 1e-8, "latency_ms": 1.0,
             "keras_latency_ms": 2.0}
    meta = yaml.safe_load(card.card(run, "hub", facts).split("---\n")[1])
    assert meta["base_model"] == "resnet_18_imagenet"
    assert "base_model" not in yaml.safe_load(card.card(run, "cnn", facts).split("---\n")[1])


def test_a_format_the_backend_cannot_write_names_the_backend_that_can(kept, tmp_path,
                                                                       monkeypatch):
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(zoo.ZooError, match="--format saved_model: the jax backend cannot "
                                           "write it; tensorflow can"):
        zoo.api.export_model("dense", format="saved_model", out=tmp_path / "o", results=kept)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_a_fold_without_a_score_is_never_the_best_one(tmp_path):
    """Lower is better for ece: a fold that has no ece once ranked first (its missing score
    counted as -inf, turned to +inf)."""
    from types import SimpleNamespace

    store = SimpleNamespace(run_id="r1", model_path=lambda model, fold=None: (
        tmp_path / ("final.keras" if fold is None else f"fold-{fold + 1:02d}.keras")))
    for k in range(3):
        store.model_path("m", k).write_bytes(b"kept")
    folds = [SimpleNamespace(fold=k, scores=s) for k, s in
             enumerate([{}, {"ece": 0.08}, {"ece": 0.03}])]
    run = SimpleNamespace(store=store, name="d", info={"models": ["m"]},
                          metrics={"ece": SimpleNamespace(higher_is_better=False)},
                          ok_folds=lambda model: folds)
    assert export.choose(run, "m", "ece").fold == 2
    run.metrics = {"ece": SimpleNamespace(higher_is_better=True)}
    assert export.choose(run, "m", "ece").fold == 1
