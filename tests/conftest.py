import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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


@pytest.fixture
def register_plugin():
    """Register plugin objects for one test, as llm's tests do; unregistered afterwards."""
    names = []

    def register(obj, name):
        plugins.load_entry_points()
        plugins.pm.register(obj, name=name)
        names.append(name)
        return obj

    yield register
    for name in names:
        plugins.pm.unregister(name=name)


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


@pytest.fixture(scope="session")
def sign_data_dir():
    """The real Sign Language MNIST, from $ZOO_TEST_DATA (CI sets it to ../shared/data)."""
    value = os.environ.get("ZOO_TEST_DATA")
    if not value or not (Path(value) / "sign_mnist.npz").exists():
        pytest.fail("set ZOO_TEST_DATA to the folder with sign_mnist.npz and "
                    "make_kaggle_csv.py (CI: ../shared/data)")
    return Path(value)


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
