"""Readers for image datasets stored as label + pixel tables (the Kaggle MNIST-style CSV)
and as .npz archives. Every problem is one :class:`DataError` naming file, line and what was
expected; nothing is returned from a file that is not entirely valid."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from zoo.errors import DataError


def _expected_header(n_pixels: int) -> list:
    return ["label"] + [f"pixel{i}" for i in range(1, n_pixels + 1)]


def read_label_pixel_csv(path, height: int = 28, width: int = 28, labels=None):
    """Read a ``label,pixel1..pixelN`` CSV into ``(x uint8 (n, h, w), y int64 (n,))``.

    Accepts LF or CRLF line ends and a UTF-8 byte-order mark. ``labels``, when given, is the
    set of allowed label values.
    """
    path = Path(path)
    n_pixels = height * width
    shown = f"label,pixel1,...,pixel{n_pixels}"
    text = _read_text(path, shown)
    first, _, body = text.partition("\n")
    _check_header(path, first, _expected_header(n_pixels), shown)
    table = _parse_rows(path, body, n_pixels)
    x, y = table[:, 1:], table[:, 0]
    _check_values(path, x, y, labels)
    return x.reshape(-1, height, width).astype(np.uint8), y


def _read_text(path: Path, shown: str) -> str:
    """The file as text: it exists, is not empty, is UTF-8 and holds no NUL byte."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror}") from None
    if not raw.strip():
        raise DataError(path, f"file is empty; expected a header '{shown}' and one row per image",
                        line=1)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(path, "not UTF-8 text; expected a CSV of integers", line=line) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DataError(path, "contains a NUL byte; expected a CSV of integers", line=line)
    return text


def _check_header(path: Path, first: str, header: list, shown: str) -> None:
    cells = [c.strip() for c in first.rstrip("\r").split(",")]
    if cells == header:
        return
    if cells and cells[0].lstrip("-").isdigit():
        problem = f"missing header; expected the first line to be '{shown}'"
    elif len(cells) != len(header):
        problem = f"header has {len(cells)} columns; expected {len(header)} ('{shown}')"
    else:
        i = next(i for i, (a, b) in enumerate(zip(cells, header, strict=True)) if a != b)
        problem = f"header column {i + 1} is '{cells[i][:40]}'; expected '{header[i]}'"
    raise DataError(path, problem, line=1)


def _parse_rows(path: Path, body: str, n_pixels: int) -> np.ndarray:
    """The rows after the header as an integer table (n, 1 + n_pixels); a row that does not
    parse is named by its line."""
    rows = body.split("\n")
    if rows and rows[-1].strip() == "":
        rows.pop()
    if not rows:
        raise DataError(path, "no data rows after the header", line=2)
    try:
        with np.errstate(all="ignore"):
            table = np.loadtxt(io.StringIO("\n".join(rows)), delimiter=",", dtype=np.int64,
                               ndmin=2, comments=None)
        if table.shape != (len(rows), n_pixels + 1):
            raise ValueError("shape")
    except (ValueError, OverflowError):
        _locate_row_error(path, rows, n_pixels)
        raise DataError(path, "could not parse the rows as integers") from None
    return table


def _check_values(path: Path, x: np.ndarray, y: np.ndarray, labels) -> None:
    """Pixels are 0-255 and labels among ``labels``; the first bad one named by its line."""
    bad = np.flatnonzero((x < 0).any(axis=1) | (x > 255).any(axis=1))
    if len(bad):
        r = int(bad[0])
        col = int(np.flatnonzero((x[r] < 0) | (x[r] > 255))[0])
        raise DataError(path, f"pixel{col + 1} is {x[r, col]}; expected an integer 0-255",
                        line=r + 2)
    if labels is not None:
        allowed = np.array(sorted(labels))
        unknown = np.flatnonzero(~np.isin(y, allowed))
        if len(unknown):
            r = int(unknown[0])
            raise DataError(path, f"unknown label {y[r]}; expected one of "
                            + ",".join(map(str, allowed)), line=r + 2)


def _locate_row_error(path, rows, n_pixels):
    """Slow path, only after the fast parser failed: find the first bad line and say why."""
    names = _expected_header(n_pixels)
    for i, row in enumerate(rows):
        line = i + 2
        cells = row.rstrip("\r").split(",")
        if row.strip() == "":
            raise DataError(path, "empty line; expected a row of "
                            f"{n_pixels + 1} integers", line=line)
        if len(cells) != n_pixels + 1:
            hint = " (the file looks truncated)" if i == len(rows) - 1 else ""
            raise DataError(path, f"found {len(cells)} columns; expected {n_pixels + 1}{hint}",
                            line=line)
        for name, cell in zip(names, cells, strict=True):
            cell = cell.strip()
            if not (cell.lstrip("-").isdigit() and cell.isascii()):
                raise DataError(path, f"{name} is '{cell[:20]}'; expected an integer",
                                line=line)
            if len(cell.lstrip("-")) > 18 and not -2**63 <= int(cell) < 2**63:
                expected = "a label" if name == "label" else "an integer 0-255"
                raise DataError(path, f"{name} is {_shorten(cell)}, far too large; "
                                f"expected {expected}", line=line)


def _shorten(cell: str) -> str:
    return cell if len(cell) <= 24 else f"{cell[:10]}...{cell[-6:]} ({len(cell)} digits)"


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def read_image_npz(path, height: int = 28, width: int = 28, labels=None) -> dict:
    """Read an .npz with x_train, y_train, x_test, y_test (images as (n, h, w) or (n, h*w))."""
    path = Path(path)
    out = _load_arrays(path)
    for part in ("train", "test"):
        out[f"x_{part}"], out[f"y_{part}"] = _checked_part(
            path, part, out[f"x_{part}"], out[f"y_{part}"], height, width, labels)
    return out


def _load_arrays(path: Path) -> dict:
    """The four arrays of the archive, never unpickling anything."""
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except Exception as exc:
        raise DataError(path, f"not a readable .npz archive ({type(exc).__name__})") from None
    out = {}
    with archive:
        missing = [k for k in NPZ_KEYS if k not in archive.files]
        if missing:
            raise DataError(path, f"missing array(s) {', '.join(missing)}; expected "
                            + ", ".join(NPZ_KEYS))
        for key in NPZ_KEYS:
            try:
                out[key] = archive[key]
            except ValueError:
                raise DataError(path, f"array '{key}' holds Python objects; expected numbers") \
                    from None
    return out


def _checked_part(path, part, x, y, height, width, labels):
    """(x, y) of one split, reshaped and checked: shapes, dtypes, pixel range, labels."""
    if x.ndim == 2 and x.shape[1] == height * width:
        x = x.reshape(-1, height, width)
    if x.ndim != 3 or x.shape[1:] != (height, width):
        raise DataError(path, f"x_{part} has shape {x.shape}; expected (n, {height}, {width})")
    if y.shape != (len(x),):
        raise DataError(path, f"y_{part} has shape {y.shape}; expected ({len(x)},)")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(path, f"y_{part} has dtype {y.dtype}; expected integers")
    _check_pixels(path, part, x)
    if labels is not None and len(y):
        unknown = sorted(set(np.unique(y).tolist()) - set(labels))
        if unknown:
            raise DataError(path, f"y_{part} has unknown label(s) {unknown[:5]}; expected "
                            "one of " + ",".join(map(str, sorted(labels))))
    return x, y.astype(np.int64)


def _check_pixels(path, part, x) -> None:
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(path, f"x_{part} has dtype {x.dtype}; expected integers 0-255")
    if len(x) and (not np.isfinite(x).all() or x.min() < 0 or x.max() > 255):
        raise DataError(path, f"x_{part} has values outside 0-255")
    if np.issubdtype(x.dtype, np.floating) and len(x) and (x != np.round(x)).any():
        # images already scaled to [0, 1] would otherwise be divided by 255 once more
        raise DataError(path, f"x_{part} holds fractional values ({float(x.min()):g} to "
                        f"{float(x.max()):g}; already scaled to [0, 1]?); expected pixel "
                        "values 0-255 as in the Kaggle files: save "
                        "np.round(x * 255).astype(np.uint8)")
