import atexit
import contextlib
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Ray (tests/test_ray.py) binds 127.0.0.1 only, never the machine's interface address
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
# No test reaches past this machine: a named KerasHub preset is fetched from a closed port
# here (kagglehub's test endpoint, http://localhost:7777), Hugging Face's hub is offline
os.environ["KAGGLE_API_ENVIRONMENT"] = "TEST"
os.environ["HF_HUB_OFFLINE"] = "1"
# MLflow 3 sends usage telemetry to its own servers unless told not to
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"

# JAX compiles each new shape of a function again, and every test builds its models afresh
# (another function to jax.jit): the same small models are compiled hundreds of times over a
# run of the suite. A persistent compilation cache (one per test process, inherited by the
# processes it starts) compiles each once; XLA's executables depend on nothing but their
# program and options, so what runs is the same. A cache set in the environment is used.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="zoo-tests-jax-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    os.environ.update(JAX_COMPILATION_CACHE_DIR=_cache,
                      JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                      JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")

import zoo  # noqa: E402
from zoo import plugins  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def make_images(n_per_class=12, classes=3, size=8, seed=0, test_per_class=0):
    """Small separable images: class c lights up block c of the image, plus noise."""
    rng = np.random.default_rng(seed)

    def draw(count):
        y = np.repeat(np.arange(classes), count)
        x = rng.uniform(0, 0.3, size=(len(y), size, size, 1)).astype(np.float32)
        for i, c in enumerate(y):
            x[i, c % size, :, 0] += 0.7
        return x, y.astype(np.int64)

    x, y = draw(n_per_class)
    xt, yt = draw(test_per_class) if test_per_class else (None, None)
    return x, y, xt, yt


# The suite loads only zoo's own plugins, so that a plugin installed in the same environment
# (examples/zoo-plugin-resnet, say) changes no test; a test that wants one says so.
os.environ["ZOO_PLUGINS"] = "cnn,vit,digits,sign-mnist,metrics,images,hub"


@contextlib.contextmanager
def registered(obj, name):
    """A plugin object registered for the duration of a ``with`` block."""
    plugins.load_entry_points()
    plugins.pm.register(obj, name=name)
    try:
        yield obj
    finally:
        plugins.pm.unregister(name=name)


@pytest.fixture
def register_plugin():
    """Register plugin objects for one test, as llm's tests do; unregistered afterwards."""
    with contextlib.ExitStack() as stack:
        yield lambda obj, name: stack.enter_context(registered(obj, name))


class TinyPlugin:
    """A dataset plugin with tiny separable data and an official test split."""

    def __init__(self, name="tiny", classes=3, n_per_class=12, test_per_class=4,
                 class_names=None):
        self.name, self.classes = name, classes
        self.n_per_class, self.test_per_class = n_per_class, test_per_class
        self.class_names = class_names or [f"c{i}" for i in range(classes)]

    def load(self, data_dir=None):
        x, y, xt, yt = make_images(self.n_per_class, self.classes,
                                   test_per_class=self.test_per_class)
        return zoo.Dataset(name=self.name, x=x, y=y, x_test=xt, y_test=yt,
                           class_names=self.class_names, source="made in the test")

    @zoo.hookimpl
    def register_datasets(self, register):
        register(zoo.DatasetSpec(name=self.name, load=self.load, description="tiny test data"))


def tiny_dense(input_shape, num_classes):
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(16, activation="relu")(x)
    x = keras.layers.Dropout(0.1)(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


class TinyModelPlugin:
    @zoo.hookimpl
    def register_models(self, register):
        register(zoo.ModelSpec(name="dense", build=tiny_dense, description="tiny dense net"))


# -- the real Sign Language MNIST --------------------------------------------------------
# Tests that need it use the fixture sign_data_dir (directly or through another fixture) and
# are marked `sign_data` automatically. Without $ZOO_TEST_DATA they are deselected, with a
# notice in pytest's header, so that the README's test command passes on any machine. CI
# (CI=true) sets the variable, and there a missing data folder is an error, never a skip.
REAL_DATA = "ZOO_TEST_DATA"


def _real_data_dir():
    value = os.environ.get(REAL_DATA)
    return Path(value) if value else None


def pytest_configure(config):
    folder = _real_data_dir()
    if os.environ.get("CI") and (folder is None or not (folder / "sign_mnist.npz").exists()):
        raise pytest.UsageError(f"CI must run every test: set {REAL_DATA} to the folder with "
                                "sign_mnist.npz and make_kaggle_csv.py (../shared/data)")


def _without_browser() -> bool:
    """Browser tests need headless Chromium: in CI its absence fails them (tests/chrome.py);
    elsewhere they are deselected, with a notice in pytest's header."""
    from chrome import find_chromium

    return not os.environ.get("CI") and find_chromium() is None


def pytest_report_header(config):
    folder = _real_data_dir()
    lines = [f"sign_data: tests that need the real Sign Language MNIST are deselected "
             f"({REAL_DATA} is unset; set it to the folder with sign_mnist.npz to run them)"
             if folder is None else f"sign_data: the real Sign Language MNIST is read from "
             f"{folder}"]
    if _without_browser():
        lines.append("browser: tests that drive headless Chromium are deselected (none found; "
                     "apt-get install chromium to run them; CI installs it and runs them)")
    return lines


@pytest.hookimpl(tryfirst=True)   # before xdist's, which reads the groups into the node ids
def pytest_collection_modifyitems(config, items):
    groups = {}
    for item in items:   # under pytest-xdist (-n): see _group
        groups[item] = _group(item)
        if groups[item]:
            item.add_marker(pytest.mark.xdist_group(groups[item]))
        if item.module.__name__ in ON_EVERY_BACKEND:
            item.add_marker(pytest.mark.backends)
    # the groups first, Ray's first of all: each is one worker's serial chain (Ray's several
    # minutes), and started last it leaves the other workers idle at the end
    items.sort(key=lambda item: (groups[item] != "ray", not groups[item]))
    needs = [item for item in items if "sign_data_dir" in getattr(item, "fixturenames", ())]
    for item in needs:
        item.add_marker(pytest.mark.sign_data)
    if _real_data_dir() is None:
        _deselect(config, items, needs)
    if _without_browser():
        _deselect(config, items, [item for item in items if item.get_closest_marker("browser")])


#: the test modules of the code that differs by Keras backend (training and its recipe,
#: placement, Grad-CAM and kept models, export, KerasHub, image decoding, tuning, model
#: options, the Python API): their tests are marked `backends`, and CI runs the fast ones again
#: on JAX and on PyTorch (the README's test command). The other modules run Keras the same way
#: on every backend or not at all (statistics, the report, the store, the command line's
#: checks); serving kept models on JAX and PyTorch is tested in test_backends
ON_EVERY_BACKEND = {"test_api", "test_backends", "test_distribute", "test_export", "test_hub",
                    "test_images", "test_options", "test_recipe", "test_train", "test_tuning"}


def _group(item) -> str:
    """The xdist worker group a test must share (``--dist loadgroup``): the Ray tests one
    (one Ray instance at a time), and the tests of a module-scoped fixture theirs (each
    worker would otherwise build it again: three whole runs for the backend tests)."""
    if item.get_closest_marker("ray"):
        return "ray"
    info = getattr(item, "_fixtureinfo", None)
    for name in getattr(info, "names_closure", ()):
        defs = info.name2fixturedefs.get(name) or ()
        if any(d.scope == "module" for d in defs):
            return item.module.__name__
    return ""


def _deselect(config, items, which) -> None:
    if which:
        config.hook.pytest_deselected(items=which)
        items[:] = [item for item in items if item not in which]


@pytest.fixture(scope="session")
def sign_data_dir():
    """The real Sign Language MNIST, from $ZOO_TEST_DATA (CI sets it to ../shared/data)."""
    folder = _real_data_dir()
    if folder is None or not (folder / "sign_mnist.npz").exists():
        pytest.fail(f"{REAL_DATA}={folder}: expected a folder with sign_mnist.npz and "
                    "make_kaggle_csv.py (CI: ../shared/data)")
    return folder


def write_kaggle_csv(path, x, y):
    """A CSV in the exact form Kaggle serves Sign MNIST: header label,pixel1..pixelN, CRLF."""
    header = "label," + ",".join(f"pixel{i}" for i in range(1, x[0].size + 1))
    rows = np.concatenate([np.asarray(y).reshape(-1, 1), x.reshape(len(x), -1)], axis=1)
    with open(path, "w", newline="") as f:
        f.write(header + "\r\n")
        for r in rows.astype(np.int64):
            f.write(",".join(map(str, r)) + "\r\n")


@pytest.fixture(scope="session")
def kaggle_csv_dir(tmp_path_factory):
    """Made-up Sign MNIST in the exact Kaggle format (24 letters, labels 0-24 without 9; 12
    training and 6 test images a letter): each letter lights its own patch of a noisy image,
    so a small model learns it in a few epochs. For everything but real accuracy."""
    rng = np.random.default_rng(0)
    labels = [i for i in range(25) if i != 9]
    out = tmp_path_factory.mktemp("kaggle-format")
    for split, per_class in (("train", 12), ("test", 6)):
        y = np.repeat(labels, per_class)
        x = rng.integers(0, 60, size=(len(y), 28, 28))
        for i, label in enumerate(y):
            c = labels.index(label)
            top, left = (c // 6) * 7, (c % 6) * 4 + 2
            x[i, top:top + 6, left:left + 4] += 180
        write_kaggle_csv(out / f"sign_mnist_{split}.csv", x, y)
    return out


@pytest.fixture(scope="session")
def sign_csv_dir(sign_data_dir, tmp_path_factory):
    """The exact Kaggle CSVs, written by the data folder's make_kaggle_csv.py."""
    import subprocess

    out = tmp_path_factory.mktemp("sign-csv")
    subprocess.run([sys.executable, str(sign_data_dir / "make_kaggle_csv.py"), str(out)],
                   check=True, capture_output=True)
    return out


def load_writer(sign_data_dir):
    spec = importlib.util.spec_from_file_location("make_kaggle_csv",
                                                  sign_data_dir / "make_kaggle_csv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_csv


@pytest.fixture(scope="session")
def sign_subset_dir(sign_data_dir, tmp_path_factory):
    """A stratified subset in the exact Kaggle format: 12 training and 6 test images a class."""
    write_csv = load_writer(sign_data_dir)
    raw = np.load(sign_data_dir / "sign_mnist.npz")
    out = tmp_path_factory.mktemp("sign-subset")
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 12), ("test", 6)):
        y = raw[f"y_{split}"]
        take = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False)
                               for c in np.unique(y)])
        write_csv(out / f"sign_mnist_{split}.csv", raw[f"x_{split}"][take], y[take])
    return out
