"""Every cell in this process, one after the other."""
from __future__ import annotations

from collections import deque

from zoo.grid.cells import RunnerCache, run_cell
from zoo.grid.executors.base import Executor
from zoo.grid.train import RunnerFactory


class LocalExecutor(Executor):
    """Every cell in this process, one after the other, under the tf.distribute strategy
    for ``devices``; one compiled model per (dataset, model), weights reset per fold.
    ``runners``: what makes the runner factory, called as ``runners(devices, verbose,
    on_epoch)`` when the session opens (default zoo.grid.train.RunnerFactory; the Ray
    executor takes the same)."""

    slots = 1

    def __init__(self, devices=None, runners=None):
        self.devices, self.runners = devices, runners or RunnerFactory

    def open(self, prepared, specs, keep, verbose, expected, say, on_epoch=None) -> None:
        factory = self.runners(self.devices, verbose, on_epoch)
        self.prepared, self.specs, self.keep = prepared, specs, keep
        self.factory, self.cache = factory, RunnerCache(factory)
        self.queue = deque()

    def close(self, clean: bool) -> None:
        # only after a normal end: clearing Keras' session while a Ctrl-C is unwinding out
        # of a TensorFlow op (its tf.data threads still running) corrupted the heap once
        if clean:
            self.cache.clear()

    def describe(self) -> str:
        return self.factory.describe()

    def submit(self, cell) -> str:
        self.queue.append(cell)
        return ""

    def outstanding(self) -> int:
        return len(self.queue)

    def as_completed(self):
        while self.queue:
            cell = self.queue.popleft()
            yield run_cell(cell, self.specs[cell.model], self.prepared[cell.dataset],
                           self.cache, self.keep)
