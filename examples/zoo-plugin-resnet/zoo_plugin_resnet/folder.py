"""An image-folder dataset: one subfolder per class, PNG or JPEG images of any size."""
import os
from pathlib import Path

import numpy as np

import zoo

EXTENSIONS = {".png", ".jpg", ".jpeg"}


def _size() -> int:
    return int(os.environ.get("ZOO_IMAGE_SIZE", "28"))


def folders(data_dir):
    """(train folder, test folder or None), or None when there is no image folder."""
    if data_dir is None:
        return None
    root = Path(data_dir) / "images"
    train = root / "train" if (root / "train").is_dir() else root
    if not train.is_dir() or len([p for p in train.iterdir() if p.is_dir()]) < 2:
        return None
    test = root / "test" if (root / "test").is_dir() and train != root else None
    return train, test


def available(data_dir):
    found = folders(data_dir)
    if found is None:
        return False, (f"no image folder in {data_dir}: put one subfolder per class of "
                       "PNG/JPEG images in images/train/ (and optionally images/test/)")
    return True, str(found[0])


def read_folder(folder: Path, class_names=None):
    """Images of ``folder/<class>/*`` as (x float32 (n, s, s, 1) in [0, 1], y, class names)."""
    import tensorflow as tf

    names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if class_names is not None:
        extra = sorted(set(names) - set(class_names))
        if extra:
            raise zoo.DataError(folder, f"class folder(s) {', '.join(extra)} are not among the "
                                "training classes " + ", ".join(class_names))
        names = class_names
    size = _size()
    images, labels = [], []
    for label, name in enumerate(names):
        if not (folder / name).is_dir():
            continue
        for path in sorted((folder / name).iterdir()):
            if path.suffix.lower() not in EXTENSIONS:
                continue
            try:
                image = tf.io.decode_image(tf.io.read_file(str(path)), channels=1,
                                           expand_animations=False)
            except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError):
                raise zoo.DataError(path, "not a readable PNG or JPEG image") from None
            image = tf.image.resize(tf.cast(image, tf.float32), (size, size), antialias=True)
            images.append(np.clip(image.numpy() / 255.0, 0, 1))
            labels.append(label)
    if not images:
        raise zoo.DataError(folder, "no PNG or JPEG images in the class subfolders")
    return np.stack(images).astype(np.float32), np.array(labels, dtype=np.int64), names


def load(data_dir=None) -> zoo.Dataset:
    found = folders(data_dir)
    if found is None:
        raise zoo.DataError(data_dir, available(data_dir)[1])
    train, test = found
    x, y, names = read_folder(train)
    xt = yt = None
    if test is not None:
        xt, yt, _ = read_folder(test, names)
    return zoo.Dataset(name="image-folder", x=x, y=y, x_test=xt, y_test=yt, class_names=names,
                       source=str(train) + (f" + {test}" if test else ""))


@zoo.hookimpl
def register_datasets(register):
    register(zoo.DatasetSpec(
        name="image-folder", load=load, available=available,
        description="images/train/<class>/*.png|jpg under the data folder, "
                    "as 28x28 grayscale; optional images/test/"))
