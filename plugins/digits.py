"""scikit-learn's bundled 8x8 handwritten digits: the default dataset, no download."""
import numpy as np

import zoo


def load(data_dir=None) -> zoo.Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[..., None]
    return zoo.Dataset(
        name="digits", x=x, y=bunch.target.astype(np.int64),
        class_names=[str(i) for i in range(10)],
        source="scikit-learn load_digits (1797 images, 8x8, 10 classes)",
    )


@zoo.hookimpl
def register_datasets(register):
    register(zoo.DatasetSpec(
        # 8x8 images: small shifts keep a digit a digit (a rotation or zoom of a few pixels
        # would not; zoo only shifts images under 16 px anyway)
        name="digits", load=load, augment=("shift",), input_shape=(8, 8, 1), classes=10,
        description="scikit-learn's bundled handwritten digits, 8x8 grayscale, 10 classes",
    ))
