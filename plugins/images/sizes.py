"""The size images are brought to, and whether their decoded pixels fit in memory (else they
are streamed from a memory-mapped cache on disk)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

import zoo

#: the default size: the images' median, at most this many pixels a side
MAX_SIDE = 128
#: the decoded arrays may take at most this share of the memory available to the process
#: (the default of --memory-limit)
MEMORY_SHARE = 0.25


def parse_size(value):
    """'64' or 64 -> (64, 64); '64x48' -> (48, 64) as (height, width) for a width x height;
    None stays None. ConfigError otherwise."""
    if value is None:
        return None
    text = str(value).lower().replace(" ", "")
    parts = text.split("x")
    if not all(p.isdigit() for p in parts) or len(parts) not in (1, 2) or \
            not all(4 <= int(p) <= 1024 for p in parts):
        raise zoo.ConfigError(f"--image-size: expected a side like 64 or WIDTHxHEIGHT like "
                              f"64x48 (4 to 1024 pixels), got {value!r}")
    width, height = int(parts[0]), int(parts[-1])
    return height, width


def median_size(files: list, sample: int = 500) -> tuple:
    """(height, width): the median of (a sample of) the images, upright, capped at
    :data:`MAX_SIDE` a side with its aspect ratio kept."""
    from PIL import Image

    rng = np.random.default_rng(0)
    picked = [files[i] for i in rng.choice(len(files), min(sample, len(files)), replace=False)]
    sizes = []
    for path in picked:
        try:
            with Image.open(path) as img:
                w, h = img.size
                if exif_orientation(img) in (5, 6, 7, 8):
                    w, h = h, w
            sizes.append((h, w))
        except Exception:   # a bad file is reported when it is decoded
            continue
    h, w = np.median(sizes, axis=0) if sizes else (MAX_SIDE, MAX_SIDE)
    scale = min(1.0, MAX_SIDE / max(h, w))
    return max(4, int(round(h * scale))), max(4, int(round(w * scale)))


def exif_orientation(img) -> int:
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:
        return 1


def parse_memory(value):
    """'8GB', '512MB', '1.5G', '2GiB' or a number of bytes -> bytes; None stays None.
    ConfigError otherwise."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number, unit = float(value), ""
    else:
        match = _MEMORY.fullmatch(str(value).strip().lower().replace(" ", ""))
        if match is None:
            raise zoo.ConfigError(f"--memory-limit: expected a size like 8GB, 512MB or a "
                                  f"number of bytes, got {value!r}")
        number, unit = float(match.group(1)), match.group(2)
    scale = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "ki": 2 ** 10, "mi": 2 ** 20,
             "gi": 2 ** 30, "ti": 2 ** 40}[unit.rstrip("b")]
    size = int(number * scale)
    if size <= 0:
        raise zoo.ConfigError(f"--memory-limit: expected a size above 0, like 8GB, got "
                              f"{value!r}")
    return size


_MEMORY = re.compile(r"(\d+(?:\.\d+)?)((?:[kmgt]i?)?b?)")


def available_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its cgroup's limit when that
    is lower (a container, a batch job's allocation)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 8 * 1024 ** 3
    for path in ("/sys/fs/cgroup/memory.max",                     # cgroup v2
                 "/sys/fs/cgroup/memory/memory.limit_in_bytes"):   # cgroup v1
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


def memory_limit(given=None) -> int:
    """Bytes the decoded images may take in memory: ``given`` (--memory-limit), else
    :data:`MEMORY_SHARE` of the memory available to the process."""
    return parse_memory(given) or int(available_memory() * MEMORY_SHARE)


def in_memory(count: int, size: tuple, channels: int, limit: int) -> bool:
    """Whether the decoded images fit in memory: uint8, plus a second copy while the test
    split and the cache are made (2 bytes a value), within ``limit`` bytes. Otherwise they
    are streamed from the memory-mapped cache."""
    return count * size[0] * size[1] * channels * 2 <= limit
