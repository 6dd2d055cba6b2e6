"""Sign Language MNIST (Kaggle datamunge/sign-language-mnist): ASL letters, 28x28 grayscale.

Looks in the data folder (``--data-dir`` / ``ZOO_DATA_DIR`` / ``~/.zoo/data``) and in its
``sign-mnist`` subfolder for the Kaggle CSVs ``sign_mnist_train.csv`` and
``sign_mnist_test.csv``, or for ``sign_mnist.npz`` (x_train, y_train, x_test, y_test).
"""
import string
from pathlib import Path

import numpy as np

import zoo

#: Kaggle labels 0-24 map to A-Y; 9 (J) and 25 (Z) need motion and are absent.
KAGGLE_LABELS = [i for i in range(25) if i != 9]
LETTERS = [string.ascii_uppercase[i] for i in KAGGLE_LABELS]
CSV_FILES = ("sign_mnist_train.csv", "sign_mnist_test.csv")
NPZ_FILE = "sign_mnist.npz"
HOW_TO_GET = (
    "download datamunge/sign-language-mnist from Kaggle "
    "(kaggle datasets download -d datamunge/sign-language-mnist), unzip it, and pass the "
    "folder with sign_mnist_train.csv and sign_mnist_test.csv as --data-dir or ZOO_DATA_DIR"
)


def find(data_dir):
    """The files to read: ('csv', train, test) or ('npz', path); None when absent."""
    if data_dir is None:
        return None
    for folder in (Path(data_dir), Path(data_dir) / "sign-mnist"):
        train, test = folder / CSV_FILES[0], folder / CSV_FILES[1]
        if train.exists() or test.exists():
            return ("csv", train, test)
        if (folder / NPZ_FILE).exists():
            return ("npz", folder / NPZ_FILE)
    return None


def available(data_dir):
    found = find(data_dir)
    if found is None:
        return False, f"not found in {data_dir}: {HOW_TO_GET}"
    return True, str(found[1])


def _remap(y):
    """Kaggle labels (0-24 without 9) -> contiguous class indices 0-23."""
    lookup = np.full(26, -1, dtype=np.int64)
    lookup[KAGGLE_LABELS] = np.arange(len(KAGGLE_LABELS))
    return lookup[y]


def load(data_dir=None) -> zoo.Dataset:
    found = find(data_dir)
    if found is None:
        raise zoo.DataError(data_dir, f"Sign Language MNIST not found: {HOW_TO_GET}")
    if found[0] == "csv":
        x, y = zoo.read_label_pixel_csv(found[1], labels=KAGGLE_LABELS)
        xt, yt = zoo.read_label_pixel_csv(found[2], labels=KAGGLE_LABELS)
        source = f"{found[1]} + {found[2]}"
    else:
        arrays = zoo.read_image_npz(found[1], labels=KAGGLE_LABELS)
        x, y, xt, yt = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))
        source = str(found[1])

    def scale(a):
        return (a.astype(np.float32) / 255.0)[..., None]

    return zoo.Dataset(
        name="sign-mnist", x=scale(x), y=_remap(y), x_test=scale(xt), y_test=_remap(yt),
        class_names=LETTERS, source=source,
        notes=["The train CSV was grown from about 1,704 photos by augmentation, so it holds "
               "many near-copies of each photo: a random (stratified) k-fold split puts them on "
               "both sides, a grouped split (--split grouped) keeps them together. The leakage "
               "check below says which split this run used and what it found."],
    )


def load_small(data_dir=None) -> zoo.Dataset:
    """The study's "small" dataset: the 7,172 images of the test CSV alone, cross-validated
    on their own, without an official test split."""
    full = load(data_dir)
    return zoo.Dataset(
        name="sign-mnist-small", x=full.x_test, y=full.y_test, class_names=LETTERS,
        source=f"{full.source.split(' + ')[-1]} (the test CSV alone)",
        notes=["The original study's smaller dataset: its 10-fold cross-validation ran on the "
               "7,172 images of the test CSV alone. There is no official test split here, so "
               "every score is a cross-validation estimate on held-out folds; read the leakage "
               "check below before trusting one."],
    )


@zoo.hookimpl
def register_datasets(register):
    # small rotations, shifts and zooms keep an ASL letter what it is; a flip would not (a
    # mirrored hand can be another letter), and zoo never flips
    register(zoo.DatasetSpec(
        name="sign-mnist", load=load, available=available, augment=("rotate", "shift", "zoom"),
        input_shape=(28, 28, 1), classes=24,
        description="Sign Language MNIST: ASL letters A-Y without J, 28x28 grayscale, "
                    "24 classes, official test split",
    ))
    register(zoo.DatasetSpec(
        name="sign-mnist-small", load=load_small, available=available,
        augment=("rotate", "shift", "zoom"), input_shape=(28, 28, 1), classes=24,
        description="the study's small dataset: Sign MNIST's 7,172 test-CSV images alone, "
                    "cross-validated, no official test split",
    ))
