"""What a run tells the user while it works.

:class:`Progress` writes plain lines, one as each cell starts and one as it ends, with an
ETA for the whole grid that accounts for the number of cells running at once: for logs and
CI, or whenever stdout is no terminal. :class:`LiveProgress` shows the same on a terminal as
a live view: an overall bar with the grid's ETA, and one line per running cell with its
epoch, loss, accuracy and ETA (epochs are reported by cells that run in this process; a cell
on Ray shows where it runs and for how long). Work is counted in whole folds: a
learning-curve cell at size 0.25 is a quarter of one.
"""
from __future__ import annotations

import time
from rich.console import Console
from rich.progress import BarColumn, Progress as Bars, TextColumn
import sys
from zoo.grid.cells import FINAL


def clock(seconds: float) -> str:
    """'1:02:03', or '2:03' under an hour."""
    seconds = int(round(max(0.0, seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Plain lines (``echo``); ``quiet``: only failures and errors."""

    live = False

    def __init__(self, total: float = 0, echo=print, quiet: bool = False, slots: int = 1):
        self.total, self.done, self.echo, self.quiet = total, 0.0, echo, quiet
        self.slots = max(1, slots)
        self.seconds = 0.0

    # -- the grid ------------------------------------------------------------------------
    def eta(self) -> str:
        if not self.done:
            return "ETA unknown"
        left = (self.total - self.done) * self.seconds / self.done
        return f"ETA {clock(left / min(self.slots, max(1, round(self.total - self.done))))}"

    def drop(self, work: float) -> None:
        """Cells that will not run (their model failed to build, their dataset to load)."""
        self.total -= work

    # -- what happens --------------------------------------------------------------------
    def say(self, text: str) -> None:
        """An information line (not when quiet)."""
        if not self.quiet:
            self.echo(text)

    def error(self, text: str) -> None:
        """A line the user must see, quiet or not."""
        self.echo(text)

    def started(self, cell, where: str = "", images: int = 0) -> None:
        if cell.kind == FINAL:
            self.say(f"[final] {cell.label}: training on all {images} training images")
        else:
            self.say(f"[start] {cell.label}" + (f" on {where}" if where else "")
                     + f"  ({self.eta()})")

    def epoch(self, cell, epoch: int, epochs: int, logs: dict) -> None:
        """One epoch of a running cell ended (only cells running in this process)."""

    def finished(self, cell, seconds: float, status: str = "ok", reason: str = "") -> None:
        self.done += cell.work
        self.seconds += seconds
        if status != "ok":
            self.error(f"[failed] {cell.label}: {status}: {reason}")
        else:
            self.say(f"[done] {cell.label} in {clock(seconds)}  ({self.eta()})")

    def close(self) -> None:
        """The run is over (or stopped): end any live display."""


class LiveProgress(Progress):
    """A live view on a terminal (rich): the overall bar and a line per running cell."""

    live = True

    def __init__(self, console=None, **kwargs):

        self.console = console or Console()
        super().__init__(echo=self._print, **kwargs)
        self.bars = Bars(TextColumn("{task.description}"), BarColumn(bar_width=24),
                         TextColumn("{task.fields[status]}"), console=self.console,
                         transient=True)
        self.grid = self.bars.add_task("all cells", total=1, status="")
        self.cells = {}   # cell -> (task, start time)
        self.pace = {}    # cell -> projected seconds for the whole cell, from its epochs
        self.bars.start()

    def _print(self, text: str) -> None:
        self.bars.console.print(text, markup=False, highlight=False)

    def eta(self) -> str:
        """Before any fold has finished, from the running cells' pace so far."""
        if self.done or not self.pace:
            return super().eta()
        per_fold = sum(self.pace.values()) / sum(c.work or 1 for c in self.pace)
        left = self.total * per_fold - max(time.monotonic() - t0 for _, t0 in
                                           self.cells.values())
        return f"ETA {clock(left / min(self.slots, max(1, round(self.total))))} (estimate)"

    def _update_grid(self) -> None:
        self.bars.update(self.grid, total=max(self.total, 1e-9), completed=self.done,
                         status=f"{done_of(self.done, self.total)}, {self.eta()}")

    def started(self, cell, where: str = "", images: int = 0) -> None:
        label = cell.label + (f" on {where}" if where else "")
        task = self.bars.add_task(label, total=None, status="starting")
        self.cells[cell] = (task, time.monotonic())
        self._update_grid()

    def epoch(self, cell, epoch: int, epochs: int, logs: dict) -> None:
        if cell not in self.cells:
            return
        task, t0 = self.cells[cell]
        spent = time.monotonic() - t0
        self.pace[cell] = spent / epoch * epochs
        numbers = ", ".join(f"{k} {v:.4f}" for k, v in logs.items()
                            if k in ("loss", "accuracy") and isinstance(v, (int, float)))
        self.bars.update(task, total=epochs, completed=epoch,
                         status=f"epoch {epoch}/{epochs}, {numbers}, ETA "
                                f"{clock(spent / epoch * (epochs - epoch))}")
        self._update_grid()

    def finished(self, cell, seconds: float, status: str = "ok", reason: str = "") -> None:
        if cell in self.cells:
            self.bars.remove_task(self.cells.pop(cell)[0])
        self.pace.pop(cell, None)
        super().finished(cell, seconds, status, reason)
        self._update_grid()

    def drop(self, work: float) -> None:
        super().drop(work)
        self._update_grid()

    def close(self) -> None:
        self.bars.stop()


def done_of(done: float, total: float) -> str:
    """How far the grid is: '3 of 6 folds', or, when tuning trials (a fraction of a fold's
    training each) are counted in, the share of the training done."""
    if float(done).is_integer() and float(total).is_integer():
        return f"{done:.0f} of {total:.0f} folds"
    return f"{100 * done / max(total, 1e-9):.0f}% of the training (folds and tuning trials)"


def for_terminal(echo=print, quiet: bool = False, verbose: bool = False) -> Progress:
    """The live view when stdout is a terminal (and neither quiet nor verbose, whose
    Keras lines would tear it), else plain lines."""
    if not quiet and not verbose and sys.stdout.isatty():
        return LiveProgress()
    return Progress(echo=echo, quiet=quiet)
