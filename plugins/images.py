"""A folder of images as a dataset: ``zoo run --all --images ~/photos``.

Layouts: ``PATH/<class>/*``, or ``PATH/train/<class>/*`` with ``PATH/test/<class>/*`` (the
official test split). Images may sit in subfolders of a class folder. PNG, JPEG, BMP, GIF
(first frame), WebP and TIFF; hidden and system files (``.DS_Store``, ``Thumbs.db``, ``._*``)
are ignored. Every image is turned upright by its EXIF orientation, scaled so that it covers
the target size and cropped to it at the centre (nothing is padded; shrinking averages
areas, enlarging is bilinear), and converted to 8-bit (16-bit, palette and alpha images
included). Grayscale when every image is, else RGB.

Decoding runs in parallel in a tf.data pipeline (TensorFlow's decoders, as Keras'
image_dataset_from_directory; Pillow for TIFF and EXIF tags); the decoded arrays are cached,
keyed by every file's path, size and modification time and by the settings, so a rerun
does not decode again and any change to the folder or the settings decodes afresh. Freshly
decoded images are handed over as a read-only array (TensorFlow's buffer, not a copy of it),
as arrays that arrive through Ray are.

This plugin uses zoo's public names only.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

import zoo

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
#: decoded by Pillow (TensorFlow has no decoder for them)
PILLOW_ONLY = {".tif", ".tiff"}
SYSTEM_FILES = {"thumbs.db", "desktop.ini", "icon\r"}
#: the default size: the images' median, at most this many pixels a side
MAX_SIDE = 128
#: the decoded arrays may take at most this share of the machine's memory
MEMORY_SHARE = 0.25
#: bumped when the decoding changes, so that older caches are not used
LOADER_VERSION = 2
HOW = ("pass --images PATH: a folder with one subfolder of images per class "
       "(PATH/<class>/*), or PATH/train/<class>/* with PATH/test/<class>/*")


# -- the folder ---------------------------------------------------------------------------------
def ignored(name: str) -> bool:
    """Hidden and system files: never images, never classes."""
    return name.startswith(".") or name.lower() in SYSTEM_FILES


def layout(root: Path) -> tuple:
    """(train folder, test folder or None) of an image folder; DataError when there is none."""
    if not root.is_dir():
        raise zoo.DataError(root, "no such folder; " + HOW if not root.exists() else
                            "not a folder; " + HOW)
    if (root / "train").is_dir():
        return root / "train", (root / "test" if (root / "test").is_dir() else None)
    return root, None


def scan(folder: Path) -> tuple:
    """(class names, [(file, class index)], files left out) of one split's folder."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not ignored(p.name))
    if not classes:
        loose = [p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS]
        raise zoo.DataError(folder, "no class folders" + (
            f" (it holds {len(loose)} images directly)" if loose else "") + "; " + HOW)
    files, skipped = [], 0
    for index, name in enumerate(classes):
        found, other = _images_in(folder / name)
        if not found:
            raise zoo.DataError(folder / name, "no images in this class folder (png, jpg, "
                                "bmp, gif, webp or tif); add some or remove the folder")
        files += [(f, index) for f in found]
        skipped += other
    return classes, files, skipped


def _images_in(folder: Path) -> tuple:
    """(image files, number of other files) below ``folder``, following symbolic links; a
    link back to a folder being walked is a loop and a DataError."""
    found, other, stack = [], 0, [(str(folder), frozenset())]
    while stack:
        here, parents = stack.pop()
        real = os.path.realpath(here)
        if real in parents:
            raise zoo.DataError(here, f"symbolic link loop (it leads back to {real}); "
                                "remove the link")
        for entry in os.scandir(here):
            if ignored(entry.name):
                continue
            if entry.is_dir():
                stack.append((entry.path, parents | {real}))
            elif os.path.splitext(entry.name)[1].lower() in EXTENSIONS:
                found.append(entry.path)
            else:
                other += 1
    # paths as strings (10,000 Path objects cost 0.05 s), in pathlib's order: part by part
    return sorted(found, key=lambda f: f.split(os.sep)), other


def check_classes(train: list, test: list, test_folder: Path) -> None:
    """The test split's classes must be the training split's."""
    if test != train:
        missing, extra = sorted(set(train) - set(test)), sorted(set(test) - set(train))
        raise zoo.DataError(test_folder, "its class folders differ from train/'s: "
                            + "; ".join(part for part in (
                                f"missing {', '.join(missing)}" if missing else "",
                                f"not in train/: {', '.join(extra)}" if extra else "") if part)
                            + "; the test split needs exactly the training classes")


# -- settings -----------------------------------------------------------------------------------
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
                if _orientation(img) in (5, 6, 7, 8):
                    w, h = h, w
            sizes.append((h, w))
        except Exception:   # a bad file is reported when it is decoded
            continue
    h, w = np.median(sizes, axis=0) if sizes else (MAX_SIDE, MAX_SIDE)
    scale = min(1.0, MAX_SIDE / max(h, w))
    return max(4, int(round(h * scale))), max(4, int(round(w * scale)))


def _orientation(img) -> int:
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:
        return 1


def memory_limit() -> int:
    """Bytes the decoded images may take: :data:`MEMORY_SHARE` of the machine's memory."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 8 * 1024 ** 3
    return int(total * MEMORY_SHARE)


def check_memory(count: int, size: tuple, channels: int, root: Path) -> None:
    """Before decoding: the decoded images (uint8, plus a second copy while the test split
    and the cache are made: 2 bytes a value) must fit in :data:`MEMORY_SHARE` of the
    machine's memory."""
    need = count * size[0] * size[1] * channels * 2
    if need > memory_limit():
        side = int((memory_limit() / (count * channels * 2)) ** 0.5)
        raise zoo.DataError(root, f"{count:,} images of {size[1]}x{size[0]} would take "
                            f"{need / 1024 ** 3:.1f} GB, more than a quarter of this "
                            f"machine's memory ({memory_limit() / 1024 ** 3:.1f} GB); pass a "
                            f"smaller --image-size (at most about {side})")


# -- decoding -------------------------------------------------------------------------------------
def orientations(files: list) -> np.ndarray:
    """The EXIF orientation of each file (1 where there is none), read by Pillow from the
    file's header."""
    from PIL import Image

    out = np.ones(len(files), dtype=np.int32)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as img:
                out[i] = _orientation(img)
        except Exception:   # a bad file is reported when it is decoded
            pass
    return out


def _fit(tf, image, size):
    """The centred box of ``size``'s aspect ratio (height, width), resized to ``size``, as
    uint8: the image covers ``size`` and its centre is kept, as Pillow's ImageOps.fit does.
    An image of that size already is passed through untouched (no resize, no rounding: the
    common case of a folder of equal images). Shrinking averages each output pixel's area
    of the input (antialiased, as OpenCV's INTER_AREA; plain bilinear would alias a large
    photo, and TensorFlow's antialiased bilinear is much slower); enlarging is bilinear.
    Both mix input pixels with weights that add up to one, so rounding is all the uint8
    needs."""
    th, tw = size
    shape = tf.shape(image)
    h, w = shape[0], shape[1]

    def resized():
        ch = tf.minimum(h, (w * th + tw // 2) // tw)
        cw = tf.minimum(w, (h * tw + th // 2) // th)
        top, left = (h - ch) // 2, (w - cw) // 2
        box = image[top:top + ch, left:left + cw]
        out = tf.cond((ch > th) | (cw > tw), lambda: tf.image.resize(box, size, method="area"),
                      lambda: tf.image.resize(box, size))
        return tf.cast(tf.round(out), tf.uint8)

    return tf.cond((h == th) & (w == tw), lambda: image, resized)


#: how many bytes of each file's start the EXIF check reads
HEAD = 64
#: images decoded at once. tf.data's AUTOTUNE starts low and ramps up, and a single pass over
#: many small files ends before it has: a fixed number, well above the cores, keeps them busy
#: (against AUTOTUNE: benchmarks/results/images.txt)
IN_FLIGHT = max(64, 2 * (os.cpu_count() or 1))
#: large JPEGs are decoded at 1/2, 1/4 or 1/8 of their size (libjpeg's DCT scaling) when that
#: still covers the size asked for: a folder of camera photos decodes several times faster
#: (benchmarks/results/images.txt)
JPEG_SCALING = True
#: JPEGs of fewer bytes are decoded whole: small images decode fast anyway, and the check
#: of a JPEG's size costs a folder of them more than the scaling saves
SCALED_FROM_BYTES = 32 * 1024


def _may_have_exif(tf, heads):
    """Which of ``heads`` (a batch of files' first :data:`HEAD` bytes) are JPEGs that may
    have an EXIF block where the standards put it: first after the start marker, or right
    after a JFIF APP0 segment. When the APP0 segment runs past the head (a JFIF thumbnail),
    the answer is "may" (Pillow then reads the orientation). A batch at a time (a few ops
    for many files), padded so that a short file is never read past its end."""
    head = heads + "\x00" * (HEAD + 16)
    app0 = tf.cast(tf.io.decode_raw(tf.strings.substr(head, 4, 2), tf.uint8), tf.int32)
    after = 8 + app0[:, 0] * 256 + app0[:, 1]   # where the next segment's "Exif" would be
    exif = "Exif\x00\x00"
    next_one = tf.strings.substr(head, tf.minimum(after, HEAD), tf.fill(tf.shape(after), 6))
    return (tf.strings.substr(head, 0, 3) == b"\xff\xd8\xff") & (   # a JPEG (as tf.io.is_jpeg)
        (tf.strings.substr(head, 6, 6) == exif)
        | ((tf.strings.substr(head, 2, 2) == b"\xff\xe0")
           & ((next_one == exif) | (after + 6 > HEAD))))


def decode(files: list, size: tuple) -> np.ndarray:
    """The uint8 images (n, h, w, 3) of ``files``, decoded in parallel by TensorFlow (TIFFs
    by Pillow), turned upright by their EXIF orientation and fitted by :func:`_fit`. Raises
    ValueError when a file cannot be decoded (which one: :func:`bad_files`)."""
    tf = zoo.import_tensorflow()
    by_pillow = np.array([os.path.splitext(f)[1].lower() in PILLOW_ONLY for f in files],
                         dtype=bool)
    tf_index = np.flatnonzero(~by_pillow)
    x, exif = _decode_tf([files[i] for i in tf_index], size)
    turned, turns = np.empty(0, dtype=int), np.empty(0, dtype=np.int32)
    if exif.any():   # the JPEGs that may have an EXIF block: those that say to turn
        says = orientations([files[i] for i in tf_index[exif]])
        valid = (says >= 2) & (says <= 8)
        turned, turns = tf_index[exif][valid], says[valid]
    if not by_pillow.any() and not len(turned):
        return x
    out = np.empty((len(files), size[0], size[1], 3), dtype=np.uint8)
    out[tf_index] = x
    if len(turned):
        out[turned] = _decode_turned(tf, [files[i] for i in turned], turns, size)
    fit = tf.function(lambda image: _fit(tf, image, size),   # traced once for them all
                      input_signature=[tf.TensorSpec((None, None, 3), tf.uint8)])
    for i in np.flatnonzero(by_pillow):
        try:
            out[i] = fit(_pillow(files[i])).numpy()
        except Exception as exc:   # Pillow's errors (OSError, SyntaxError, ...)
            raise ValueError(f"{files[i]}: {exc}") from None
    return out


def all_gray(x: np.ndarray, chunk: int = 256) -> bool:
    """Whether every RGB image of ``x`` is gray (its three channels equal), a chunk at a
    time, stopping at the first chunk with a coloured image (a folder of colour photos
    costs one chunk)."""
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk]
        if not ((part[..., 0] == part[..., 1]).all() and (part[..., 1] == part[..., 2]).all()):
            return False
    return True


def sized(files: list, size: tuple, sample: int = 50) -> bool:
    """Whether a sample of ``files`` (evenly spread, at most ``sample``; their headers, read
    by Pillow) are all stored at ``size`` (height, width) already."""
    from PIL import Image

    for path in files[::max(1, len(files) // sample)]:
        try:
            with Image.open(path) as img:
                if img.size != (size[1], size[0]):
                    return False
        except Exception:   # a bad file is reported when it is decoded
            return False
    return True


def _decode_tf(files: list, size: tuple) -> tuple:
    """Images, and which are JPEGs that may have an EXIF block, decoded in a parallel
    tf.data pipeline. When a sample says the images have ``size`` already (a folder of equal
    images, the common case), they are decoded without the fitting step; should one of
    them have another size after all, all are decoded again with it. Otherwise the large
    JPEGs (:func:`large_jpegs`) go through a pipeline of their own that may scale them
    down while decoding, and the rest through one that never checks (a check per image
    costs a folder of small images about 10%)."""
    if not files:
        return np.empty((0, size[0], size[1], 3), dtype=np.uint8), np.empty(0, dtype=bool)
    tf = zoo.import_tensorflow()
    if sized(files, size):
        try:
            return _pipeline(tf, files, size, fit=False)
        except ValueError:   # another size somewhere (or a bad file): fit every image
            pass
    large = large_jpegs(files)
    parts = [(index, scaled) for index, scaled in ((np.flatnonzero(~large), False),
                                                   (np.flatnonzero(large), True)) if len(index)]
    decoded = [_pipeline(tf, [files[i] for i in index], size, fit=True, scaled=scaled)
               for index, scaled in parts]
    if len(parts) == 1:
        return decoded[0]
    x = np.empty((len(files), size[0], size[1], 3), dtype=np.uint8)
    flags = np.empty(len(files), dtype=bool)
    for (index, _), (part, part_flags) in zip(parts, decoded, strict=True):
        x[index], flags[index] = part, part_flags
    return x, flags


def large_jpegs(files: list) -> np.ndarray:
    """Which ``files`` are JPEGs (by name) of :data:`SCALED_FROM_BYTES` or more, when
    :data:`JPEG_SCALING`: those that :func:`_decode_scaled` may scale down."""
    if not JPEG_SCALING:
        return np.zeros(len(files), dtype=bool)
    return np.array([os.path.splitext(f)[1].lower() in (".jpg", ".jpeg")
                     and os.path.getsize(f) >= SCALED_FROM_BYTES for f in files], dtype=bool)


def _decode_scaled(tf, raw, size):
    """An image's pixels; a JPEG's of :data:`SCALED_FROM_BYTES` or more at the smallest of
    1/8, 1/4, 1/2 and full size that still covers ``size`` (its header says how big it is;
    ``size`` may be tensors), when :data:`JPEG_SCALING`."""
    th, tw = size

    def jpeg():
        shape = tf.io.extract_jpeg_shape(raw)
        h, w = shape[0], shape[1]
        # how many of the ratios 2, 4, 8 keep both sides (rounded up, as libjpeg does) covered
        k = tf.add_n([tf.cast(((h + r - 1) // r >= th) & ((w + r - 1) // r >= tw), tf.int32)
                      for r in (2, 4, 8)])
        return tf.switch_case(k, [lambda r=r: tf.io.decode_jpeg(raw, channels=3, ratio=r)
                                  for r in (1, 2, 4, 8)])

    if not JPEG_SCALING:
        return _decode_whole(tf, raw)
    large = (tf.strings.length(raw) >= SCALED_FROM_BYTES) & tf.io.is_jpeg(raw)
    return tf.cond(large, jpeg, lambda: _decode_whole(tf, raw))


def _decode_whole(tf, raw):
    """Any image's pixels at their full size, RGB (a GIF's first frame), as Keras decodes."""
    return tf.io.decode_image(raw, channels=3, expand_animations=False)


def _upright(tf, image, turn):
    """``image`` turned as its EXIF orientation ``turn`` (2 to 8) says, as Pillow's
    ImageOps.exif_transpose does: mirrored (2, 4), turned half round (3), or with its
    axes swapped (5) and then turned or mirrored (6: a quarter clockwise; 7; 8: a quarter
    anticlockwise)."""
    def swapped():
        return tf.transpose(image, [1, 0, 2])

    return tf.switch_case(turn - 2, [
        lambda: image[:, ::-1], lambda: image[::-1, ::-1], lambda: image[::-1],
        swapped, lambda: swapped()[:, ::-1], lambda: swapped()[::-1, ::-1],
        lambda: swapped()[::-1]])


def _decode_turned(tf, files: list, turns: np.ndarray, size: tuple) -> np.ndarray:
    """The JPEGs whose EXIF orientations ``turns`` say to turn them, decoded (at the scale
    that covers ``size`` once they are upright), turned and fitted, in parallel."""
    def one(path, turn):
        raw = tf.io.read_file(path)
        swap = turn >= 5   # stored on its side: its height must cover the width asked for
        stored = (tf.where(swap, size[1], size[0]), tf.where(swap, size[0], size[1]))
        image = _fit(tf, _upright(tf, _decode_scaled(tf, raw, stored), turn), size)
        image.set_shape((size[0], size[1], 3))
        return image

    return _in_parallel(tf, ([str(f) for f in files], turns), one, len(files))


def _pipeline(tf, files: list, size: tuple, fit: bool, scaled: bool = False) -> tuple:
    """(images, which may have EXIF) of ``files``: decoded (``scaled``: by
    :func:`_decode_scaled`), and fitted to ``size`` when ``fit``."""
    def one(path):
        raw = tf.io.read_file(path)
        image = _decode_scaled(tf, raw, size) if scaled else _decode_whole(tf, raw)
        if fit:
            image = _fit(tf, image, size)
        # unfitted, an image of another size fails the batch below: the caller fits them all
        image.set_shape((size[0], size[1], 3))
        return image, tf.strings.substr(raw, 0, HEAD)

    def exif_flags(images, heads):   # a batch at a time: a few ops for many images
        return images, _may_have_exif(tf, heads)

    return _in_parallel(tf, [str(f) for f in files], one, len(files), exif_flags)


def _in_parallel(tf, slices, one, count: int, then=None):
    """``one`` over the ``count`` elements of ``slices`` in a tf.data pipeline,
    :data:`IN_FLIGHT` at once and in order, into one batch of all (each image is written into
    it without another copy), then ``then`` on that batch, if given. Its tensors come back as
    read-only arrays, views of TensorFlow's buffers (as on Ray) rather than second copies.
    ValueError when an element fails: a file that cannot be decoded, or, unfitted, an image
    of another size than the rest."""
    data = tf.data.Dataset.from_tensor_slices(slices)
    data = data.map(one, num_parallel_calls=IN_FLIGHT, deterministic=True).batch(count)
    try:
        out = (data.map(then) if then else data).get_single_element()
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as exc:
        raise ValueError(str(exc)) from None
    return tuple(map(np.asarray, out)) if isinstance(out, tuple) else np.asarray(out)


def _pillow(path: Path) -> np.ndarray:
    """One image decoded by Pillow: upright (by its EXIF orientation), RGB, 8-bit."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        if img.mode in ("I;16", "I;16B", "I", "F"):   # 16-bit or float: to 8 bits
            a = np.asarray(img, dtype=np.float64)
            a = a / max(1.0, a.max()) * 255
            img = Image.fromarray(a.astype(np.uint8))
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def bad_files(files: list) -> list:
    """(file, problem) of every file that cannot be decoded, checked one by one (the slow
    path, taken only when the fast one failed)."""
    tf = zoo.import_tensorflow()
    bad = []
    for path in files:
        try:
            if os.path.splitext(path)[1].lower() in PILLOW_ONLY:
                _pillow(path)
            else:
                _decode_whole(tf, tf.io.read_file(str(path)))
        except Exception as exc:
            bad.append((path, str(exc).splitlines()[0][:120] or type(exc).__name__))
    return bad


# -- the cache -------------------------------------------------------------------------------------
def cache_key(files: list, settings: dict) -> str:
    """A hash of every file's path, size and modification time, the settings and the
    loader's version: any change to the folder or the settings gives another key."""
    h = hashlib.sha256(json.dumps({"settings": settings, "version": LOADER_VERSION},
                                  sort_keys=True).encode())
    stats = map(os.stat, files)
    h.update("".join(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n"
                     for path, st in zip(files, stats, strict=True)).encode())
    return h.hexdigest()[:24]


#: cache files being written now, by this process: path -> thread
_WRITERS = {}


def read_cache(path: Path):
    if path in _WRITERS:   # written by this process a moment ago: wait for it
        _WRITERS.pop(path).join()
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as a:
            return {k: a[k] for k in a.files}
    except Exception:   # a damaged cache is decoded afresh
        return None


def write_cache(path: Path, arrays: dict) -> None:
    """In a background thread, atomically (a temporary file, then a rename): the load does
    not wait for the disk, and Python waits for the thread before it exits. A cache that
    cannot be written is only a slower next run."""
    import threading

    writer = threading.Thread(target=_write_cache, args=(path, arrays), name="zoo-image-cache")
    _WRITERS[path] = writer
    writer.start()


def _write_cache(path: Path, arrays: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass


# -- loading ----------------------------------------------------------------------------------------
def load(data_dir=None, path=None, image_size=None, color=None, cache_dir=None,
         skip_bad_images=False) -> zoo.Dataset:
    """The images under ``path`` as a zoo.Dataset named after the folder (see the module
    docstring); ``color``: None (gray when every image is), "gray" or "rgb"."""
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
    everything = [f for f, _ in files + test_files]
    size = parse_size(image_size) or median_size(everything)
    settings = {"size": size, "color": color, "skip_bad": bool(skip_bad_images)}
    cache = Path(cache_dir).expanduser() if cache_dir else Path.home() / ".zoo" / "cache"
    cached = cache / f"images-{cache_key(everything, settings)}.npz"
    arrays = read_cache(cached)
    if arrays is None:
        check_memory(len(everything), size, 3, root)
        arrays = _decode_all(root, files, test_files, classes, size, color, skip_bad_images)
        write_cache(cached, arrays)
    return _dataset(root, train, test, arrays, other, str(cached))


def _decode_all(root, files, test_files, classes, size, color, skip_bad) -> dict:
    everything = [f for f, _ in files + test_files]
    labels = np.array([c for _, c in files + test_files], dtype=np.int64)
    is_test = np.array([False] * len(files) + [True] * len(test_files))
    try:
        x = decode(everything, size)
        skipped = []
    except ValueError as exc:
        bad = bad_files(everything)
        if not bad:   # the decoders failed, yet no file alone fails: say what they said
            raise zoo.DataError(root, "could not decode the images "
                                f"({str(exc).splitlines()[0][:200]})") from None
        if not skip_bad:
            path, problem = bad[0]
            raise zoo.DataError(path, f"not a readable image ({problem}); fix or remove it, "
                                "or pass --skip-bad-images to leave such files out"
                                + (f" ({len(bad)} found)" if len(bad) > 1 else "")) from None
        keep = np.array([p not in {b for b, _ in bad} for p in everything])
        everything = [p for p, k in zip(everything, keep, strict=True) if k]
        labels, is_test = labels[keep], is_test[keep]
        x = decode(everything, size)
        skipped = [str(p) for p, _ in bad]
    gray_wanted = color == "gray" or (color is None and all_gray(x))
    x = x[..., :1] if gray_wanted else x
    return {"x": x, "y": labels, "test": is_test, "classes": np.array(classes),
            "skipped": np.array(skipped, dtype=str)}


def _dataset(root, train, test, arrays, other, cached) -> zoo.Dataset:
    x, y, is_test = arrays["x"], arrays["y"], arrays["test"]
    classes = [str(c) for c in arrays["classes"]]
    skipped = [str(s) for s in arrays["skipped"]]
    notes = []
    if skipped:
        notes.append(f"{len(skipped)} unreadable image(s) were left out "
                     f"(--skip-bad-images): " + ", ".join(skipped[:20])
                     + (" ..." if len(skipped) > 20 else ""))
    if other:
        notes.append(f"{other} file(s) that are not images were ignored.")
    missing = sorted(set(range(len(classes))) - set(np.unique(y[~is_test]).tolist()))
    if missing:
        raise zoo.DataError(train, "no readable images left in class(es) "
                            + ", ".join(classes[i] for i in missing))
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

