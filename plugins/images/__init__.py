"""A folder of images as a dataset: ``zoo run --all --images ~/photos``.

Layouts: ``PATH/<class>/*``, or ``PATH/train/<class>/*`` with ``PATH/test/<class>/*`` (the
official test split). Images may sit in subfolders of a class folder. PNG, JPEG, BMP, GIF
(first frame), WebP and TIFF; hidden and system files (``.DS_Store``, ``Thumbs.db``, ``._*``)
are ignored. Every image is turned upright by its EXIF orientation, scaled so that it covers
the target size and cropped to it at the centre (nothing is padded; shrinking averages
areas, enlarging is bilinear), and converted to 8-bit (16-bit, palette and alpha images
included). Grayscale when every image is, else RGB.

Decoding runs in parallel: on the TensorFlow backend in a tf.data pipeline (TensorFlow's
decoders, as Keras' image_dataset_from_directory), on JAX and PyTorch by Pillow in a thread
per core, without TensorFlow; both give the same pixels (Pillow reads TIFFs and EXIF tags for
both). The decoded arrays are cached,
keyed by every file's path and contents (a hash of every byte) and by the settings, so a
rerun does not decode again and any change to the folder or the settings decodes afresh; a
cache whose arrays do not fit the settings is decoded afresh too. Freshly
decoded images are handed over as a read-only array (TensorFlow's buffer, not a copy of it),
as arrays that arrive through Ray are.

This plugin uses zoo's public names only. Its parts: :mod:`.folder` (the layout and the
image files), :mod:`.sizes` (the size and the memory the pixels take), :mod:`.decoding`
(which decoder: :mod:`.tfdecode` or :mod:`.pildecode`, by the rules of :mod:`.formats`, fitted
by :mod:`.resize`), :mod:`.cache` and :mod:`.stream`; this module loads a folder through
them.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import zoo

from .cache import cache_key, read_cache, write_cache
from .decoding import all_gray, decode_or_skip
from .folder import HOW, check_classes, layout, scan
from .sizes import in_memory, median_size, memory_limit as limit_of, parse_size
from .stream import read_stream, write_stream

def load(data_dir=None, path=None, image_size=None, color=None, cache_dir=None,
         skip_bad_images=False, memory_limit=None) -> zoo.Dataset:
    """The images under ``path`` as a zoo.Dataset named after the folder (see the module
    docstring); ``color``: None (gray when every image is), "gray" or "rgb";
    ``memory_limit``: bytes or a size like "8GB" the decoded pixels may take in memory
    (default: a quarter of the memory available to the process); over it they are streamed
    from a memory-mapped cache on disk (:mod:`.stream`)."""
    if path is None:
        raise zoo.DataError(data_dir, HOW)
    if color not in (None, "gray", "rgb"):
        raise zoo.ConfigError(f"--color: expected gray or rgb, got {color!r}")
    root = Path(path).expanduser()
    train, test = layout(root)
    classes, files, other = scan(train)
    test_files = []
    if test is not None:
        test_classes, test_files, more = scan(test)
        check_classes(classes, test_classes, test)
        other += more
    if len(classes) < 2:
        raise zoo.DataError(train, f"only one class folder ({classes[0]}); a classifier "
                            "needs at least two")
    files, test_files, broken = _without_broken_links(files, test_files, skip_bad_images)
    everything = [f for f, _ in files + test_files]
    size = parse_size(image_size) or median_size(everything)
    settings = {"size": size, "color": color, "skip_bad": bool(skip_bad_images)}
    cache = Path(cache_dir).expanduser() if cache_dir else Path.home() / ".zoo" / "cache"
    heads = []
    key = cache_key(everything + broken, settings, heads)
    limit = limit_of(memory_limit)
    if not in_memory(len(everything), size, 3, limit):
        return _streamed(root, train, test, files, test_files, classes, size, color,
                         skip_bad_images, cache / f"images-{key}", other, broken, limit)
    cached = cache / f"images-{key}.npz"
    arrays = read_cache(cached, size, len(everything) + len(broken), len(classes))
    if arrays is None:
        arrays = _decode_all(root, files, test_files, classes, size, color, skip_bad_images,
                             heads[:len(everything)])
        arrays["skipped"] = np.array(broken + arrays["skipped"].tolist(), dtype=str)
        write_cache(cached, arrays)
    return _dataset(root, train, test, arrays, other, str(cached))


def _streamed(root, train, test, files, test_files, classes, size, color, skip_bad, folder,
              other, broken, limit) -> zoo.Dataset:
    """A dataset over the memory limit: decoded chunk by chunk into the on-disk cache (once)
    and handed over memory-mapped, read-only."""
    count = len(files) + len(test_files)
    arrays = read_stream(folder, size, count + len(broken), len(classes))
    if arrays is None:
        try:
            arrays = write_stream(folder, root, files, test_files, classes, size, color,
                                  skip_bad)
        except OSError as exc:
            raise zoo.DataError(folder, f"cannot write the decoded-image cache "
                                f"({exc.strerror or exc}); free some disk space or pass "
                                "--cache-dir on a larger disk") from None
        arrays["skipped"] = np.array(broken + arrays["skipped"].tolist(), dtype=str)
        np.save(folder / "skipped.npy", arrays["skipped"])
    x, y, test_flags = arrays["x_train"], arrays["y"], arrays["test"]
    decoded = count * size[0] * size[1] * x.shape[3]
    notes = _notes([str(s) for s in arrays["skipped"]], other)
    notes.append(f"streamed from disk: the decoded images take {decoded / 1e9:.2f} GB, over "
                 f"the memory limit of {limit / 1e9:.2f} GB (--memory-limit); they are read "
                 f"a batch at a time from the memory-mapped cache {folder}")
    _check_classes_left(train, classes, y[~test_flags])
    h, w, c = x.shape[1:]
    return zoo.Dataset(
        name=root.resolve().name, x=x, y=y[~test_flags], class_names=[str(n) for n in classes],
        x_test=arrays.get("x_test") if test_flags.any() else None,
        y_test=y[test_flags] if test_flags.any() else None,
        source=f"{train}" + (f" + {test}" if test is not None else "")
        + f" ({w}x{h} {'grayscale' if c == 1 else 'RGB'}; streamed from the memory-mapped "
          f"cache {folder})", notes=notes)


def _notes(skipped: list, other: int) -> list:
    notes = []
    if skipped:
        notes.append(f"{len(skipped)} unreadable image(s) were left out "
                     f"(--skip-bad-images): " + ", ".join(skipped[:20])
                     + (" ..." if len(skipped) > 20 else ""))
    if other:
        notes.append(f"{other} file(s) that are not images were ignored.")
    return notes


def _check_classes_left(train, classes, y) -> None:
    missing = sorted(set(range(len(classes))) - set(np.unique(y).tolist()))
    if missing:
        raise zoo.DataError(train, "no readable images left in class(es) "
                            + ", ".join(str(classes[i]) for i in missing))


def _without_broken_links(files, test_files, skip_bad: bool) -> tuple:
    """(files, test files, broken links): a link whose target is gone is named like any bad
    file, or with --skip-bad-images left out and counted (it once stopped the run with a
    bare FileNotFoundError, the flag or not)."""
    broken = [f for f, _ in files + test_files if not os.path.exists(f)]
    if broken and not skip_bad:
        raise zoo.DataError(broken[0], "a broken link: the file it points to "
                            f"({os.readlink(broken[0]) if os.path.islink(broken[0]) else '?'})"
                            " does not exist; fix or remove it, or pass --skip-bad-images "
                            "to leave such files out"
                            + (f" ({len(broken)} found)" if len(broken) > 1 else ""))
    gone = set(broken)
    return ([f for f in files if f[0] not in gone], [f for f in test_files if f[0] not in gone],
            broken)


def _decode_all(root, files, test_files, classes, size, color, skip_bad, heads=None) -> dict:
    everything = [f for f, _ in files + test_files]
    labels = np.array([c for _, c in files + test_files], dtype=np.int64)
    is_test = np.array([False] * len(files) + [True] * len(test_files))
    x, keep, skipped = decode_or_skip(root, everything, size, skip_bad, heads)
    labels, is_test = labels[keep], is_test[keep]
    gray_wanted = color == "gray" or (color is None and all_gray(x))
    x = x[..., :1] if gray_wanted else x
    return {"x": x, "y": labels, "test": is_test, "classes": np.array(classes),
            "skipped": np.array(skipped, dtype=str)}


def _dataset(root, train, test, arrays, other, cached) -> zoo.Dataset:
    x, y, is_test = arrays["x"], arrays["y"], arrays["test"]
    classes = [str(c) for c in arrays["classes"]]
    notes = _notes([str(s) for s in arrays["skipped"]], other)
    _check_classes_left(train, classes, y[~is_test])
    h, w, c = x.shape[1:]
    split = is_test.any()   # without a test split, no copy of the images is made
    return zoo.Dataset(   # 8-bit pixels: zoo scales them a batch at a time
        name=root.resolve().name, x=x[~is_test] if split else x, y=y[~is_test],
        class_names=classes, x_test=x[is_test] if split else None,
        y_test=y[is_test] if split else None,
        source=f"{train}" + (f" + {test}" if test is not None else "")
        + f" ({w}x{h} {'grayscale' if c == 1 else 'RGB'}; decoded arrays cached in {cached})",
        notes=notes)


def available(data_dir=None):
    return False, HOW


@zoo.hookimpl
def register_datasets(register):
    register(zoo.DatasetSpec(
        name="images", load=load, available=available,
        description="a folder of your images, one subfolder per class (zoo run --images PATH)"))
