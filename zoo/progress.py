"""What a run tells the user while it works: one line per cell start and end, with an ETA
for the whole run that accounts for the number of cells running at once. Work is counted in
whole folds: a learning-curve cell at size 0.25 is a quarter of one."""
from __future__ import annotations


class Progress:
    def __init__(self, total: float = 0, echo=print, quiet: bool = False, slots: int = 1):
        self.total, self.done, self.echo, self.quiet = total, 0.0, echo, quiet
        self.slots = max(1, slots)
        self.seconds = 0.0

    def say(self, text: str) -> None:
        if not self.quiet:
            self.echo(text)

    def eta(self) -> str:
        if not self.done:
            return "ETA unknown"
        left = (self.total - self.done) * self.seconds / self.done
        return f"ETA {clock(left / min(self.slots, max(1, round(self.total - self.done))))}"

    def finished(self, seconds: float, work: float = 1.0) -> None:
        self.done += work
        self.seconds += seconds

    def drop(self, work: float) -> None:
        """Cells that will not run (their model failed to build, their dataset to load)."""
        self.total -= work


def clock(seconds: float) -> str:
    """'1:02:03', or '2:03' under an hour."""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
