"""The folder: its layout, its class folders and their image files."""
from __future__ import annotations

import os
from pathlib import Path


import zoo

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
#: decoded by Pillow whichever decoder decodes the rest (TensorFlow has none for them)
PILLOW_ONLY = {".tif", ".tiff"}
SYSTEM_FILES = {"thumbs.db", "desktop.ini", "icon\r"}
HOW = ("pass --images PATH: a folder with one subfolder of images per class "
       "(PATH/<class>/*), or PATH/train/<class>/* with PATH/test/<class>/*")


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
