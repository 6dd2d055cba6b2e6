import numpy as np
import pytest

from zoo.errors import ConfigError
from zoo.grid.protocol import PRESETS, Protocol, make_splits, read_toml, resolve


def test_presets():
    assert resolve() == PRESETS["quick"]
    paper = resolve(preset="paper")
    assert (paper.folds, paper.epochs, paper.lr, paper.optimizer) == (10, 50, 1e-4, "adam")


def test_flags_override_toml_override_preset(tmp_path):
    path = tmp_path / "zoo.toml"
    path.write_text('preset = "paper"\nepochs = 7\nfolds = 4\n')
    toml = read_toml(path)
    p = resolve(toml=toml, folds=3, epochs=None)
    assert (p.folds, p.epochs, p.lr) == (3, 7, 1e-4)      # flag, toml, preset
    assert resolve(toml=toml, preset="quick").lr == PRESETS["quick"].lr


def test_toml_protocol_table_is_accepted(tmp_path):
    path = tmp_path / "zoo.toml"
    path.write_text("[protocol]\nfolds = 5\nlr = 1\n")
    p = resolve(toml=read_toml(path))
    assert p.folds == 5 and p.lr == 1.0


def test_toml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "zoo.toml"
    path.write_text("folds = 3\nepochs = = 2\n")
    with pytest.raises(ConfigError) as info:
        read_toml(path)
    assert str(path) in str(info.value) and "line 2" in str(info.value)


def test_toml_unknown_key(tmp_path):
    path = tmp_path / "zoo.toml"
    path.write_text("folds = 3\nepocs = 2\n")
    with pytest.raises(ConfigError, match="unknown key 'epocs'; known keys: .*epochs"):
        read_toml(path)


@pytest.mark.parametrize("flags, message", [
    ({"folds": 1}, "folds: expected an integer from 2 to 1,000"),
    ({"epochs": 0}, "epochs: expected an integer from 1 to 100,000"),
    ({"batch_size": -5}, "batch_size: expected an integer from 1 to 1,048,576"),
    # past int64: every fold once failed inside TensorFlow and the run exited 0
    ({"batch_size": 99999999999999999999}, "batch_size: expected an integer from 1 to"),
    ({"folds": 10 ** 9}, "folds: expected an integer from 2 to 1,000"),
    ({"epochs": 10 ** 12}, "epochs: expected an integer from 1 to 100,000"),
    ({"lr": 0.0}, "lr: expected a learning rate > 0"),
    ({"early_stopping": -1}, "early_stopping"),
    ({"augment": -1.0}, r"augment: expected a strength from 0 \(none\) to 5"),
    ({"schedule": "step"}, "schedule: expected one of constant, cosine, got 'step'"),
    ({"warmup": 5, "epochs": 5}, "warmup: expected an integer number of epochs from 0 to 4"),
    ({"weight_decay": 1.0}, "weight_decay: expected a number from 0"),
    ({"label_smoothing": True}, "label_smoothing: expected a number from 0 .*got True"),
    ({"train_sizes": "0.5,x"}, "train_sizes: 'x' is not a number"),
    ({"repeats": 0}, "repeats: expected an integer from 1 to 20"),
    ({"repeats": 21}, "repeats: expected an integer from 1 to 20"),
    ({"repeats": 20, "folds": 100}, r"repeats: .*\(folds x repeats at most 1,000\), got 20"),
    ({"metric": "f 1"}, "metric: expected a metric's name, like accuracy or f1, got 'f 1'"),
])
def test_invalid_settings(flags, message):
    with pytest.raises(ConfigError, match=message):
        resolve(**flags)


def test_toml_wrong_type(tmp_path):
    path = tmp_path / "zoo.toml"
    path.write_text('folds = "ten"\n')
    with pytest.raises(ConfigError, match="folds: expected an integer from 2 to 1,000, got 'ten'"):
        resolve(toml=read_toml(path))


def test_splits_are_stratified_seeded_and_cover_every_sample():
    y = np.repeat(np.arange(4), [30, 20, 10, 40])
    p = Protocol(folds=5, seed=3)
    fold_of = make_splits(y, p)
    assert sorted(np.unique(fold_of)) == [0, 1, 2, 3, 4]
    for k in range(5):
        counts = np.bincount(y[fold_of == k], minlength=4)
        assert counts.tolist() == [6, 4, 2, 8]
    assert (make_splits(y, p) == fold_of).all()
    assert (make_splits(y, Protocol(folds=5, seed=4)) != fold_of).any()


def test_more_folds_than_the_smallest_class_allows():
    y = np.array([0] * 10 + [1] * 3)
    with pytest.raises(ConfigError, match="smallest class has 3"):
        make_splits(y, Protocol(folds=4))


def test_run_id_depends_on_settings_and_data():
    a = Protocol(folds=3)
    assert a.run_id("abc") == Protocol(folds=3).run_id("abc")
    assert a.run_id("abc") != Protocol(folds=4).run_id("abc")
    assert a.run_id("abc") != a.run_id("abd")


def test_recipe_settings_at_their_defaults_keep_the_run_ids_made_before_they_existed():
    import hashlib
    import json

    old = {"folds": 3, "epochs": 5, "batch_size": 128, "optimizer": "adam", "lr": 1e-3,
           "seed": 0, "split": "stratified", "early_stopping": 0, "inner_validation": 0.1}
    before = hashlib.sha256(json.dumps({"protocol": old, "data": "abc"},
                                       sort_keys=True).encode()).hexdigest()[:12]
    # the id is made from the split actually used: the default 'auto' resolves (to
    # stratified when the leakage check finds nothing) before the id is made, see plan.prepare
    assert Protocol(split="stratified").run_id("abc") == before
    assert Protocol(split="stratified", schedule="cosine").run_id("abc") != before
    assert Protocol(split="stratified", augment=0.0).run_id("abc") != before


def test_the_recipe_in_words():
    assert Protocol().recipe() == "Adam lr 0.001, augmentation 1"
    assert Protocol(weight_decay=0.05, schedule="cosine", warmup=2, label_smoothing=0.1,
                    augment=0.0).recipe() == (
        "AdamW lr 0.001 (weight decay 0.05), cosine schedule, 2 warm-up epochs, "
        "label smoothing 0.1, no augmentation")


def test_repeated_splits_are_new_seeded_splits_whose_first_is_the_unrepeated_one():
    from zoo.grid.protocol import fold_seed, held_out, training

    y = np.repeat(np.arange(4), [30, 20, 10, 40])
    once = make_splits(y, Protocol(folds=5, seed=3))
    p = Protocol(folds=5, seed=3, repeats=3)
    splits = make_splits(y, p)
    assert splits.shape == (3, len(y)) and (splits[0] == once).all()
    assert (splits[1] != splits[0]).any() and (splits[2] != splits[1]).any()
    assert (make_splits(y, p) == splits).all()          # seeded
    for r in range(3):                                   # each a stratified 5-fold split
        for k in range(5):
            counts = np.bincount(y[splits[r] == k], minlength=4)
            assert counts.tolist() == [6, 4, 2, 8]
    assert p.total_folds == 15
    for fold in range(15):                               # fold f: fold f % k of repeat f // k
        held, train = held_out(splits, fold), training(splits, fold)
        assert (held == np.flatnonzero(splits[fold // 5] == fold % 5)).all()
        assert sorted(np.concatenate([held, train]).tolist()) == list(range(len(y)))
    # no two fold models, nor the final model, share a seed
    seeds = [fold_seed(p, f) for f in range(15)] + [fold_seed(p, None)]
    assert len(set(seeds)) == 16
    # one split: the helpers read the 1-D array as before
    assert (held_out(once, 2) == np.flatnonzero(once == 2)).all()


def test_repeats_and_the_primary_metric_in_the_run_id():
    assert Protocol(folds=3, repeats=1).run_id("abc") == Protocol(folds=3).run_id("abc")
    assert Protocol(folds=3, repeats=2).run_id("abc") != Protocol(folds=3).run_id("abc")
    # choosing another primary metric judges the same facts again: the same run
    assert Protocol(metric="f1").run_id("abc") == Protocol().run_id("abc")


def test_repeats_and_metric_are_flags_and_zoo_toml_keys(tmp_path):
    path = tmp_path / "zoo.toml"
    path.write_text('repeats = 3\nmetric = "f1"\n')
    p = resolve(toml=read_toml(path))
    assert (p.repeats, p.metric) == (3, "f1")
    assert resolve(toml=read_toml(path), repeats=2).repeats == 2
