"""Kept models in the Keras format: turned into bytes where a cell ran (a Ray worker hands
them back to the driver, whose store writes them), and loaded back in safe mode.

Only Keras' public saving API is used; it writes to a path ending in ``.keras``, so the bytes
pass through a private temporary file that is removed at once."""
from __future__ import annotations

import os
import tempfile

from zoo.errors import WriteError
from zoo.backend import start_keras


def model_bytes(model) -> bytes:
    """A model in the Keras format (.keras), as bytes."""
    try:
        fd, tmp = tempfile.mkstemp(suffix=".keras")
        os.close(fd)
    except OSError as exc:
        raise WriteError(tempfile.gettempdir(), exc.strerror or str(exc)) from None
    try:
        model.save(tmp)
        with open(tmp, "rb") as f:
            return f.read()
    except OSError as exc:  # the temporary folder is full
        raise WriteError(tmp, exc.strerror or str(exc)) from None
    finally:
        os.unlink(tmp)


def load_model(path, custom_objects=None):
    """Load a kept model with ``safe_mode=True``: no arbitrary code (lambdas) is run."""
    keras = start_keras()   # on TensorFlow: quietly, before Keras imports it

    return keras.saving.load_model(path, custom_objects=custom_objects, safe_mode=True,
                                   compile=False)


def round_trip(model, custom_objects=None):
    """The model saved and loaded back as zoo keeps and serves it (for checks and tests)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        with open(path, "wb") as f:
            f.write(model_bytes(model))
        return load_model(path, custom_objects)
