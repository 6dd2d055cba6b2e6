"""Where the cells of a plan run. An executor runs what it is handed and hands back each
outcome as it finishes, in the shape of ``concurrent.futures``' submit / as_completed; the
queue, progress, resume and failures are the engine's (zoo.grid.engine), written once for all.

    with executor.session(prepared, specs, keep, verbose, expected=len(cells), say=print):
        executor.submit(cell)              # -> where it runs ("" in this process)
        for outcome in executor.as_completed():
            ...                            # submit more here; they are yielded too

``slots`` is how many cells run at once; ``describe()`` says where, in one line. Two
executors: zoo.grid.executors.local.LocalExecutor (this process) and
zoo.grid.executors.ray.RayExecutor (Ray).
"""
from __future__ import annotations

import abc
import contextlib

from zoo.errors import ConfigError


class Executor(abc.ABC):
    """The contract every executor keeps (tests/test_engine.py checks both against it:
    test_the_local_executor_keeps_the_contract, test_the_ray_executor_keeps_the_contract)."""

    #: how many cells run at once
    slots: int = 1

    @contextlib.contextmanager
    def session(self, prepared: dict, specs: dict, keep: str, verbose: int, expected: int = 1,
                say=print, on_epoch=None):
        """Open for one run: ``prepared`` maps dataset name -> zoo.grid.cells.Prepared, ``specs``
        model name -> ModelSpec; ``expected`` cells are to come (workers start now, while
        the driver checks the models); ``say(line)`` tells the user what they should know (a
        retried cell); ``on_epoch(key, epoch, epochs, logs)`` hears of every epoch of cells
        that run in this process. Closes on the way out, cancelling what is still running."""
        self.open(prepared, specs, keep, verbose, expected, say, on_epoch)
        clean = False
        try:
            yield self
            clean = True
        finally:
            self.close(clean)

    @abc.abstractmethod
    def open(self, prepared, specs, keep, verbose, expected, say, on_epoch=None) -> None:
        """Start what the cells need."""

    @abc.abstractmethod
    def close(self, clean: bool) -> None:
        """Stop; ``clean`` is False when leaving on an error or Ctrl-C."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line on where the cells run."""

    @abc.abstractmethod
    def submit(self, cell) -> str:
        """Hand over one cell; returns where it runs ("" when that says nothing new)."""

    @abc.abstractmethod
    def outstanding(self) -> int:
        """Cells handed over whose outcomes have not been yielded yet."""

    @abc.abstractmethod
    def as_completed(self):
        """Yield the outcome of every cell handed over, each as it finishes, until none is
        outstanding (cells submitted while iterating are included)."""


def import_ray():
    """Ray, or one line on how to install it."""
    try:
        import ray  # lazy: Ray is an optional extra, needed only with --executor ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'keras-zoo[ray]' "
                          "(or pip install -e \".[ray]\" in a checkout)") from None
    return ray
