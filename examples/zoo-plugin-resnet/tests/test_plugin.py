"""The plugin's own tests, with zoo's test kit (zoo.testing.check_plugin and the zoo_plugin
fixture). Run them with the plugin installed: pip install -e . && python -m pytest tests"""
import numpy as np

from zoo.testing import check_plugin


def test_resnet_passes_zoos_checks():
    check = check_plugin("resnet")
    assert [m.name for m in check.models] == ["resnet"]
    assert any("builds, trains an epoch, saves and reloads safely" in p for p in check.passed)


def test_the_image_folder_loads_a_folder_of_pngs(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        folder = tmp_path / "images" / "train" / name
        folder.mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 255, (12, 12, 1), dtype=np.uint8)
            (folder / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    check = check_plugin("image-folder", data_dir=tmp_path)
    assert any("dataset image-folder: 8 images" in p for p in check.passed)


def test_the_metric_is_registered_and_computes(zoo_plugin):
    from zoo.testing import registry
    from zoo_plugin_resnet import metrics

    zoo_plugin(metrics)
    spec = registry().metrics["worst_class_recall"]
    y = np.array([0, 0, 1, 1])
    prob = np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7]])
    assert spec.function(y, prob, 2) == 0.5


def test_options_reach_build():
    from zoo.testing import registry

    build = registry().models["resnet"].build   # zoo run resnet:widths=(8,16) passes these
    assert build((16, 16, 1), 3, widths=(8, 16), dropout=0.1).count_params() < \
        build((16, 16, 1), 3).count_params()
