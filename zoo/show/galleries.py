"""What the models look at, for the report: the held-out images each model got wrong most
confidently, and the saliency maps (Grad-CAM, attention rollout) that zoo.grid.explain computed
during training, as PNG data URIs. Reads facts only; never imports tensorflow."""
from __future__ import annotations
from zoo.show import png

#: how many confidently wrong images the report shows per model
GALLERY = 8


def _true_labels(fold, indices) -> list:
    """The true class of held-out samples of ``fold``, given by dataset index."""
    true_of = dict(zip(fold.arrays["held_out_index"].tolist(), fold.y_true.tolist(),
                       strict=True))
    return [true_of[int(i)] for i in indices]


def _image_uri(pixels) -> str:
    """A small image as a PNG data URI, enlarged to about 96 pixels wide."""
    return png.data_uri(pixels, max(1, 96 // pixels.shape[1]))


def understanding(run) -> dict:
    """Galleries of the most confidently wrong held-out images and saliency maps, as PNG
    data URIs, from the facts each fold saved."""
    out = {"models": [], "samples": []}
    for model in run.models:
        folds = run.ok_folds(model)
        first = next((f for f in folds if f.fold == 0), None)
        maps = {}
        if first is not None and "explain_images" in first.arrays:
            maps = _maps(first)
            if not out["samples"]:
                labels = _true_labels(first, first.arrays["explain_index"])
                out["samples"] = [{"class": run.classes[t], "src": _image_uri(img)}
                                  for t, img in zip(labels, first.arrays["explain_images"],
                                                    strict=True)]
        errors = first.facts.get("explain_errors", {}) if first is not None else {}
        declared = run.info.get("specs", {}).get(model, {}).get("explain", [])
        out["models"].append({"name": model, "gallery": _gallery(folds, run.classes),
                              "maps": maps, "errors": errors, "declared": declared})
    return out


def _gallery(folds: list, classes: list) -> list:
    """The GALLERY most confidently wrong held-out images over ``folds``."""
    items = []
    for f in folds:
        a = f.arrays
        if "wrong_images" not in a:
            continue
        for i, img, true, pred, conf in zip(a["wrong_index"], a["wrong_images"],
                                            _true_labels(f, a["wrong_index"]),
                                            a["wrong_pred"], a["wrong_confidence"],
                                            strict=True):
            items.append((float(conf), int(i), img, true, int(pred), f.fold + 1))
    items.sort(key=lambda t: -t[0])
    return [{"src": _image_uri(img), "true": classes[t], "pred": classes[p],
             "confidence": conf, "index": i, "fold": fold}
            for conf, i, img, t, p, fold in items[:GALLERY]]


def _maps(first) -> dict:
    """method -> the saliency maps fold 1 saved, over their images."""
    images, maps = first.arrays["explain_images"], {}
    for key, value in first.arrays.items():
        if key.startswith("explain_") and key not in ("explain_images", "explain_index"):
            maps[key[len("explain_"):].replace("_", "-")] = [
                _image_uri(png.overlay(img, m)) for img, m in zip(images, value, strict=True)]
    return maps
