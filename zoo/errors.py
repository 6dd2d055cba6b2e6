"""Errors a user can act on. The CLI prints them as one line, without a traceback."""


class ZooError(Exception):
    """Base class: a problem the user can fix, described in one line."""


class ConfigError(ZooError):
    """A bad option, flag or zoo.toml entry."""


class DataError(ZooError):
    """A data file that is missing or malformed.

    ``path`` and ``line`` (1-based, when known) say where; ``problem`` says what was expected.
    """

    def __init__(self, path, problem, line=None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class PluginError(ZooError):
    """A plugin that failed to load, or handed over something zoo cannot use."""


class WriteError(ZooError):
    """A file zoo could not write (a full disk, a read-only folder): stops the run, keeping
    everything already written."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"cannot write {self.path}: {problem}")


class FactsError(ZooError):
    """A saved facts file that cannot be read back."""
