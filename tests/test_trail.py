"""TrailCheckpoint and trail.select (the plots of a trail: test_plot.py)."""

import json
import os
import shutil
import warnings

import helpers
import keras
import numpy as np
import pytest

import keras_ltp
from keras_ltp import trail
from keras_ltp.callbacks import SparsityMonitor, SparsityTarget, TrailCheckpoint

STEPS = (0.3, 0.5, 0.7, 0.8, 0.85, 0.9)
EPOCHS = 5


@pytest.fixture(scope="module")
def data():
    """1500 real MNIST digits, all classes balanced: 1200 to train on, 300 to
    validate on."""
    return helpers.mnist(1500)


def _pruned(x, y):
    """784-32-10 trained dense for 2 epochs, then pruned."""
    return helpers.pruned_mnist_mlp(x, y, hidden=(32,), metrics=["accuracy"], temperature=1.0)


def _fit(model, x, y, **kwargs):
    kwargs = {"validation_data": (x[1200:], y[1200:]), "epochs": EPOCHS, "batch_size": 64, "verbose": 0, **kwargs}
    return model.fit(x[:1200], y[:1200], **kwargs).history


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    """A short pruning run on real MNIST whose sparsity rises through the steps,
    watched by a trail on val_accuracy and one whose monitor is missing."""
    x, y = data
    model = _pruned(x, y)
    directory = tmp_path_factory.mktemp("trail")
    latest = tmp_path_factory.mktemp("latest")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TrailCheckpoint: the monitored metric")
        history = _fit(
            model,
            x,
            y,
            callbacks=[
                SparsityMonitor(),
                TrailCheckpoint(directory, sparsity_steps=STEPS),
                TrailCheckpoint(latest, sparsity_steps=STEPS, monitor="val_top5"),
            ],
        )
    return model, directory, history, latest


class Sabotage(keras.callbacks.Callback):
    """Makes the last epoch's model the worst (every prediction is class 0)
    once it has trained, before its validation; repairs it at the end of fit,
    as a callback that changes the model after the last epoch would
    (SparsityTarget does, to land on its target)."""

    def _shift(self, amount):
        bias = self.model.layers[-1].layer.bias
        bias.assign(keras.ops.convert_to_numpy(bias.value) + np.eye(10, dtype="float32")[0] * amount)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_test_begin(self, logs=None):  # the epoch's validation
        if self.epoch == EPOCHS - 1:
            self._shift(100.0)

    def on_train_end(self, logs=None):
        self._shift(-100.0)


@pytest.fixture(scope="module")
def crossed(data, tmp_path_factory):
    """The case of the user report: SparsityTarget crosses the only step in
    epoch 1 and holds the sparsity there; the final model is not the best.
    Four trails watch the same run, with different monitors."""
    x, y = data
    model = _pruned(x, y)
    root = tmp_path_factory.mktemp("crossed")
    trails = {
        "acc": TrailCheckpoint(root / "acc", sparsity_steps=(0.3,)),  # val_accuracy, "auto" -> max
        "loss": TrailCheckpoint(root / "loss", sparsity_steps=(0.3,), monitor="val_loss"),  # "auto" -> min
        "worst": TrailCheckpoint(root / "worst", sparsity_steps=(0.3,), mode="min"),
        "missing": TrailCheckpoint(root / "missing", sparsity_steps=(0.3,), monitor="val_top5"),
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = _fit(model, x, y, callbacks=[Sabotage(), SparsityTarget(0.5), SparsityMonitor(), *trails.values()])
    said = [str(w.message) for w in caught if "TrailCheckpoint" in str(w.message)]
    held = _accuracy(model, x, y)  # the model fit() leaves, repaired
    return {name: root / name for name in trails} | {"history": history, "warnings": said, "held": held}


def _accuracy(model, x, y):
    return model.evaluate(x[1200:], y[1200:], batch_size=64, verbose=0, return_dict=True)["accuracy"]


def _kept(entries, step):
    """The entry a step keeps: its non-final one, else the final one."""
    return sorted((e for e in entries if e["step"] == step), key=lambda e: e["final"])[0]


def _files(directory):
    return {name: (directory / name).read_bytes() for name in os.listdir(directory)}


def _copy(directory, to):
    shutil.copytree(directory, to)
    return to


def test_each_step_keeps_its_best_epoch_and_the_final_model(run):
    model, directory, history, _ = run
    entries = trail.read_index(directory)
    assert len(entries) >= 3
    epochs = [e["epoch"] for e in entries]
    assert len(epochs) == len(set(epochs))  # no epoch saved twice (the final model is not copied)
    sparsities = [e["sparsity"] for e in entries]
    assert sparsities == sorted(sparsities)  # this run only grows sparser
    assert sorted(f for f in os.listdir(directory) if f.endswith(".keras")) == sorted(e["file"] for e in entries)
    assert not [f for f in os.listdir(directory) if ".tmp" in f]
    for entry in entries:
        assert "val_accuracy" in entry["metrics"] and "sparsity" in entry["metrics"]
        assert entry["compression"] == pytest.approx(1 / (1 - entry["sparsity"]))  # total / kept
        epoch_index = entry["epoch"] - 1
        assert entry["metrics"]["val_accuracy"] == pytest.approx(history["val_accuracy"][epoch_index])
    # The steps SparsityMonitor's record puts each epoch in, independently.
    epochs_of = {}
    for epoch, value in enumerate(history["sparsity"], start=1):
        if value >= STEPS[0]:
            epochs_of.setdefault(max(s for s in STEPS if s <= value), []).append(epoch)
    assert any(len(epochs) > 1 for epochs in epochs_of.values())  # some step had rivals
    assert {e["step"] for e in entries} == set(epochs_of)
    for step, epochs in epochs_of.items():
        best = max(epochs, key=lambda epoch: (history["val_accuracy"][epoch - 1], -epoch))  # the first best
        assert _kept(entries, step)["epoch"] == best, step
    [final] = [e for e in entries if e["final"]]
    assert final["epoch"] == EPOCHS
    assert final["sparsity"] == keras_ltp.sparsity(model)["sparsity"]
    last = keras.saving.load_model(final["path"])
    assert keras_ltp.sparsity(last)["sparsity"] == pytest.approx(final["sparsity"])


def test_a_step_crossed_in_epoch_one_keeps_its_best_model_and_the_final_one(crossed, data):
    history, directory = crossed["history"], crossed["acc"]
    entries = trail.read_index(directory)
    best = int(np.argmax(history["val_accuracy"])) + 1
    assert min(history["sparsity"]) >= 0.3  # every epoch is in the one step
    assert best != EPOCHS  # Sabotage made the final model the worst
    assert [(e["epoch"], e["step"], e["final"]) for e in entries] == [(best, 0.3, False), (EPOCHS, 0.3, True)]
    assert sorted(os.listdir(directory)) == sorted([e["file"] for e in entries] + [trail.INDEX_NAME])
    chosen = trail.select(directory, min_sparsity=0.3, metric="val_accuracy")
    assert chosen["metrics"]["val_accuracy"] == max(history["val_accuracy"])
    assert chosen["epoch"] == best and not chosen["final"]
    # Each file holds the model its entry describes: evaluating it gives the
    # validation accuracy that fit() logged for that epoch. The final one too,
    # though a callback changed the model after the last epoch (the model
    # fit() leaves is that changed one).
    assert crossed["held"] > 2 * history["val_accuracy"][-1]
    x, y = data
    for entry in entries:
        accuracy = _accuracy(keras.saving.load_model(entry["path"]), x, y)
        assert accuracy == pytest.approx(history["val_accuracy"][entry["epoch"] - 1], abs=1e-6)
        assert accuracy == pytest.approx(entry["metrics"]["val_accuracy"], abs=1e-6)


def test_monitor_and_mode_choose_the_kept_model(crossed, tmp_path):
    history = crossed["history"]
    for name, metric, best in (("loss", "val_loss", min), ("worst", "val_accuracy", min)):
        entries = trail.read_index(crossed[name])
        assert _kept(entries, 0.3)["metrics"][metric] == best(history[metric]), name
        assert [e["epoch"] for e in entries if e["final"]] == [EPOCHS]
    for monitor in ("val_accuracy", "acc", "val_auc", "precision", "val_recall", "f1_score"):
        assert TrailCheckpoint(tmp_path, monitor=monitor).monitor_op is np.greater, monitor
    for monitor in ("val_loss", "mae", "val_top5"):
        assert TrailCheckpoint(tmp_path, monitor=monitor).monitor_op is np.less, monitor
    assert TrailCheckpoint(tmp_path, monitor="val_loss", mode="max").monitor_op is np.greater
    with pytest.raises(ValueError, match="mode must be 'auto', 'max' or 'min', got 'best'"):
        TrailCheckpoint(tmp_path, mode="best")
    with pytest.raises(ValueError, match="not both"):
        TrailCheckpoint(tmp_path, resume=True, overwrite=True)
    assert not os.listdir(tmp_path)  # creating the callback writes nothing


def test_a_missing_monitor_keeps_the_latest_model_and_warns_once(crossed):
    entries = trail.read_index(crossed["missing"])
    assert [(e["epoch"], e["step"], e["final"]) for e in entries] == [(EPOCHS, 0.3, True)]
    assert len(os.listdir(crossed["missing"])) == 2  # the model and the index
    [message] = crossed["warnings"]  # one warning in 5 epochs, from the one trail without its metric
    assert "'val_top5' is not in the epoch's logs" in message and "val_accuracy" in message and "val_loss" in message


def test_without_its_monitor_each_step_keeps_its_latest_epoch(run):
    _, _, history, latest = run
    entries = trail.read_index(latest)
    epochs_of = {}
    for epoch, value in enumerate(history["sparsity"], start=1):
        if value >= STEPS[0]:
            epochs_of.setdefault(max(s for s in STEPS if s <= value), []).append(epoch)
    assert {e["step"] for e in entries} == set(epochs_of)
    for step, epochs in epochs_of.items():
        assert _kept(entries, step)["epoch"] == max(epochs), step
    assert any(not e["final"] for e in entries)  # a step other than the final model's was kept


def test_reusing_a_trail_directory_is_refused_unless_asked(crossed, data, tmp_path):
    x, y = data
    model = keras.saving.load_model(trail.select(crossed["acc"])["path"])
    directory = tmp_path / "trail"
    own = TrailCheckpoint(directory, sparsity_steps=(0.3,))
    _fit(model, x, y, epochs=1, callbacks=[own])
    _fit(model, x, y, epochs=2, initial_epoch=1, callbacks=[own])  # the callback owns what it wrote
    assert [e["epoch"] for e in trail.read_index(directory) if e["final"]] == [2]  # one final model
    before = _files(directory)

    class Epochs(keras.callbacks.Callback):
        began = []

        def on_epoch_begin(self, epoch, logs=None):
            self.began.append(epoch)

    message = f"{directory} already holds a trail. Pass resume=True to continue that trail or overwrite=True"
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        _fit(model, x, y, epochs=3, initial_epoch=2, callbacks=[Epochs(), TrailCheckpoint(directory)])
    assert Epochs.began == [] and _files(directory) == before  # refused before training, nothing written

    # Trail checkpoints without an index are a trail too; other files are not.
    (tmp_path / "orphans").mkdir()
    (tmp_path / "orphans" / "epoch003_sparsity50.00.keras").write_bytes(before[trail.read_index(directory)[0]["file"]])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model.keras").write_bytes(b"not a trail")
    for name, refused in (("orphans", True), ("other", False)):
        callback = TrailCheckpoint(tmp_path / name)
        callback.set_model(model)
        if refused:
            with pytest.raises(ValueError, match="resume=True"):
                callback.on_train_begin()
        else:
            callback.on_train_begin()


def test_overwrite_deletes_the_old_trail_and_nothing_else(crossed, data, tmp_path):
    x, y = data
    directory = _copy(crossed["acc"], tmp_path / "trail")
    old = trail.read_index(directory)
    (directory / "notes.txt").write_text("mine")
    (directory / "mine.keras").write_bytes((directory / old[0]["file"]).read_bytes())
    kept = {name: (directory / name).read_bytes() for name in ("notes.txt", "mine.keras")}
    model = keras.saving.load_model(old[-1]["path"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = _fit(model, x, y, epochs=11, initial_epoch=10, callbacks=[TrailCheckpoint(directory, overwrite=True)])
    assert not [w for w in caught if "TrailCheckpoint" in str(w.message)]
    new = trail.read_index(directory)
    assert [(e["epoch"], e["final"]) for e in new] == [(11, True)]
    assert new[0]["metrics"]["val_accuracy"] == history["val_accuracy"][0]
    assert not any((directory / e["file"]).exists() for e in old)
    assert sorted(os.listdir(directory)) == sorted([new[0]["file"], trail.INDEX_NAME, *kept])
    assert {name: (directory / name).read_bytes() for name in kept} == kept


def test_resume_continues_the_trail(crossed, data, tmp_path):
    x, y = data
    directory = _copy(crossed["acc"], tmp_path / "trail")
    old = trail.read_index(directory)
    old_best, old_final = old
    model = keras.saving.load_model(old_best["path"])
    # As a script restarted after a kill: a new callback, resume=True.
    history = _fit(model, x, y, epochs=8, initial_epoch=5, callbacks=[TrailCheckpoint(directory, (0.3,), resume=True)])
    entries = trail.read_index(directory)
    # The step keeps the best of the old and the new epochs...
    best = max(old_best["metrics"]["val_accuracy"], *history["val_accuracy"])
    kept = _kept(entries, 0.3)
    assert kept["metrics"]["val_accuracy"] == best
    if best == old_best["metrics"]["val_accuracy"]:
        assert (
            kept == old_best and (directory / kept["file"]).read_bytes() == (crossed["acc"] / kept["file"]).read_bytes()
        )
    # ...and the final model is the new one: the old final file is gone.
    [final] = [e for e in entries if e["final"]]
    assert final["epoch"] == 8 and final["metrics"]["val_accuracy"] == history["val_accuracy"][-1]
    assert not (directory / old_final["file"]).exists()
    assert sorted(os.listdir(directory)) == sorted({e["file"] for e in entries} | {trail.INDEX_NAME})
    assert len(entries) == len({e["file"] for e in entries}) <= 2


def test_select_picks_best_metric_above_min_sparsity(run):
    _, directory, _, _ = run
    entries = trail.read_index(directory)
    floor = entries[1]["sparsity"]
    chosen = trail.select(directory, min_sparsity=floor, metric="val_accuracy")
    eligible = [e for e in entries if e["sparsity"] >= floor]
    assert chosen["metrics"]["val_accuracy"] == max(e["metrics"]["val_accuracy"] for e in eligible)
    assert trail.select(directory, metric="sparsity")["file"] == entries[-1]["file"]
    assert trail.select(directory, metric="val_loss", mode="min")["metrics"]["val_loss"] == min(
        e["metrics"]["val_loss"] for e in entries
    )
    with pytest.raises(ValueError, match="No checkpoint .* reaches sparsity 99.99%; the sparsest is"):
        trail.select(directory, min_sparsity=0.9999)
    with pytest.raises(ValueError, match="'top5' was not recorded.*val_accuracy"):
        trail.select(directory, metric="top5")
    with pytest.raises(ValueError, match="mode must be"):
        trail.select(directory, mode="best")


def test_an_index_without_step_and_final_still_reads(tmp_path):
    """Indexes written before `step` and `final` existed."""
    entries = [
        {
            "file": f"epoch00{i}_sparsity{s * 100:.2f}.keras",
            "epoch": i,
            "sparsity": s,
            "compression": 1 / (1 - s),
            "metrics": {"val_accuracy": a, "val_loss": 1 - a},
        }
        for i, s, a in ((1, 0.5, 0.9), (2, 0.8, 0.95), (3, 0.9, 0.95))
    ]
    (tmp_path / trail.INDEX_NAME).write_text(json.dumps(entries))
    read = trail.read_index(tmp_path)
    assert [(e["step"], e["final"]) for e in read] == [(None, False)] * 3
    assert trail.select(tmp_path)["epoch"] == 3  # a tie in val_accuracy: the sparser one
    assert trail.select(tmp_path, metric="val_loss", mode="min")["epoch"] == 3  # the same tie, minimised
    assert trail.select(tmp_path, min_sparsity=0.6, metric="sparsity", mode="min")["epoch"] == 2


def test_trail_bad_input(tmp_path):
    for steps in ((0.9, 0.5), (0.5, 0.5), (0.0, 0.5), (0.5, 1.0), (0.5, 1.5), ()):
        with pytest.raises(ValueError, match="increasing fractions in \\(0, 1\\)"):
            TrailCheckpoint(tmp_path, sparsity_steps=steps)
    with pytest.raises(ValueError, match="mode must be 'auto', 'max' or 'min'"):
        TrailCheckpoint(tmp_path, mode="best")
    with pytest.raises(ValueError, match="holds no trail checkpoint"):
        trail.select(tmp_path)
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable trail index"):
        trail.read_index(tmp_path)


def test_a_sparsity_exactly_on_a_step_has_reached_it(tmp_path):
    # Two of four weights pruned: the sparsity is exactly 0.5, the step.
    layer = keras_ltp.PrunableWrapper(keras.layers.Dense(1, use_bias=False), initial_threshold=0.0)
    model = keras.Sequential([keras.Input((4,)), layer])
    layer.layer.kernel.assign(np.array([[0.1], [0.2], [1.0], [2.0]], "float32"))
    mean_square = float(np.mean(np.array([0.1, 0.2, 1.0, 2.0]) ** 2))
    layer.thresholds[0].assign(0.5 / mean_square / layer.threshold_gain)  # tau = 0.5: 0.1^2, 0.2^2 < tau < 1
    assert keras_ltp.sparsity(model)["sparsity"] == 0.5
    checkpoint = TrailCheckpoint(tmp_path, sparsity_steps=(0.5, 0.7))
    checkpoint.set_model(model)
    checkpoint.on_train_begin()
    checkpoint.on_epoch_end(0, {"val_accuracy": 0.9})
    [entry] = trail.read_index(tmp_path)
    assert (entry["step"], entry["sparsity"], entry["final"]) == (0.5, 0.5, False)


def test_a_second_fit_keeps_every_epoch_once_and_one_final_model(data, tmp_path):
    # The same callbacks watch two fit() calls (epochs 1-2, then 3-4).
    x, y = data
    model = _pruned(x, y)
    every = TrailCheckpoint(tmp_path / "every", every_epoch=True)
    # A step no epoch reaches: the trail holds only each fit's final model,
    # alone at step None, which the next fit's final model replaces.
    unreached = TrailCheckpoint(tmp_path / "unreached", sparsity_steps=(0.9999,))
    for start in (0, 2):
        _fit(model, x, y, epochs=start + 2, initial_epoch=start, callbacks=[every, unreached])
    entries = trail.read_index(tmp_path / "every")
    assert [e["epoch"] for e in entries] == [1, 2, 3, 4]  # each epoch once, none dropped
    assert [e["final"] for e in entries] == [False, False, False, True]
    assert sorted(os.listdir(tmp_path / "every")) == sorted([e["file"] for e in entries] + [trail.INDEX_NAME])
    [only] = trail.read_index(tmp_path / "unreached")
    assert (only["epoch"], only["final"], only["step"]) == (4, True, None)
    assert sorted(os.listdir(tmp_path / "unreached")) == sorted([only["file"], trail.INDEX_NAME])


class _SetSparsity(keras.callbacks.Callback):
    """Before each epoch, sets every layer's threshold so that exactly
    `levels[epoch]` of its weights are pruned (weights do not train here)."""

    def __init__(self, levels):
        super().__init__()
        self.levels = levels

    def on_epoch_begin(self, epoch, logs=None):
        for wrapper in keras_ltp.iter_wrappers(self.model):
            for weight, theta in zip(wrapper.pruned_weights, wrapper.thresholds, strict=True):
                squares = np.sort(keras.ops.convert_to_numpy(weight.value).astype("float64").ravel() ** 2)
                k = round(self.levels[epoch] * squares.size)
                theta.assign((squares[k - 1] + squares[k]) / 2 / (wrapper.threshold_gain * squares.mean()))


def test_a_final_model_alone_at_its_step_stays_as_that_steps_checkpoint(data, tmp_path):
    # Epoch 2, the first at step 0.5, is both that step's checkpoint and fit
    # 1's final model; fit 2 moves on to step 0.7 and must keep it.
    x, y = data
    model = _pruned(x, y)
    model.compile(keras.optimizers.SGD(0.0), model.loss, metrics=["accuracy"])
    levels = _SetSparsity([0.35, 0.55, 0.75, 0.76])
    trail_of = TrailCheckpoint(tmp_path, sparsity_steps=(0.3, 0.5, 0.7))
    for start in (0, 2):
        _fit(model, x, y, epochs=start + 2, initial_epoch=start, callbacks=[levels, trail_of])
    entries = trail.read_index(tmp_path)
    assert {e["step"] for e in entries} == {0.3, 0.5, 0.7}
    assert (_kept(entries, 0.3)["epoch"], _kept(entries, 0.5)["epoch"]) == (1, 2)
    assert _kept(entries, 0.7)["epoch"] in (3, 4)  # the better of the two on val_accuracy
    assert all(type(e["final"]) is bool for e in json.loads((tmp_path / trail.INDEX_NAME).read_text()))
    [final] = [e for e in entries if e["final"]]
    assert final["epoch"] == 4
    assert sorted(os.listdir(tmp_path)) == sorted([e["file"] for e in entries] + [trail.INDEX_NAME])


class _LossIsNan(keras.callbacks.Callback):
    """Logs `key` as NaN at each epoch's end (before the trail reads it)."""

    def __init__(self, key):
        super().__init__()
        self.key = key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = float("nan")


@pytest.mark.parametrize("key", ["loss", "val_loss"])
def test_an_epoch_whose_logged_loss_is_not_finite_is_not_saved(data, tmp_path, key):
    # The weights stay finite: only the loss the trail reads is NaN (as when
    # a float16 loss overflows).
    x, y = data
    model = _pruned(x, y)
    with pytest.warns(RuntimeWarning, match=f"not saving epoch 1 .*: {key} is nan; training has diverged"):
        _fit(model, x, y, epochs=1, callbacks=[_LossIsNan(key), TrailCheckpoint(tmp_path, every_epoch=True)])
    assert [f for f in os.listdir(tmp_path) if f.endswith(".keras")] == []
