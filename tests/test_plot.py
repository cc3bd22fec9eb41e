"""keras_ltp.plot: accuracy vs sparsity along a trail, per-layer sparsity
over epochs. Each must write a valid PNG (decoded here) and say what is
missing when there is nothing to plot, writing nothing then."""

import os
import sys

import helpers
import keras
import numpy as np
import pytest

import keras_ltp
from keras_ltp import plot, trail
from keras_ltp.callbacks import SparsityMonitor, TrailCheckpoint

L = keras.layers
EPOCHS = 4
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A short pruning run of a tiny MLP, watched by two trails: one keeps
    every epoch, the other's only step (99.9%) is never reached, so it holds
    just the final model (one point)."""
    x, y = helpers.teacher_data(256, 8, 3, relevant=4)
    keras.utils.set_random_seed(0)
    dense = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu", name="hidden"), L.Dense(3, name="out")])
    model = keras_ltp.prune(dense, l0_strength=2.0, temperature=0.5, threshold_gain=10.0)
    model.compile(
        keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    root = tmp_path_factory.mktemp("plot")
    callbacks = [
        SparsityMonitor(),
        TrailCheckpoint(root / "every", every_epoch=True),
        TrailCheckpoint(root / "final_only", sparsity_steps=(0.999,)),
    ]
    history = model.fit(
        x[:192],
        y[:192],
        validation_data=(x[192:], y[192:]),
        epochs=EPOCHS,
        batch_size=32,
        verbose=0,
        callbacks=callbacks,
    )
    return {"every": root / "every", "final_only": root / "final_only", "history": history}


def _is_png(path):
    """A PNG file that decodes to a picture that is not blank."""
    import matplotlib.image

    with open(path, "rb") as f:
        if f.read(8) != PNG_SIGNATURE:
            return False
    pixels = matplotlib.image.imread(path)
    return os.path.getsize(path) > 5000 and pixels.ndim == 3 and min(pixels.shape[:2]) > 100 and pixels.std() > 0


@pytest.fixture
def figures(monkeypatch):
    """The figures keras_ltp.plot draws, kept for inspection."""
    import matplotlib.pyplot as plt

    drawn, subplots = [], plt.subplots
    monkeypatch.setattr(plt, "subplots", lambda *a, **k: drawn.append(subplots(*a, **k)) or drawn[-1])
    return drawn


def _legend(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def _no_scratch_files(directory):
    return not [f for f in os.listdir(directory) if ".tmp" in f or ".partial" in f]


def test_trail_plot_of_one_point_has_no_colour_bar(run, figures, tmp_path):
    entries = trail.read_index(run["final_only"])
    assert [(e["epoch"], e["final"]) for e in entries] == [(EPOCHS, True)]
    path = plot.trail(run["final_only"], tmp_path / "one.png")
    assert _is_png(path) and _no_scratch_files(tmp_path)
    [(fig, ax)] = figures
    assert fig.axes == [ax]  # no colour bar
    assert [t.get_text() for t in ax.texts] == [f"epoch {EPOCHS}"]
    assert _legend(ax) == ["final"]


def test_plots_write_png(run, figures, tmp_path):
    directory, history = run["every"], run["history"].history
    assert len(trail.read_index(directory)) == EPOCHS
    assert _is_png(plot.trail(directory, tmp_path / "trail.png"))
    [(fig, ax)] = figures
    assert len(fig.axes) == 2 and not ax.texts  # the points, and a colour bar of their epochs
    assert _legend(ax) == ["final"]
    assert _is_png(plot.layer_sparsity(history, tmp_path / "layers.png"))
    csv_path = tmp_path / "log.csv"
    keys = sorted(history)
    with open(csv_path, "w") as f:
        f.write("epoch," + ",".join(keys) + "\n")
        for i in range(len(history[keys[0]])):
            f.write(f"{i}," + ",".join(str(history[k][i]) for k in keys) + "\n")
    assert _is_png(plot.layer_sparsity(str(csv_path), tmp_path / "from_csv.png"))
    with pytest.raises(ValueError, match="SparsityMonitor\\(per_layer=True\\)"):
        plot.layer_sparsity({"loss": [1.0]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="recorded 'top5'"):
        plot.trail(directory, tmp_path / "x.png", metric="top5")
    assert not (tmp_path / "x.png").exists()


def test_layer_sparsity_draws_each_layer_and_the_overall_line(run, figures, tmp_path):
    history = run["history"]  # the History object itself
    path = plot.layer_sparsity(history, tmp_path / "layers.png")
    assert _is_png(path)
    [(_, ax)] = figures
    assert _legend(ax) == ["ltp_hidden", "ltp_out", "overall"]
    for line, key in zip(ax.get_lines(), ["sparsity/ltp_hidden", "sparsity/ltp_out", "sparsity"]):
        np.testing.assert_allclose(line.get_xdata(), np.arange(1, EPOCHS + 1))
        np.testing.assert_allclose(line.get_ydata(), np.array(history.history[key]) * 100)


def test_plots_return_the_absolute_path_create_folders_and_replace_old_files(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = plot.trail(run["every"], os.path.join("new", "folder", "trail.png"))
    assert path == str(tmp_path / "new" / "folder" / "trail.png") and _is_png(path)
    old = tmp_path / "layers.png"
    old.write_bytes(b"an old picture")
    assert plot.layer_sparsity(run["history"], "layers.png") == str(old) and _is_png(old)
    assert _no_scratch_files(tmp_path) and _no_scratch_files(tmp_path / "new" / "folder")


def test_nothing_to_plot_is_an_error_and_writes_nothing(tmp_path):
    png = tmp_path / "out.png"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="No checkpoint in .*empty recorded 'val_accuracy'; nothing to plot"):
        plot.trail(empty, png)  # no index.json
    trail.write_index(empty, [])
    with pytest.raises(ValueError, match="nothing to plot"):
        plot.trail(empty, png)  # an index without entries
    for history in ({}, keras.callbacks.History()):
        with pytest.raises(ValueError, match="No per-layer sparsity.*SparsityMonitor\\(per_layer=True\\)"):
            plot.layer_sparsity(history, png)
    for name, text in (("no_rows.csv", "epoch,loss,sparsity\n"), ("empty.csv", "")):
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match="No per-layer sparsity"):
            plot.layer_sparsity(tmp_path / name, png)
    assert not png.exists() and _no_scratch_files(tmp_path)


def test_without_matplotlib_the_error_says_how_to_install_it(run, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    with pytest.raises(ImportError, match="keras_ltp.plot needs matplotlib: pip install matplotlib"):
        plot.trail(run["every"], tmp_path / "x.png")
    with pytest.raises(ImportError, match="keras-ltp\\[plot\\]"):
        plot.layer_sparsity(run["history"], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
