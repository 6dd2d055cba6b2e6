"""Ctrl-C during a run: training stops a batch later, and the run raises KeyboardInterrupt
outside TensorFlow, keeping every cell that finished.

A KeyboardInterrupt raised inside an interrupted Keras fit corrupted the heap now and then
(``free(): invalid next size``), so the signal only sets :data:`CTRL_C`; the fold runner's
callback stops training at the end of the next batch and the fold raises after ``fit``
returns. A second Ctrl-C interrupts at once, as usual.
"""
from __future__ import annotations

import contextlib
import signal
import threading

#: set when the user presses Ctrl-C (or the process gets SIGTERM) inside
#: :func:`ctrl_c_stops_at_a_batch_end`
CTRL_C = threading.Event()
#: the signal that set CTRL_C last: SIGINT (Ctrl-C) or SIGTERM
RECEIVED = {"signal": signal.SIGINT}


def stop_on_ctrl_c():
    """A Keras callback that ends training at the end of the next batch once Ctrl-C came.

    It looks as a batch begins, not as one ends: a callback with a batch-end hook makes Keras
    wait for every batch's results on JAX and PyTorch (and one that says it is async-safe,
    called on a thread, raced the JAX trainer when it stopped training: Keras 3.15)."""
    import keras  # lazy: Keras starts its backend (4 s); only training and kept models need it

    class StopOnCtrlC(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if CTRL_C.is_set():
                self.model.stop_training = True

    return StopOnCtrlC()


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt when Ctrl-C was pressed (call it outside TensorFlow)."""
    if CTRL_C.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def ctrl_c_stops_at_a_batch_end():
    """Within the block, Ctrl-C and SIGTERM only set :data:`CTRL_C` (a second one raises at
    once); :data:`RECEIVED` says which came. Only in the main thread, where signals arrive;
    elsewhere they behave as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    CTRL_C.clear()

    def handler(signum, frame):
        RECEIVED["signal"] = signum
        if CTRL_C.is_set():
            raise KeyboardInterrupt
        CTRL_C.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler_before in previous.items():
            signal.signal(s, handler_before)
        CTRL_C.clear()
