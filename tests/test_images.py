"""A folder of images as a dataset (zoo_plugins.images, `zoo run --images PATH`): layouts,
decoding, the cache, and every kind of bad input. The images are made in the tests."""
import os
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import zoo
from zoo.cli import cli
from zoo_plugins import images
from zoo_plugins.images import decoding, formats, resize, sizes, tfdecode

COLOURS = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}


def make_folder(root, classes=("red", "green", "blue"), per_class=6, size=(24, 32),
                fmt="png", gray=False, seed=0):
    """root/<class>/<i>.<fmt>: noise with a coloured block whose place and colour say the
    class."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            a = rng.integers(0, 60, (*size, 3)).astype(np.uint8)
            a[4:12, 4 + 6 * c:12 + 6 * c] = COLOURS.get(name, (255, 255, 255))
            img = Image.fromarray(a)
            (img.convert("L") if gray else img).save(folder / f"{i}.{fmt}")
    return root


def load(root, **options):
    return images.load(None, path=str(root), cache_dir=str(root.parent / "cache"), **options)


@pytest.fixture(params=["tensorflow", "pillow"])
def decoder(request, monkeypatch):
    """The test once with each decoder (TensorFlow's pipeline, Pillow's threads)."""
    monkeypatch.setattr(decoding, "DECODER", request.param)
    return request.param


def test_a_folder_of_class_folders_is_a_dataset(tmp_path):
    root = make_folder(tmp_path / "fruit")
    (root / "red" / ".DS_Store").write_text("x")          # hidden and system files:
    (root / "green" / "Thumbs.db").write_text("x")        # ignored
    (root / "blue" / "._0.png").write_bytes(b"AppleDouble")
    (root / "notes.txt").write_text("not a class")
    ds = load(root)
    assert ds.name == "fruit" and ds.class_names == ["blue", "green", "red"]
    # 8-bit pixels: zoo scales them a batch at a time (a quarter of float32's memory)
    assert ds.x.shape == (18, 24, 32, 3) and ds.x.dtype == np.uint8 and not ds.has_test
    assert np.bincount(ds.y).tolist() == [6, 6, 6]
    ds.validate()
    # the coloured block of the red images is where make_folder put it, in red
    red = ds.x[ds.y == 2][0]
    assert red[8, 8, 0] > 180 and red[8, 8, 2] < 50


def test_train_and_test_folders_make_an_official_test_split(tmp_path):
    make_folder(tmp_path / "fruit" / "train")
    make_folder(tmp_path / "fruit" / "test", per_class=2, seed=1)
    ds = load(tmp_path / "fruit")
    assert ds.has_test and len(ds.y) == 18 and len(ds.y_test) == 6
    assert ds.x_test.shape[1:] == ds.x.shape[1:]


def test_the_default_size_is_the_median_capped_at_128_and_can_be_set(tmp_path):
    root = make_folder(tmp_path / "big", size=(300, 200), per_class=2, classes=("a", "b"))
    assert load(root).input_shape == (128, 85, 3)       # 300x200 scaled to 128 high
    assert load(root, image_size="40").input_shape == (40, 40, 3)
    assert load(root, image_size="64x48").input_shape == (48, 64, 3)   # width x height
    with pytest.raises(zoo.ConfigError, match="--image-size: expected a side like 64"):
        load(root, image_size="huge")


def test_grayscale_when_every_image_is_gray_else_rgb_and_overridable(tmp_path):
    gray = make_folder(tmp_path / "gray", gray=True, classes=("a", "b"))
    assert load(gray).input_shape[-1] == 1
    assert load(gray, color="rgb").input_shape[-1] == 3
    colour = make_folder(tmp_path / "colour", classes=("red", "blue"))
    assert load(colour).input_shape[-1] == 3
    assert load(colour, color="gray").input_shape[-1] == 1


@pytest.mark.parametrize("where", [0, 255, 256, 599])
def test_one_coloured_image_anywhere_makes_the_folder_rgb(where):
    x = np.repeat(np.random.default_rng(0).integers(0, 255, (600, 4, 4, 1), np.uint8), 3, -1)
    assert decoding.all_gray(x)
    x[where, 2, 3, 1] ^= 1      # one value of one channel of one image, in any chunk
    assert not decoding.all_gray(x)
    assert decoding.all_gray(x[:0])


def _relayout(path, layout):
    """Rewrite a JFIF + EXIF JPEG as a camera writes it (EXIF first, no JFIF segment), or with
    a longer JFIF segment (a thumbnail's worth of bytes) before the EXIF one."""
    data = path.read_bytes()
    assert data[2:4] == b"\xff\xe0"
    length = int.from_bytes(data[4:6], "big")
    if layout == "exif first":
        data = data[:2] + data[4 + length:]
    elif layout == "long jfif":
        data = data[:4] + (length + 300).to_bytes(2, "big") + data[6:4 + length] + \
            bytes(300) + data[4 + length:]
    path.write_bytes(data)


@pytest.mark.parametrize("layout", ["jfif", "exif first", "long jfif"])
def test_exif_orientation_is_applied(tmp_path, layout, decoder):
    """A portrait photo stored sideways (EXIF orientation 6: turn 90 degrees clockwise),
    with its EXIF block where cameras and editors put it."""
    root = tmp_path / "turned"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        stored = np.zeros((20, 40, 3), dtype=np.uint8)
        stored[:, :5] = 255              # a white band on the left of the stored pixels
        img = Image.fromarray(stored)
        exif = img.getexif()
        exif[0x0112] = 6
        img.save(root / name / "0.jpg", exif=exif.tobytes(), quality=95)
        _relayout(root / name / "0.jpg", layout)
        with Image.open(root / name / "0.jpg") as check:   # still a JPEG with that EXIF
            assert check.getexif().get(0x0112) == 6
        img.save(root / name / "1.jpg", quality=95)   # no EXIF: as stored
    ds = load(root, image_size="20x40")           # 20 wide, 40 high: the upright shape
    upright = ds.x[0]                             # turned clockwise: the band is on top
    assert upright[:3].mean() > 200 and upright[-3:].mean() < 50


def _turned_jpeg(path, orientation, stored):
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = orientation
    img.save(path, exif=exif.tobytes(), quality=100, subsampling=0)


def _as_pillow_turns(path, size):
    """What Pillow makes of ``path`` upright, fitted by the same fit."""
    from PIL import ImageOps

    with Image.open(path) as img:
        upright = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    return resize.fit(upright, size)


#: how Pillow's ImageOps.exif_transpose turns each EXIF orientation
PILLOW_TURNS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                8: Image.Transpose.ROTATE_90}


def test_every_exif_orientation_turns_as_pillow_turns_it(tmp_path, decoder):
    """Orientations 1 to 8 (mirrored, half turns, quarter turns, swapped axes), turned by
    either decoder: the pixels Pillow's turn of the same decoded pixels gives."""
    rng = np.random.default_rng(2)
    stored = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
    stored[:4, :6] = 255                 # a white corner: where it goes shows the turn
    files = []
    for o in range(1, 9):
        files.append(str(tmp_path / f"{o}.jpg"))
        _turned_jpeg(files[-1], o, stored)
    with Image.open(files[0]) as img:   # unturned
        decoded = np.asarray(img.convert("RGB"))
    for size in ((20, 12), (12, 20)):    # (height, width): upright for 5-8, then for 1-4
        x = decoding.decode(files, size)
        for o in range(1, 9):
            if (o >= 5) == (size == (20, 12)):   # the upright shape: nothing to crop
                turned = Image.fromarray(decoded)
                turned = turned.transpose(PILLOW_TURNS[o]) if o > 1 else turned
                assert np.array_equal(x[o - 1], np.asarray(turned)), o


def test_large_jpegs_are_decoded_scaled_down_close_to_a_whole_decode(tmp_path, monkeypatch,
                                                                     decoder):
    """JPEGs of SCALED_FROM_BYTES or more, ten times the size asked for, are decoded at 1/8
    of their size (one of them stored on its side and turned), beside a small PNG that is
    not: close to decoding them whole, and not the same pixels (so scaled they were)."""
    ramp = np.linspace(0, 255, 400)
    stored = np.stack([np.add.outer(ramp[:200] * 0, ramp), np.add.outer(ramp[:200], ramp * 0),
                       np.full((200, 400), 90.0)], axis=-1).astype(np.uint8)
    Image.fromarray(stored).save(tmp_path / "wide.jpg", quality=100)
    # stored a quarter turn anticlockwise; orientation 6 turns it clockwise, upright again
    _turned_jpeg(tmp_path / "turned.jpg", 6, np.ascontiguousarray(np.rot90(stored)))
    Image.fromarray(stored[::10, ::10]).save(tmp_path / "small.png")
    files = [str(tmp_path / name) for name in ("wide.jpg", "turned.jpg", "small.png")]
    monkeypatch.setattr(formats, "SCALED_FROM_BYTES", 1024)
    # by name, as stored: the turned one (400 high) covers 40 wide at 1/4; upright, at 1/8
    assert formats.ratios(files, (20, 40)).tolist() == [8, 4, 1]
    assert formats.ratios(files, (20, 40), turns=[1, 6, 1]).tolist() == [8, 8, 1]
    scaled = decoding.decode(files, (20, 40))
    monkeypatch.setattr(formats, "JPEG_SCALING", False)
    assert formats.ratios(files, (20, 40), turns=[1, 6, 1]).tolist() == [1, 1, 1]
    whole = decoding.decode(files, (20, 40))
    assert scaled.shape == whole.shape == (3, 20, 40, 3)
    for i in (0, 1):
        assert np.abs(scaled[i].astype(int) - whole[i].astype(int)).mean() < 3
        assert not np.array_equal(scaled[i], whole[i])
    assert np.array_equal(scaled[2], whole[2])
    assert np.abs(scaled[0].astype(int) - scaled[1].astype(int)).mean() < 3   # turned upright


def test_which_heads_may_have_an_exif_block():
    """The batch check on each file's first bytes: a "yes" or "may" sends the file to Pillow
    for its orientation; a "no" must be sure."""
    jfif = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(9)          # APP0 of 16 bytes
    heads = {
        "exif first": b"\xff\xd8\xff\xe1\x00\x40Exif\x00\x00" + bytes(40),
        "exif after jfif": jfif + b"\xff\xe1\x00\x40Exif\x00\x00" + bytes(40),
        "no exif after jfif": jfif + b"\xff\xdb\x00\x43" + bytes(60),
        "jfif running past the head": b"\xff\xd8\xff\xe0\x01\x00JFIF" + bytes(60),
        "tables first": b"\xff\xd8\xff\xdb\x00\x43" + bytes(60),
        "png": b"\x89PNG\r\n\x1a\n" + bytes(60),
        "short": b"\xff\xd8\xff",
        "empty": b"",
    }
    got = [formats.may_have_exif(h) for h in heads.values()]
    assert dict(zip(heads, got, strict=True)) == {
        "exif first": True, "exif after jfif": True, "no exif after jfif": False,
        "jfif running past the head": True, "tables first": False, "png": False,
        "short": False, "empty": False}


def test_images_of_the_size_already_skip_the_fitting_and_others_still_fit(tmp_path,
                                                                          monkeypatch):
    """A folder of equal images is decoded without the fitting step, to the same pixels;
    an image of another size that the sample missed makes the whole folder fit."""
    root = make_folder(tmp_path / "p", classes=("a", "b"), size=(20, 30), fmt="jpg")
    files = sorted(str(p) for p in root.rglob("*.jpg"))
    tf = zoo.import_tensorflow()
    assert tfdecode.sized(files, (20, 30)) and not tfdecode.sized(files, (30, 20))
    fast, _ = tfdecode._pipeline(tf, files, (20, 30), fit=False)
    fitted, _ = tfdecode._pipeline(tf, files, (20, 30), fit=True)
    assert np.array_equal(fast, fitted)
    Image.fromarray(np.full((40, 60, 3), 90, dtype=np.uint8)).save(root / "a" / "big.jpg")
    files = sorted(str(p) for p in root.rglob("*.jpg"))
    monkeypatch.setattr(tfdecode, "sized", lambda *a, **k: True)   # the sample missed it
    x, _ = tfdecode._decode_tf(files, (20, 30))
    assert x.shape == (13, 20, 30, 3) and abs(int(x[files.index(str(root / "a" / "big.jpg"))]
                                                  .mean()) - 90) <= 2
    assert np.array_equal(np.delete(x, files.index(str(root / "a" / "big.jpg")), axis=0),
                          fitted)


@pytest.mark.parametrize("side", [10, 40])
def test_pillow_and_tensorflow_fit_an_image_alike(tmp_path, side):
    """TIFFs and turned JPEGs are decoded by Pillow, the rest by TensorFlow, and all are
    fitted alike: shrunk (by area, a fractional factor here) or enlarged (bilinear), the
    same picture comes out the same."""
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (24, 36, 3), dtype=np.uint8)
    a[:, 12:24] = (255, 0, 0)
    Image.fromarray(a).save(tmp_path / "p.png")
    Image.fromarray(a).save(tmp_path / "p.tif")
    x = decoding.decode([str(tmp_path / "p.png"), str(tmp_path / "p.tif")], (side, side))
    assert x.shape == (2, side, side, 3)
    assert np.array_equal(x[0], x[1])


def test_16_bit_palette_and_alpha_images_are_converted_not_refused(tmp_path, decoder):
    root = tmp_path / "kinds"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        Image.fromarray((np.arange(24 * 32).reshape(24, 32) * 80).astype(np.uint16)).save(
            root / name / "16bit.png")
        Image.fromarray(np.full((24, 32, 3), 120, np.uint8)).convert("P").save(
            root / name / "palette.png")
        Image.fromarray(np.full((24, 32, 4), 200, np.uint8)).save(root / name / "alpha.png")
        Image.fromarray(np.full((24, 32, 3), 50, np.uint8)).save(root / name / "t.tif")
        Image.fromarray(np.full((24, 32, 3), 50, np.uint8)).save(root / name / "g.gif")
        Image.fromarray(np.full((24, 32, 3), 50, np.uint8)).save(root / name / "b.bmp")
    ds = load(root)
    assert len(ds.y) == 12 and ds.x.dtype == np.uint8


@pytest.mark.parametrize("arrange, says", [
    (lambda r: None, "no such folder"),
    (lambda r: r.mkdir(), "no class folders"),
    (lambda r: (make_folder(r, classes=("a",)), None), r"only one class folder \(a\)"),
    (lambda r: (make_folder(r, classes=("a", "b")), (r / "c").mkdir()),
     "no images in this class folder"),
])
def test_a_folder_that_is_no_dataset_is_named_with_what_to_do(tmp_path, arrange, says):
    root = tmp_path / "photos"
    arrange(root)
    with pytest.raises(zoo.DataError, match=says) as err:
        load(root)
    assert str(root) in str(err.value)


def test_test_classes_must_match_the_training_classes(tmp_path):
    make_folder(tmp_path / "p" / "train", classes=("a", "b", "c"))
    make_folder(tmp_path / "p" / "test", classes=("a", "b", "d"), per_class=1)
    with pytest.raises(zoo.DataError, match=r"test: its class folders differ from train/'s: "
                                            r"missing c; not in train/: d"):
        load(tmp_path / "p")


def test_a_symlink_loop_is_named(tmp_path):
    root = make_folder(tmp_path / "p", classes=("a", "b"))
    os.symlink(root / "a", root / "a" / "again")
    with pytest.raises(zoo.DataError, match="symbolic link loop"):
        load(root)


def test_a_corrupt_image_is_named_or_skipped_and_counted(tmp_path, decoder):
    root = make_folder(tmp_path / "p", classes=("a", "b"))
    good = (root / "a" / "0.png").read_bytes()
    (root / "a" / "broken.png").write_bytes(good[: len(good) // 2])   # truncated
    (root / "b" / "junk.jpg").write_bytes(b"not an image at all")
    (root / "b" / "junk.tif").write_bytes(b"II*\x00 nor is this")   # Pillow's to decode
    with pytest.raises(zoo.DataError) as err:
        load(root)
    text = str(err.value)
    assert ("broken.png" in text or "junk." in text) and "--skip-bad-images" in text
    assert "(3 found)" in text
    ds = load(root, skip_bad_images=True)
    assert len(ds.y) == 12   # the 3 bad ones left out
    assert ds.notes[0].startswith("3 unreadable image(s) were left out (--skip-bad-images): ")
    assert all(name in ds.notes[0] for name in ("broken.png", "junk.jpg", "junk.tif"))


def test_what_is_wrong_with_a_file_is_said_in_words_not_op_names(tmp_path, decoder):
    """A decode error once read `{{function_node __wrapped__DecodeImage...}} jpeg::Uncompress
    failed. In`: TensorFlow's op names, cut mid-word."""
    root = make_folder(tmp_path / "p", classes=("a", "b"))
    good = (root / "a" / "0.png").read_bytes()
    (root / "a" / "broken.png").write_bytes(good[: len(good) // 2])
    (root / "b" / "junk.jpg").write_bytes(b"not an image at all")
    said = dict(decoding.bad_files(sorted(str(p) for p in root.rglob("*.*"))))
    assert said[str(root / "a" / "broken.png")].startswith("its PNG data is corrupt or cut short")
    assert said[str(root / "b" / "junk.jpg")] == (
        "it is not an image of a kind zoo reads (PNG, JPEG, BMP, GIF, WebP, TIFF)")
    assert not any("function_node" in w or "[Op:" in w for w in said.values())
    cut = formats.in_words(ValueError("{{function_node x}} " + "word " * 40))
    assert cut.endswith(" ...") and "function_node" not in cut and "wor ..." not in cut


def test_a_corrupt_tiff_alone_is_named_too(tmp_path, decoder):
    """TIFFs are Pillow's to decode: its errors are named as TensorFlow's are."""
    root = make_folder(tmp_path / "p", classes=("a", "b"))
    (root / "a" / "junk.tif").write_bytes(b"II*\x00 not a TIFF")
    with pytest.raises(zoo.DataError, match=r"junk\.tif: not a readable image"):
        load(root)
    assert len(load(root, skip_bad_images=True).y) == 12


def test_images_over_the_memory_limit_are_streamed_from_a_memory_mapped_cache(
        tmp_path, monkeypatch):
    """Over --memory-limit the folder is decoded a chunk at a time into .npy files and handed
    over memory-mapped: the same pixels as in memory, never all of them in memory at once."""
    from zoo_plugins.images import stream

    root = make_folder(tmp_path / "p" / "train", classes=("a", "b"), per_class=7)
    make_folder(tmp_path / "p" / "test", classes=("a", "b"), per_class=3, seed=1)
    root = tmp_path / "p"
    whole = load(root)
    assert not isinstance(whole.x, np.memmap) and whole.streamed == ""
    monkeypatch.setattr(stream, "CHUNK", 4)          # several chunks, one ragged
    chunks = []
    real = decoding.decode
    monkeypatch.setattr(decoding, "decode", lambda paths, size, heads=None:
                        chunks.append(len(paths)) or real(paths, size, heads))
    ds = load(root, memory_limit=10_000)
    assert chunks == [4, 4, 4, 2, 4, 2]              # 14 training images, then 6 test images
    assert isinstance(ds.x, np.memmap) and isinstance(ds.x_test, np.memmap)
    assert ds.streamed.endswith("x_train.npy") and not ds.x.flags.writeable
    for a, b in ((ds.x, whole.x), (ds.y, whole.y), (ds.x_test, whole.x_test),
                 (ds.y_test, whole.y_test)):
        np.testing.assert_array_equal(np.asarray(a), b)
    assert any("streamed from disk" in n and "--memory-limit" in n for n in ds.notes)
    assert ds.fingerprint() == whole.fingerprint()   # the same data: the same runs
    chunks.clear()
    again = load(root, memory_limit="10kB")          # read back, not decoded again
    assert chunks == [] and np.array_equal(np.asarray(again.x), whole.x)


def test_a_streamed_gray_folder_keeps_one_channel_and_skips_bad_images(tmp_path, monkeypatch):
    from zoo_plugins.images import stream

    root = make_folder(tmp_path / "g", classes=("a", "b"), gray=True)
    (root / "a" / "junk.png").write_bytes(b"not a png")
    monkeypatch.setattr(stream, "CHUNK", 5)
    with pytest.raises(zoo.DataError, match=r"junk\.png: not a readable image"):
        load(root, memory_limit=1000)
    ds = load(root, memory_limit=1000, skip_bad_images=True)
    whole = load(root, skip_bad_images=True)
    assert ds.x.shape == whole.x.shape == (12, 24, 32, 1)
    np.testing.assert_array_equal(np.asarray(ds.x), whole.x)
    np.testing.assert_array_equal(ds.y, whole.y)
    assert any("1 unreadable image(s) were left out" in n for n in ds.notes)


@pytest.mark.parametrize("given, expected", [
    ("8GB", 8_000_000_000), ("512 MiB", 512 * 2 ** 20), ("1.5g", 1_500_000_000),
    (123456, 123456), ("2048", 2048)])
def test_memory_limits_read_as_people_write_them(given, expected):
    assert sizes.parse_memory(given) == expected


@pytest.mark.parametrize("given", ["lots", "8 parsecs", "-1GB", 0])
def test_a_memory_limit_that_is_not_a_size_is_named(given):
    with pytest.raises(zoo.ConfigError, match="--memory-limit: expected a size"):
        sizes.parse_memory(given)


def test_the_default_memory_limit_honours_a_cgroup_limit(monkeypatch):
    real = sizes.Path.read_text
    monkeypatch.setattr(sizes.Path, "read_text", lambda self, *a, **k: "1073741824\n"
                        if str(self).endswith(("memory.max", "limit_in_bytes"))
                        else real(self, *a, **k))
    assert sizes.available_memory() == 2 ** 30
    assert sizes.memory_limit() == 2 ** 30 * sizes.MEMORY_SHARE


def test_decoded_images_are_cached_and_any_change_decodes_again(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "p", classes=("a", "b"))
    first = load(root)
    decoded = []
    real = decoding.decode
    monkeypatch.setattr(decoding, "decode", lambda *a: decoded.append(1) or real(*a))
    again = load(root)
    assert decoded == [] and np.array_equal(first.x, again.x)    # from the cache
    assert first.x.dtype == again.x.dtype == np.uint8
    load(root, image_size="16")                                  # other settings: decoded
    assert decoded == [1]
    later = time.time() + 5
    os.utime(root / "a" / "0.png", (later, later))    # touched, the same bytes: the cache
    load(root)
    assert decoded == [1]
    # contents swapped between two files of one size, times restored (cp -p, rsync -a):
    # the old key (path, size, time) reused the old pixels, the labels fully inverted
    a, b = root / "a" / "1.bmp", root / "b" / "1.bmp"
    Image.fromarray(np.full((24, 32, 3), 10, np.uint8)).save(a)
    Image.fromarray(np.full((24, 32, 3), 240, np.uint8)).save(b)
    before = load(root)
    assert decoded == [1, 1]
    times = [(p.stat().st_atime_ns, p.stat().st_mtime_ns) for p in (a, b)]
    bytes_a, bytes_b = a.read_bytes(), b.read_bytes()
    assert len(bytes_a) == len(bytes_b)
    a.write_bytes(bytes_b)
    b.write_bytes(bytes_a)
    for path, (at, mt) in zip((a, b), times, strict=True):
        os.utime(path, ns=(at, mt))
    after = load(root)
    assert decoded == [1, 1, 1]                       # decoded afresh
    assert not np.array_equal(before.x, after.x)


def test_a_cache_that_does_not_fit_the_settings_is_decoded_afresh(tmp_path, monkeypatch):
    """A well-formed cache whose arrays do not fit (5 rows for 40 labels, another size, a
    label past the classes) was trusted."""
    root = make_folder(tmp_path / "p", classes=("a", "b"))
    load(root)
    for writer in list(images.cache._WRITERS.values()):
        writer.join()
    (cached,) = (tmp_path / "cache").glob("images-*.npz")
    good = dict(np.load(cached))
    decoded = []
    real = decoding.decode
    monkeypatch.setattr(decoding, "decode", lambda *a: decoded.append(1) or real(*a))
    for bad in ({"x": good["x"][:5]}, {"x": np.zeros((len(good["x"]), 9, 9, 3), np.uint8)},
                {"y": good["y"] + 7}, {"x": good["x"].astype(np.float32)}):
        for writer in list(images.cache._WRITERS.values()):   # the last rewrite is done
            writer.join()
        images.cache._WRITERS.clear()
        np.savez(cached, **{**good, **bad})
        ds = load(root)
        assert ds.x.dtype == np.uint8 and ds.x.shape == good["x"].shape
    assert decoded == [1, 1, 1, 1]


def test_16_bit_images_give_the_same_pixels_whatever_the_file_type(tmp_path, decoder):
    """The same 16-bit pixels once gave mean 30 as a PNG and 131 as a TIFF (stretched by the
    image's maximum); both keep the high byte, as TensorFlow's PNG decoder does."""
    pixels = (np.arange(24 * 32).reshape(24, 32) * 85 + 7).astype(np.uint16)   # to 65,362
    Image.fromarray(pixels).save(tmp_path / "p.png")
    Image.fromarray(pixels).save(tmp_path / "p.tif")
    x = decoding.decode([str(tmp_path / "p.png"), str(tmp_path / "p.tif")], (24, 32))
    assert np.array_equal(x[0], x[1])
    assert np.array_equal(x[0][..., 0], pixels >> 8)


@pytest.mark.slow
def test_zoo_run_images_end_to_end_with_escaped_class_names(tmp_path):
    root = make_folder(tmp_path / "my photos", classes=("<b>bold & <i>", "ünïcode", "two words"))
    r = CliRunner().invoke(cli, ["run", "cnn:dense=8", "--images", str(root), "-d", "digits",
                                 "--folds", "2", "--epochs", "1", "--cache-dir",
                                 str(tmp_path / "cache"), "--results", str(tmp_path / "r"),
                                 "--out", str(tmp_path / "o"), "--quiet"])
    assert r.exit_code == 0, r.output
    html = (tmp_path / "o" / "index.html").read_text()
    assert "my photos" in html and "digits" in html          # both datasets, as chosen
    assert "&lt;b&gt;bold &amp; &lt;i&gt;" in html and "<b>bold" not in html
    assert "ünïcode" in html and "two words" in html


@pytest.mark.slow
def test_zoo_run_streams_a_folder_over_the_memory_limit_and_says_so(tmp_path):
    root = make_folder(tmp_path / "big", classes=("a", "b"), per_class=8)
    args = ["run", "cnn:dense=8", "--images", str(root), "--folds", "2", "--epochs", "1",
            "--cache-dir", str(tmp_path / "cache"), "--results", str(tmp_path / "r"),
            "--out", str(tmp_path / "o"), "--keep-models", "none"]
    r = CliRunner().invoke(cli, args + ["--memory-limit", "20kB"])
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if x.startswith("big: 16 images"))
    assert "streamed from disk (" in line and "x_train.npy, memory-mapped)" in line
    html = (tmp_path / "o" / "index.html").read_text()
    assert "streamed from disk, a batch at a time, from the memory-mapped cache" in html
    (facts,) = list((tmp_path / "r" / "big").glob("*/*/fold-01.json"))
    assert '"status": "ok"' in facts.read_text()
    # within the limit the same folder is in memory, and the same data is the same run
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0 and "resumed 2" in r.output and "streamed" not in r.output


@pytest.mark.ray
@pytest.mark.slow
def test_near_copies_in_a_folder_are_grouped_and_its_folds_run_on_ray(tmp_path):
    """A folder goes where a built-in dataset goes: the leakage check finds the near-copies
    of each photo, the automatic split groups them, and Ray's workers train its folds."""
    from zoo.store import RunStore, read_json

    root, rng = tmp_path / "copies", np.random.default_rng(0)
    for c, name in enumerate(("a", "b", "c")):
        (root / name).mkdir(parents=True)
        for photo in range(10):
            base = rng.integers(0, 200, (16, 16, 3))
            base[2:6, 2 + 4 * c:6 + 4 * c] = 255
            for copy in range(3):   # each photo three times, a little noise apart
                a = np.clip(base + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8)
                Image.fromarray(a).save(root / name / f"{photo}_{copy}.png")
    results = tmp_path / "r"
    # over the memory limit: the leakage check and the grouping read the memory-mapped cache,
    # and the Ray workers open the cache file instead of receiving the pixels
    r = CliRunner().invoke(cli, ["run", "cnn:dense=8", "--images", str(root), "--folds", "2",
                                 "--epochs", "1", "--executor", "ray", "--cpus-per-task", "1",
                                 "--cache-dir", str(tmp_path / "cache"), "--results",
                                 str(results), "--out", str(tmp_path / "o"),
                                 "--memory-limit", "10kB"])
    assert r.exit_code == 0, r.output
    assert "split chosen automatically: grouped" in r.output
    assert "streamed from disk" in r.output
    run = read_json(results / "last_run.json")["runs"][0]
    store = RunStore(results, "copies", run["run_id"])
    info = store.read_run()
    assert info["protocol"]["split"] == "grouped" and info["leakage"]["groups"] == 30
    facts, _ = store.read_fold("cnn:dense=8", 1)
    assert facts["status"] == "ok" and facts["worker"].startswith("127.0.0.1 pid ")


def test_images_from_zoo_toml_and_two_folders_of_one_name(tmp_path):
    make_folder(tmp_path / "a" / "photos", classes=("x", "y"))
    make_folder(tmp_path / "b" / "photos", classes=("x", "y"))
    r = CliRunner().invoke(cli, ["run", "cnn", "--images", str(tmp_path / "a" / "photos"),
                                 "--images", str(tmp_path / "b" / "photos")])
    assert r.exit_code == 2 and "two folders are named 'photos'" in r.output
    (tmp_path / "zoo.toml").write_text(f'images = "{tmp_path}"\n')
    r = CliRunner().invoke(cli, ["run", "cnn", "--config", str(tmp_path / "zoo.toml")])
    assert r.exit_code == 2 and "images: expected a list of folders" in r.output


@pytest.mark.slow
def test_a_colour_dataset_is_served_in_colour(tmp_path):
    from zoo.show.serve import Predictor

    root = make_folder(tmp_path / "fruit", size=(16, 16), classes=("red", "green"))
    r = CliRunner().invoke(cli, ["run", "cnn:dense=8", "--images", str(root), "--folds", "2",
                                 "--epochs", "1", "--cache-dir", str(tmp_path / "cache"),
                                 "--results", str(tmp_path / "r"), "--quiet", "--out",
                                 str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    predictor = Predictor(tmp_path / "r")
    assert predictor.datasets["fruit"]["input_shape"] == [16, 16, 3]
    example = predictor.example("fruit", 0)
    assert example["shape"] == [16, 16, 3] and len(example["pixels"]) == 16 * 16 * 3
    rgb = predictor.predict("fruit", example["pixels"])
    assert [m["top"][0][0] for m in rgb] == [m["top"][0][0] for m in example["models"]]
    assert len(predictor.predict("fruit", [0.5] * 256)[0]["top"]) == 2   # gray still taken
    with pytest.raises(ValueError, match=r"expected 256 pixel values \(16x16\) or 768 "
                                         r"\(16x16x3\), got 10"):
        predictor.predict("fruit", [0.5] * 10)


@pytest.mark.slow
def test_a_test_folder_leads_the_report(tmp_path):
    make_folder(tmp_path / "fruit" / "train", size=(16, 16))
    make_folder(tmp_path / "fruit" / "test", size=(16, 16), per_class=3, seed=1)
    r = CliRunner().invoke(cli, ["run", "cnn:dense=8", "vit:depth=1", "--images",
                                 str(tmp_path / "fruit"), "--folds", "2", "--epochs", "1",
                                 "--cache-dir", str(tmp_path / "cache"), "--results",
                                 str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--quiet"])
    assert r.exit_code == 0, r.output
    html = (tmp_path / "o" / "index.html").read_text()
    assert "official test split of 9 images" in html
    conclusion = html.split('<b>Conclusion.</b> ')[1]
    assert conclusion.startswith("On the official test split")


def test_images_are_cropped_to_cover_the_size_and_shrunk_without_aliasing(tmp_path):
    root = tmp_path / "shapes"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        wide = np.zeros((20, 60, 3), dtype=np.uint8)
        wide[:, 20:40] = (255, 0, 0)         # a red centre third, black on both sides
        Image.fromarray(wide).save(root / name / "wide.png")
        fine = (np.indices((200, 200)).sum(axis=0) % 2 * 255).astype(np.uint8)
        Image.fromarray(np.stack([fine] * 3, axis=-1)).save(root / name / "fine.png")
    ds = load(root, image_size="20")
    by_name = {p.name: i for i, p in enumerate(sorted(root.rglob("*.png"))) if "/a/" in str(p)}
    x = ds.x
    wide, fine = x[by_name["wide.png"]], x[by_name["fine.png"]]
    # the centre kept, not squeezed or padded: all red
    assert wide.shape == (20, 20, 3) and (wide[..., 0] > 250).all() and (wide[..., 1] < 5).all()
    # a one-pixel checkerboard shrunk tenfold averages to grey instead of aliasing
    assert abs(float(fine.mean()) - 127.5) < 10 and fine.std() < 20


def bomb_png(path, side=20000):
    """A PNG whose header says side x side pixels (a few hundred bytes on disk: the kind of
    file that decoded whole took 1.84 GB)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (side + 1) * 4)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows)
                     + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path):
    root = make_folder(tmp_path / "p", classes=("a", "b"))
    bomb_png(root / "a" / "bomb.png")
    with pytest.raises(zoo.DataError, match=r"bomb\.png: not a readable image \(it is "
                                            r"20,000 x 20,000 pixels, more than the "
                                            r"89,478,485 zoo decodes"):
        load(root)
    assert len(load(root, skip_bad_images=True).y) == 12   # left out, counted, named


def test_the_pixel_limit_is_read_from_every_header_before_decoding(tmp_path, monkeypatch, decoder):
    """PNG, GIF and BMP headers state the size, read for all files at once; a large JPEG's
    is checked where it is parsed (the limit is lowered here so that small files exceed
    it)."""
    from PIL import Image

    paths = []
    for ext, side in (("png", 20), ("gif", 21), ("bmp", 22), ("jpg", 23), ("webp", 24)):
        paths.append(tmp_path / f"x.{ext}")
        Image.fromarray(np.zeros((side, side + 1, 3), np.uint8)).save(paths[-1])
    assert formats.stated_pixels(paths).tolist() == [20 * 21, 21 * 22, 22 * 23, 0, 0]
    monkeypatch.setattr(formats, "MAX_PIXELS", 100)
    with pytest.raises(ValueError, match=formats.TOO_LARGE):
        decoding.decode([str(paths[0])], (8, 8))
    monkeypatch.setattr(formats, "SCALED_FROM_BYTES", 0)   # every JPEG's header is read
    with pytest.raises(ValueError, match=formats.TOO_LARGE):
        decoding.decode([str(paths[3])], (4, 4))


def test_a_broken_link_is_named_and_skip_bad_images_applies_to_it(tmp_path):
    """A dangling symlink once stopped the run with a bare FileNotFoundError, even with
    --skip-bad-images."""
    root = make_folder(tmp_path / "p", classes=("a", "b"))
    (root / "a" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(zoo.DataError, match=r"gone\.png: a broken link: the file it points to "
                                            r"\(.*nowhere\.png\) does not exist.*"
                                            "--skip-bad-images"):
        load(root)
    ds = load(root, skip_bad_images=True)
    assert len(ds.y) == 12 and "gone.png" in ds.notes[0]
    again = load(root, skip_bad_images=True)          # from the cache, the note kept
    assert "gone.png" in again.notes[0] and np.array_equal(ds.x, again.x)


def test_the_numpy_fit_is_tensorflows_to_the_pixel():
    """resize.fit (Pillow's decoder fits with it) against the TensorFlow pipeline's _fit on
    random shapes: shrinking (area) and enlarging (bilinear), fractional factors, one side
    up and one down, exact halves; not one pixel differs."""
    tf = zoo.import_tensorflow()
    rng = np.random.default_rng(5)
    shapes = [((h, w), (th, tw)) for h, w, th, tw in rng.integers(16, 140, (24, 4))]
    shapes += [((64, 64), (32, 32)), ((30, 300), (40, 40)), ((17, 19), (90, 80))]
    for (h, w), size in shapes:
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        image[:, : w // 2] = np.sort(image[:, : w // 2], axis=1)   # smooth parts too
        want = tfdecode._fit(tf, tf.constant(image), tuple(int(v) for v in size)).numpy()
        got = resize.fit(image, tuple(int(v) for v in size))
        assert got.dtype == np.uint8 and np.array_equal(got, want), ((h, w), size)


def _every_kind(folder, monkeypatch):
    """One file of every kind the decoders meet: JPEGs (4:2:0, 4:4:4, gray, progressive,
    CMYK, large enough to be scaled, turned 2 to 8 with EXIF), PNGs (RGB, RGBA, gray, gray
    with alpha, palette with and without transparency, 1-bit, 16-bit gray and colour), GIFs
    (with a transparent colour), BMPs, WebPs (lossy, lossless, with alpha) and a TIFF."""
    tf = zoo.import_tensorflow()
    rng = np.random.default_rng(7)
    h, w = 60, 84
    yy, xx = np.mgrid[0:h, 0:w]
    photo = np.clip(np.stack([xx * 3, yy * 4, (xx + yy) * 2], axis=-1)
                    + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
    rgba = np.dstack([photo, rng.integers(0, 256, (h, w, 1), dtype=np.uint8)])
    pal = Image.fromarray(photo).quantize(40)
    big = np.kron(photo, np.ones((6, 6, 1), np.uint8))   # 360x504: a JPEG scaled down
    kinds = {
        "j420.jpg": (Image.fromarray(photo), {"quality": 80, "subsampling": 2}),
        "j444.jpg": (Image.fromarray(photo), {"quality": 95, "subsampling": 0}),
        "gray.jpg": (Image.fromarray(photo[..., 0]), {"quality": 90}),
        "prog.jpg": (Image.fromarray(photo), {"quality": 85, "progressive": True}),
        "cmyk.jpg": (Image.fromarray(photo).convert("CMYK"), {"quality": 90}),
        "big.jpg": (Image.fromarray(big), {"quality": 90}),
        "rgb.png": (Image.fromarray(photo), {}), "rgba.png": (Image.fromarray(rgba), {}),
        "l.png": (Image.fromarray(photo[..., 1]), {}),
        "la.png": (Image.fromarray(rgba[..., [0, 3]], "LA"), {}),
        "p.png": (pal, {}), "ptrns.png": (pal, {"transparency": 3}),
        "bits.png": (Image.fromarray(photo[..., 0] > 120), {}),
        "g16.png": (Image.fromarray((photo[..., 0].astype(np.uint16) * 257 + 99)), {}),
        "t.gif": (pal, {"transparency": 5}), "b.bmp": (Image.fromarray(photo), {}),
        "w.webp": (Image.fromarray(photo), {"quality": 80}),
        "wl.webp": (Image.fromarray(photo), {"lossless": True}),
        "wa.webp": (Image.fromarray(rgba), {"quality": 80}),
        "t.tif": (Image.fromarray(photo), {}),
    }
    files = []
    for name, (img, options) in kinds.items():
        img.save(folder / name, **options)
        files.append(folder / name)
    (folder / "c16.png").write_bytes(tf.io.encode_png(
        rng.integers(0, 65536, (h, w, 3)).astype(np.uint16)).numpy())
    files.append(folder / "c16.png")
    for o in range(2, 9):
        files.append(folder / f"turned{o}.jpg")
        _turned_jpeg(files[-1], o, big if o in (6, 8) else photo)
    monkeypatch.setattr(formats, "SCALED_FROM_BYTES", 20_000)   # big.jpg, turned 6 and 8
    assert {p.name for p, r in zip(files, formats.ratios(files, (30, 40)), strict=True)
            if r > 1} == {"big.jpg", "turned6.jpg", "turned8.jpg"}
    return [str(p) for p in files]


def test_pillow_decodes_the_very_pixels_tensorflow_decodes(tmp_path, monkeypatch):
    """Decoding without TensorFlow (JAX, PyTorch) gives what TensorFlow's pipeline gives,
    image for image, for every kind of file, shrunk, enlarged and at its own size: a cache
    made on one backend serves the others, and a run's images do not depend on it."""
    files = _every_kind(tmp_path, monkeypatch)
    for size in ((30, 40), (60, 84), (90, 70)):
        got = {}
        for which in ("tensorflow", "pillow"):
            monkeypatch.setattr(decoding, "DECODER", which)
            got[which] = decoding.decode(files, size)
        for i, path in enumerate(files):
            assert np.array_equal(got["tensorflow"][i], got["pillow"][i]), (path, size)
    assert got["pillow"][[files.index(str(tmp_path / n)) for n in ("t.gif", "wa.webp")]].any()


def test_each_decoder_is_chosen_by_the_backend(monkeypatch):
    """TensorFlow's pipeline on the TensorFlow backend; Pillow's on JAX and PyTorch, and
    wherever TensorFlow is not installed."""
    import importlib.util

    monkeypatch.setattr(decoding, "DECODER", None)
    for backend, want in (("tensorflow", "tensorflow"), ("jax", "pillow"), ("torch", "pillow")):
        monkeypatch.setattr(zoo, "keras_backend", lambda b=backend: b)
        assert decoding.decoder() == want
    monkeypatch.setattr(zoo, "keras_backend", lambda: "tensorflow")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow" else real(name, *a))
    assert decoding.decoder() == "pillow"
