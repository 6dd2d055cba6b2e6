"""Facts on disk. Every file is written atomically (write a temporary file, then rename),
so a kill leaves either the old file or the new one, never half of one.

Layout::

    RESULTS/last_run.json                       which runs the last `zoo run` made
    RESULTS/<dataset>/<run_id>/run.json         protocol, dataset summary
    RESULTS/<dataset>/<run_id>/splits.npz       fold_of: the held-out fold of every sample
                                                (one row per repeat of the split, --repeats)
    RESULTS/<dataset>/<run_id>/test_labels.npz  labels of the official test split, if any
    RESULTS/<dataset>/<run_id>/<model>/fold-01.npz   y_prob (held-out fold, test split)
    RESULTS/<dataset>/<run_id>/<model>/fold-01.json  history, timings, status (written last)
    RESULTS/<dataset>/<run_id>/<model>/fold-01.keras the kept model (final.keras + final.json
                                                     for --keep-models final)
    RESULTS/<dataset>/<run_id>/<model>/size-0.25/fold-01.{json,npz}
                                                a learning-curve point: the fold trained on
                                                a quarter of its training part (no model kept)
    RESULTS/<dataset>/<run_id>/<model>/search/fold-01/trial-001.{json,npz}
                                                a tuning trial of the search inside fold 1 (or
                                                search/all/ for --tune-scope once): its
                                                settings and score, and its inner split's
                                                image indices

The driver process alone writes here (Ray workers hand their outcomes back); this module is
the only one that knows a path.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from zoo import schema
from zoo.errors import FactsError, WriteError, ZooError
from zoo.schema import FOLD_FILE, Facts


_UMASK = os.umask(0)
os.umask(_UMASK)


class RunLocked(ZooError):
    """Another `zoo run` holds the run folder's lock."""


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``path`` atomically: a temporary file beside it (named after the writing
    process), then a rename. Temporaries of the same file left by a process that no longer
    exists (killed mid-write) are removed first."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                   suffix=".tmp")
    except OSError as exc:
        raise WriteError(path.parent, exc.strerror or str(exc)) from None
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        _write_all(fd, data, path)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):  # a full disk, a quota: one line, the old file kept
            raise WriteError(path, exc.strerror or str(exc)) from None
        raise


def _remove_orphans(path: Path) -> None:
    """Remove .NAME.PID.*.tmp beside ``path`` whose writing process PID is gone."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                tmp.unlink()
            except OSError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process: alive
        return True
    return True


def _write_all(fd: int, data: bytes, path: Path) -> None:
    """Write ``data`` to the open temporary file ``fd`` (for ``path``) and flush it to disk."""
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_json(path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True, default=_jsonable)
                              + "\n").encode())


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FactsError(f"{path}: not a readable facts file ({exc}); {_WHAT_TO_DO}") from None


def write_npz(path, **arrays) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def read_npz(path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as data:  # never unpickle
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except Exception as exc:  # truncated, not a zip, bad CRC, pickled objects
        raise FactsError(f"{path}: not a readable facts file ({type(exc).__name__}: "
                         f"{str(exc)[:200]}); {_WHAT_TO_DO}") from None


_WHAT_TO_DO = schema.WHAT_TO_DO


def _jsonable(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def safe_name(name: str) -> str:
    """A file-system-safe folder name for a model or dataset name, unique for distinct names:
    when cleaning changes the name, a short hash of the exact name follows it
    ('cnn:filters=(1,6,8)' and 'cnn:filters=(1_6,8)' would otherwise share a folder)."""
    keep = _cleaned(name)
    if keep == name:
        return keep
    return f"{keep}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _cleaned(name: str) -> str:
    """The name with every character a folder name should not hold replaced (what zoo used
    as the folder name before the hash, still read for runs made then)."""
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return keep.strip(".") or "_"


def size_name(size: float) -> str:
    """The folder of a learning-curve point: the exact size (0.1000001 and 0.1000002 are two
    sizes and two folders)."""
    return f"size-{float(size)!r}"


def _write_finished(meta: Path, data: Path, facts: Facts, arrays: dict) -> None:
    """A fold's or a trial's arrays, then its facts: the json marks it finished."""
    write_npz(data, **arrays)
    write_json(meta, _facts_dict(facts))


def _facts_dict(facts: Facts) -> dict:
    """Facts as written: only through the declared format (zoo.schema)."""
    if not isinstance(facts, Facts):
        raise TypeError(f"facts must be built through zoo.schema, got {type(facts).__name__}")
    return facts.to_dict()


class RunStore:
    """The facts of one dataset under one protocol."""

    def __init__(self, root, dataset: str, run_id: str):
        self.root = Path(root)
        self.dataset = dataset
        self.run_id = run_id
        self.path = self._existing(self.root, dataset) / run_id

    # -- run level -------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self):
        """This run's folder for one `zoo run` at a time: a second one that would train the
        same run stops with the first one's process id (without fcntl, as on Windows, no
        lock is taken)."""
        try:
            import fcntl  # lazy: not on Windows
        except ImportError:
            yield
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            f = open(self.path / ".lock", "a+")
        except OSError as exc:
            raise WriteError(self.path, exc.strerror or str(exc)) from None
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                raise RunLocked(f"{self.path}: another `zoo run` (pid {f.read().strip() or '?'})"
                               " is training this run now; wait for it to finish, or give "
                               "this one another --results folder") from None
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def write_run(self, info: dict) -> None:
        """run.json, with the facts version of the run's facts: this zoo's for a new run; an
        existing run keeps the version it was started in (its older facts are read by it)."""
        version = self.facts_version if self.has_run() else schema.FACTS_VERSION
        info = {k: v for k, v in info.items() if k != "facts_version"}
        if version != schema.UNVERSIONED:
            info["facts_version"] = version
        self._version = version
        write_json(self.path / "run.json", info)

    @property
    def facts_version(self) -> int:
        """The facts version run.json records (zoo.schema.UNVERSIONED where it records none:
        a run made before the format was declared)."""
        if getattr(self, "_version", None) is None:
            info = self.read_run() if self.has_run() else {}
            version = info.get("facts_version", schema.UNVERSIONED) \
                if isinstance(info, dict) else schema.UNVERSIONED
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise FactsError(f"{self.path / 'run.json'}: 'facts_version' is {version!r}; "
                                 f"expected a whole number from 1 to {schema.FACTS_VERSION}")
            self._version = version
        return self._version

    def read_run(self) -> dict:
        return read_json(self.path / "run.json")

    def has_run(self) -> bool:
        return (self.path / "run.json").exists()

    def write_test_labels(self, y_test: np.ndarray) -> None:
        """The official test split's labels, which every fold's test predictions are
        scored against."""
        write_npz(self.path / "test_labels.npz", y_test=y_test)

    def read_test_labels(self):
        path = self.path / "test_labels.npz"
        return read_npz(path)["y_test"] if path.exists() else None

    #: what the report reads of an export's facts (zoo export model), each a number
    EXPORT_NUMBERS = ("latency_ms", "keras_latency_ms", "top1_agreement", "max_abs_diff",
                      "size_bytes", "images")

    def read_exports(self) -> list:
        """The facts of every export of this run's models (`zoo export model`), by model and
        format; a file that is not what zoo writes is left out."""
        out = []
        for path in sorted((self.path / "exports").glob("*.json")):
            try:
                facts = read_json(path)
            except ZooError:
                continue
            if isinstance(facts, dict) and isinstance(facts.get("model"), str) and \
                    isinstance(facts.get("format"), str) and all(
                        isinstance(facts.get(k), (int, float)) and not isinstance(
                            facts.get(k), bool) for k in self.EXPORT_NUMBERS):
                out.append(facts)
        return out

    def write_examples(self, images: np.ndarray, labels: np.ndarray, source: str,
                       fold=None) -> None:
        """A few images no fold model of ``fold`` trained on (uint8), for `zoo serve`'s
        "random test image": from the official test split (``fold`` None), else from one
        held-out fold."""
        write_npz(self.path / "examples.npz", images=images, labels=labels,
                  source=np.array(source), fold=np.array(-1 if fold is None else fold))

    def read_examples(self):
        """(images, labels, source, fold) of :meth:`write_examples`, or None."""
        path = self.path / "examples.npz"
        if not path.exists():
            return None
        a = read_npz(path)
        fold = int(a["fold"])
        return a["images"], a["labels"], str(a["source"]), None if fold < 0 else fold

    def write_splits(self, fold_of: np.ndarray, groups=None) -> None:
        arrays = {"fold_of": fold_of}
        if groups is not None:
            arrays["groups"] = groups
        write_npz(self.path / "splits.npz", **arrays)

    def read_splits(self):
        p = self.path / "splits.npz"
        return read_npz(p)["fold_of"] if p.exists() else None

    # -- fold level ------------------------------------------------------------------------
    @staticmethod
    def _existing(parent: Path, name: str) -> Path:
        """parent / the folder of ``name``; the one named the old way when only it exists."""
        new = parent / safe_name(name)
        old = parent / _cleaned(name)
        return old if not new.exists() and old.exists() else new

    def _model_folder(self, model: str) -> Path:
        return self._existing(self.path, model)

    def fold_paths(self, model: str, fold: int, size: float = 1.0):
        folder = self._model_folder(model)
        if size < 1:
            exact, old = folder / size_name(size), folder / f"size-{size:g}"
            folder = old if not exact.exists() and old.exists() else exact
        base = folder / f"fold-{fold + 1:02d}"
        return base.with_suffix(".json"), base.with_suffix(".npz")

    def model_path(self, model: str, fold=None) -> Path:
        """Where a kept model lives: fold-01.keras, or final.keras for fold=None."""
        return self.path / self.model_file(model, fold)

    def model_file(self, model: str, fold=None) -> str:
        """A kept model's path relative to the run's folder (what facts record)."""
        name = "final" if fold is None else f"fold-{fold + 1:02d}"
        return f"{self._model_folder(model).name}/{name}.keras"

    def has_fold(self, model: str, fold: int, size: float = 1.0) -> bool:
        return self.fold_paths(model, fold, size)[0].exists()

    def fold_status(self, model: str, fold: int, size: float = 1.0):
        """'ok', 'diverged' or 'error' from the fold's facts alone (its arrays are not
        read); None when the fold has no facts yet."""
        facts = self.fold_facts(model, fold, size)
        return None if facts is None else facts["status"]

    def kept_models(self, model: str, folds=()) -> list:
        """Every kept model's path, in the order to serve them: the final one, then the
        folds' (one that cannot be loaded gives way to the next)."""
        return [p for p in (self.model_path(model, fold) for fold in [None, *folds])
                if p.exists()]

    def write_fold(self, model: str, fold: int, facts: Facts, arrays: dict,
                   size: float = 1.0) -> None:
        _write_finished(*self.fold_paths(model, fold, size), facts, arrays)

    def write_model(self, model: str, fold, data: bytes) -> str:
        """Keep a trained model (Keras format bytes) at :meth:`model_path`, atomically;
        returns its path relative to the run's folder."""
        atomic_write_bytes(self.model_path(model, fold), data)
        return self.model_file(model, fold)

    def write_final(self, model: str, facts: Facts) -> None:
        """The facts of the final model trained on all the training data."""
        write_json(self.model_path(model).with_suffix(".json"), _facts_dict(facts))

    def has_final(self, model: str) -> bool:
        return self.model_path(model).with_suffix(".json").exists()

    def fold_facts(self, model: str, fold: int, size: float = 1.0):
        """A fold's facts (its arrays are not read), or None when it has none yet."""
        meta = self.fold_paths(model, fold, size)[0]
        return self._load(meta, FOLD_FILE) if meta.exists() else None

    def _load(self, meta: Path, kinds) -> dict:
        return schema.load(meta, read_json(meta), kinds, self.facts_version)

    # -- tuning trials -----------------------------------------------------------------------
    def search_folder(self, model: str, fold) -> Path:
        """The trials of the search inside outer fold ``fold`` (None: on the whole training
        set)."""
        return self._model_folder(model) / "search" / (
            "all" if fold is None else f"fold-{fold + 1:02d}")

    def trial_paths(self, model: str, fold, number: int):
        base = self.search_folder(model, fold) / f"trial-{number + 1:03d}"
        return base.with_suffix(".json"), base.with_suffix(".npz")

    def write_trial(self, model: str, fold, number: int, facts: Facts, arrays: dict) -> None:
        _write_finished(*self.trial_paths(model, fold, number), facts, arrays)

    def read_trials(self, model: str, fold) -> dict:
        """number -> facts of every finished trial of a search (arrays not read)."""
        out = {}
        for meta in sorted(self.search_folder(model, fold).glob("trial-*.json")):
            raw = read_json(meta)
            if not isinstance(raw, dict) or not isinstance(raw.get("trial"), int) \
                    or not isinstance(raw.get("settings"), dict):
                raise FactsError(f"{meta}: not the facts of a tuning trial; {_WHAT_TO_DO}")
            facts = schema.load(meta, raw, schema.TRIAL_FILE, self.facts_version)
            out[facts["trial"]] = facts
        return out

    def read_trial_arrays(self, model: str, fold, number: int) -> dict:
        return read_npz(self.trial_paths(model, fold, number)[1])

    def read_fold(self, model: str, fold: int, size: float = 1.0):
        meta, data = self.fold_paths(model, fold, size)
        facts = self._load(meta, FOLD_FILE)
        arrays = read_npz(data) if data.exists() else {}
        return facts, arrays


#: where dataset files are looked for when neither --data-dir nor $ZOO_DATA_DIR says
DEFAULT_DATA_DIR = Path.home() / ".zoo" / "data"


def data_dir_from(option=None) -> Path:
    """The folder of dataset files: ``option`` (--data-dir), else $ZOO_DATA_DIR, else
    ~/.zoo/data."""
    if option:
        return Path(option).expanduser()
    env = os.environ.get("ZOO_DATA_DIR")
    return Path(env).expanduser() if env else DEFAULT_DATA_DIR


def last_run_path(root) -> Path:
    return Path(root) / "last_run.json"


def write_last_run(root, entries: list, skipped: list) -> None:
    """Point at the runs of this `zoo run`. A run that made none leaves the pointer to the
    earlier results alone, so that a failed run never hides good results."""
    if not entries:
        return
    write_json(last_run_path(root), {"runs": entries, "skipped": skipped})


def read_last_run(root) -> dict:
    """last_run.json, checked: a list of runs, each a dataset and a run id that name a folder
    inside ``root`` (a hand-edited '../elsewhere' or an absolute path is refused, never
    followed), and what was skipped."""
    path = last_run_path(root)
    if not path.exists():
        raise ZooError(f"no results in {root}: run `zoo run` first (or pass --results DIR)")
    last = read_json(path)
    runs = last.get("runs") if isinstance(last, dict) else None
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs) or \
            not isinstance(last.get("skipped", []), list):
        raise FactsError(f"{path}: not a readable facts file (expected an object with a list "
                         f"of runs); {_WHAT_TO_DO_LAST}")
    for r in runs:   # a dataset's folder is its safe_name; a run id is used as it is
        if not isinstance(r.get("dataset"), str) or not _inside(r.get("run_id")):
            raise FactsError(f"{path}: the run {r.get('dataset')!r} / {r.get('run_id')!r} "
                             f"does not name a folder inside {root}; {_WHAT_TO_DO_LAST}")
    return last


def find_runs(root) -> list:
    """Every run under ``root`` (a folder RESULTS/<dataset>/<run id> with a run.json), newest
    first by when it started; a run.json that cannot be read still lists its run (its
    reader says what is wrong). Folders that are not plain names, and symbolic links, are
    never followed."""
    root = Path(root)
    found = []
    for meta in sorted(root.glob("*/*/run.json")):
        folder, run_id = meta.parent.parent.name, meta.parent.name
        if not (_inside(folder) and _inside(run_id)) or any(
                p.is_symlink() for p in (meta, meta.parent, meta.parent.parent)):
            continue   # never followed out of ``root``
        try:
            info = read_json(meta)
            started = str(info.get("started_at", "")) if isinstance(info, dict) else ""
            name = (info.get("dataset") or {}).get("name") if isinstance(info, dict) else None
        except (OSError, ValueError, ZooError, AttributeError):
            started, name = "", None
        store = RunStore(root, name if isinstance(name, str) else folder, run_id)
        if store.path != meta.parent:   # run.json names a dataset of another folder
            store = RunStore(root, folder, run_id)
        if store.path == meta.parent:
            found.append((started, store))
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [store for _, store in found]


def find_run(root, run_id: str, what: str = "--run"):
    """The run whose id is ``run_id`` or starts with it (as git takes a commit); ZooError
    (naming ``what``, the option or argument) names the known ids when none or several
    match."""
    runs = find_runs(root)
    if not isinstance(run_id, str) or not run_id:
        raise ZooError(f"{what}: expected a run id (`zoo runs` lists them)")
    matches = [s for s in runs if s.run_id == run_id] or \
        [s for s in runs if s.run_id.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(f"{s.run_id} ({s.dataset})" for s in runs[:20]) or "none"
    if matches:
        raise ZooError(f"{what}: {run_id!r} matches {len(matches)} runs in {root} "
                       f"({', '.join(s.run_id for s in matches)}); give more of the id")
    raise ZooError(f"{what}: no run {run_id!r} in {root}; known: {known}")


_WHAT_TO_DO_LAST = ("delete it and run `zoo run` again (finished folds are kept and "
                    "resumed), or restore it from a backup")


def _inside(name) -> bool:
    """``name`` is one plain folder name: no separator, no '..', not absolute, not empty."""
    return isinstance(name, str) and bool(name) and name not in (".", "..") and \
        "/" not in name and "\\" not in name and "\0" not in name and \
        Path(name).name == name
