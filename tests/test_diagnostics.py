"""keras_ltp.diagnostics: the fraction of weights in the soft mask's
transition band and the loss gap between hard and training masks, each
checked against numpy (the band from the sigmoid itself, the losses from
plain Keras models run on numpy-masked weights and from `evaluate`); and
what SparsityMonitor logs and plot.diagnostics draws from them."""

import os

import helpers
import keras
import numpy as np
import pytest

import keras_ltp
from keras_ltp import diagnostics, masks, plot
from keras_ltp.callbacks import SparsityMonitor
from keras_ltp.wrapper import training_masks

L = keras.layers


def _numpy_soft_masks(wrapper):
    """`sigm((w^2 - tau) / T)` per pruned weight, float64, with `tau = gain *
    theta * mean(w^2)` and `T = T0 * Var(|w|)` (paper eq. 15)."""
    result = []
    for w, theta in zip(wrapper.pruned_weights, wrapper.thresholds, strict=True):
        value = keras.ops.convert_to_numpy(w.value).astype("float64")
        tau = wrapper.threshold_gain * helpers.scalar(theta) * np.mean(value**2)
        temp = helpers.scalar(wrapper.temperature) * (np.mean(value**2) - np.mean(np.abs(value)) ** 2)
        result.append(1.0 / (1.0 + np.exp(-(value**2 - tau) / temp)))
    return result


def _mlp(initial_threshold=1.0, temperature=0.7, dropout=0.0):
    keras.utils.set_random_seed(1)
    dense = keras.Sequential(
        [
            keras.Input((6,)),
            L.Dense(12, name="hidden"),
            L.BatchNormalization(name="bn"),
            L.Activation("relu"),
            L.Dropout(dropout),
            L.Dense(3, name="out"),
        ]
    )
    return keras_ltp.prune(dense, initial_threshold=initial_threshold, temperature=temperature, threshold_gain=1.0)


def test_in_transition_is_the_sigmoid_inside_the_band():
    rng = np.random.default_rng(0)
    score, tau, temp = rng.uniform(0, 4, size=2000), 1.7, 0.3
    sigmoid = 1.0 / (1.0 + np.exp(-(score - tau) / temp))
    for band in (0.01, 0.05, 0.25):
        expected = (sigmoid > band) & (sigmoid < 1 - band)
        got = keras.ops.convert_to_numpy(masks.in_transition(score, tau, temp, band))
        assert set(np.unique(got)) <= {0.0, 1.0}
        np.testing.assert_array_equal(got.astype(bool), expected)
    assert 0 < expected.sum() < expected.size  # the data has both kinds
    for band in (0.0, 0.5, -1.0):
        with pytest.raises(ValueError, match="band must be in \\(0, 0.5\\)"):
            masks.in_transition(score, tau, temp, band)


def test_transition_fraction_against_numpy_per_layer_and_overall():
    model = _mlp()
    model(np.zeros((2, 6)))
    report = diagnostics.transition_fraction(model, band=0.1)
    in_band, total = 0, 0
    for wrapper in keras_ltp.iter_wrappers(model):
        soft = _numpy_soft_masks(wrapper)
        counts = sum(int(((m > 0.1) & (m < 0.9)).sum()) for m in soft)
        size = sum(m.size for m in soft)
        assert report["layers"][wrapper.name] == pytest.approx(counts / size)
        in_band, total = in_band + counts, total + size
    assert report["transition"] == pytest.approx(in_band / total)
    assert 0 < report["transition"] < 1


def test_a_wrappers_transition_masks_default_to_a_band_of_five_percent():
    model = _mlp()
    model(np.zeros((2, 6)))
    decided = 0
    for wrapper in keras_ltp.iter_wrappers(model):
        for got, soft in zip(wrapper.transition_masks(), _numpy_soft_masks(wrapper), strict=True):
            expected = (soft > 0.05) & (soft < 0.95)
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(got).astype(bool), expected)
            decided += int((~expected).sum())
    assert decided > 0  # some masks are outside the band, so its width matters


def test_a_cold_temperature_decides_every_mask_and_a_warm_one_none():
    x = np.zeros((2, 6))
    cold, warm = _mlp(temperature=1e-4), _mlp(temperature=1e4)
    cold(x), warm(x)
    assert diagnostics.transition_fraction(cold)["transition"] < 0.01
    assert diagnostics.transition_fraction(warm)["transition"] == 1.0


def test_channel_transition_counts_whole_channels():
    keras.utils.set_random_seed(2)
    model = keras_ltp.prune(
        keras.Sequential([keras.Input((5,)), L.Dense(8, name="a"), L.Dense(2, name="b")]),
        granularity="channel",
        initial_threshold=1.0,
    )
    model(np.zeros((1, 5)))
    [wrapper] = [w for w in keras_ltp.iter_wrappers(model) if w.granularity == "channel"]
    kernel = keras.ops.convert_to_numpy(wrapper.pruned_weights[0].value).astype("float64")
    per_channel = np.mean(kernel**2, axis=0)
    saliency = per_channel / per_channel.mean()
    temp = helpers.scalar(wrapper.temperature) * np.mean(
        [(np.mean(k**2) - np.mean(np.abs(k)) ** 2) / np.mean(k**2) for k in [kernel]]
    )
    tau = wrapper.threshold_gain * helpers.scalar(wrapper.thresholds[0])
    soft = 1.0 / (1.0 + np.exp(-(saliency - tau) / temp))
    expected = np.mean((soft > 0.05) & (soft < 0.95))  # every channel has the same number of weights
    assert diagnostics.transition_fraction(model)["layers"][wrapper.name] == pytest.approx(expected)


def test_training_masks_gives_the_soft_masked_model_in_inference_mode_without_the_l0_term():
    model = _mlp(dropout=0.5)
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    model(x, training=True)  # batch-norm gets moving statistics unlike its initial ones
    bn = model.get_layer("bn")
    bn.moving_mean.assign(np.linspace(-0.5, 0.5, 12).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 2.0, 12).astype("float32"))
    reference = keras.Sequential(
        [keras.Input((6,)), L.Dense(12), L.BatchNormalization(), L.Activation("relu"), L.Dense(3)]
    )
    wrappers = {w.layer.name: w for w in keras_ltp.iter_wrappers(model)}
    for name, index in (("hidden", 0), ("out", 3)):
        kernel, bias = (keras.ops.convert_to_numpy(v) for v in wrappers[name].layer.weights)
        [soft] = _numpy_soft_masks(wrappers[name])
        reference.layers[index].set_weights([kernel * soft, bias])
    reference.layers[1].set_weights([keras.ops.convert_to_numpy(v) for v in bn.weights])
    with training_masks():
        got = keras.ops.convert_to_numpy(model(x, training=False))
        assert not model.losses  # no L0 term outside training
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(reference(x)), rtol=1e-4, atol=1e-5)
    hard = keras.ops.convert_to_numpy(model(x, training=False))
    assert np.abs(hard - got).max() > 1e-3  # outside the context: the hard masks again


def test_mask_loss_gap_is_evaluate_with_hard_masks_minus_evaluate_with_soft_masks():
    model = _mlp()
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = helpers.teacher_data(100, 6, 3, relevant=3)
    weights = np.linspace(0.5, 1.5, 100).astype("float32")
    model(x)
    gap = diagnostics.mask_loss_gap(model, (x, y, weights), batch_size=32)  # batches of 32, 32, 32, 4
    hard = model.evaluate(x, y, sample_weight=weights, batch_size=100, verbose=0)
    assert gap["hard_mask_loss"] == pytest.approx(hard, rel=1e-4)
    soft_model = keras.Sequential([keras.Input((6,)), L.Dense(12), L.BatchNormalization(), L.Activation("relu")])
    soft_model.add(L.Dense(3))
    wrappers = {w.layer.name: w for w in keras_ltp.iter_wrappers(model)}
    for name, index in (("hidden", 0), ("out", 3)):
        kernel, bias = (keras.ops.convert_to_numpy(v) for v in wrappers[name].layer.weights)
        [soft] = _numpy_soft_masks(wrappers[name])
        soft_model.layers[index].set_weights([kernel * soft, bias])
    soft_model.layers[1].set_weights([keras.ops.convert_to_numpy(v) for v in model.get_layer("bn").weights])
    soft_model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    soft = soft_model.evaluate(x, y, sample_weight=weights, batch_size=100, verbose=0)
    assert gap["soft_mask_loss"] == pytest.approx(soft, rel=1e-4)
    assert gap["mask_loss_gap"] == pytest.approx(hard - soft, rel=1e-3, abs=1e-6)
    assert abs(gap["mask_loss_gap"]) > 1e-3
    batches = [(x[i : i + 50], y[i : i + 50], weights[i : i + 50]) for i in (0, 50)]
    assert diagnostics.mask_loss_gap(model, batches)["mask_loss_gap"] == pytest.approx(gap["mask_loss_gap"], rel=1e-4)


def test_bad_input_is_refused_with_the_fix():
    plain = keras.Sequential([keras.Input((6,)), L.Dense(3)])
    with pytest.raises(ValueError, match="contains no PrunableWrapper; prune it first"):
        diagnostics.transition_fraction(plain)
    with pytest.raises(ValueError, match="contains no PrunableWrapper"):
        diagnostics.mask_loss_gap(plain, (np.zeros((1, 6)), np.zeros((1,))))
    model = _mlp()
    with pytest.raises(ValueError, match="is not built; call the model on data first"):
        diagnostics.transition_fraction(keras_ltp.prune(L.Dense(2)))
    x, y = np.zeros((4, 6), "float32"), np.zeros((4,), "int32")
    with pytest.raises(ValueError, match="no compiled loss: call model.compile\\(loss=...\\)"):
        diagnostics.mask_loss_gap(model, (x, y))
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="needs targets"):
        diagnostics.mask_loss_gap(model, (x,))
    with pytest.raises(ValueError, match="got no data"):
        diagnostics.mask_loss_gap(model, [])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        diagnostics.mask_loss_gap(model, (x, y), batch_size=0)
    with pytest.raises(TypeError, match="an iterable of \\(x, y\\) batches"):
        diagnostics.mask_loss_gap(model, {"x": x, "y": y})
    for band in (0.0, 0.5):
        with pytest.raises(ValueError, match="transition_band must be in \\(0, 0.5\\) or None"):
            SparsityMonitor(transition_band=band)
    monitor = SparsityMonitor(gap_data=(x, y))
    monitor.set_model(_mlp())
    with pytest.raises(ValueError, match="needs a compiled loss"):
        monitor.on_train_begin()
    without_loss = _mlp()
    without_loss.compile(optimizer="adam")  # compiled, but with no loss to measure the gap with
    monitor.set_model(without_loss)
    with pytest.raises(ValueError, match="needs a compiled loss"):
        monitor.on_train_begin()


BAND = 0.1


@pytest.fixture(scope="module")
def monitored_run():
    x, y = helpers.teacher_data(240, 6, 3, relevant=3)
    model = _mlp(initial_threshold=0.0)
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(
        x[:200],
        y[:200],
        epochs=3,
        batch_size=40,
        verbose=0,
        # A band and a gap batch size of their own (not the defaults).
        callbacks=[SparsityMonitor(transition_band=BAND, gap_data=(x[200:], y[200:]), gap_batch_size=7)],
    )
    return model, history.history, (x[200:], y[200:])


def test_monitor_logs_the_diagnostics_of_the_trained_model(monitored_run):
    model, logs, (x, y) = monitored_run
    for key in ("transition", "soft_mask_loss", "hard_mask_loss", "mask_loss_gap"):
        assert len(logs[key]) == 3, key
    soft_masks = {w.name: _numpy_soft_masks(w) for w in keras_ltp.iter_wrappers(model)}

    def in_band(soft):
        return sum(int(((m > BAND) & (m < 1 - BAND)).sum()) for m in soft) / sum(m.size for m in soft)

    assert logs["transition"][-1] == pytest.approx(in_band([m for ms in soft_masks.values() for m in ms]))
    assert {k for k in logs if k.startswith("transition/")} == {"transition/ltp_hidden", "transition/ltp_out"}
    for name, layer_masks in soft_masks.items():
        assert logs[f"transition/{name}"][-1] == pytest.approx(in_band(layer_masks))
    hard = model.evaluate(x, y, batch_size=len(x), verbose=0)
    assert logs["hard_mask_loss"][-1] == pytest.approx(hard, rel=1e-4)
    np.testing.assert_allclose(
        logs["mask_loss_gap"], np.array(logs["hard_mask_loss"]) - np.array(logs["soft_mask_loss"]), rtol=1e-6
    )


def test_monitor_without_diagnostics_logs_only_sparsity():
    x, y = helpers.teacher_data(40, 6, 3, relevant=3)
    model = _mlp()
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    logs = model.fit(
        x, y, epochs=1, verbose=0, callbacks=[SparsityMonitor(per_layer=False, transition_band=None)]
    ).history
    assert sorted(logs) == ["loss", "sparsity"]


def test_plot_diagnostics_draws_the_logged_values(monitored_run, tmp_path, monkeypatch):
    import matplotlib.image
    import matplotlib.pyplot as plt

    _, logs, _ = monitored_run
    drawn, subplots = [], plt.subplots
    monkeypatch.setattr(plt, "subplots", lambda *a, **k: drawn.append(subplots(*a, **k)) or drawn[-1])
    path = plot.diagnostics(logs, tmp_path / "d.png")
    assert path == os.path.abspath(tmp_path / "d.png") and matplotlib.image.imread(path).std() > 0
    [(_, axes)] = drawn
    left, right = axes[0]
    np.testing.assert_allclose(left.get_lines()[0].get_ydata(), np.array(logs["transition"]) * 100)
    np.testing.assert_allclose(right.get_lines()[0].get_ydata(), logs["hard_mask_loss"])
    np.testing.assert_allclose(right.get_lines()[1].get_ydata(), logs["soft_mask_loss"])
    without_gap = {k: v for k, v in logs.items() if "mask_loss" not in k}
    plot.diagnostics(without_gap, tmp_path / "t.png")
    assert drawn[-1][1].shape == (1, 1)
    with pytest.raises(ValueError, match="No transition fraction in this history"):
        plot.diagnostics({"loss": [1.0]}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
