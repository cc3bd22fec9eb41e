"""Save, load with safe_mode and no custom_objects, continue training."""

import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import thresholds

import keras_ltp
from keras_ltp import iter_wrappers

L = keras.layers


def build():
    inputs = keras.Input((10, 10, 1))
    x = L.Conv2D(4, 3, name="conv")(inputs)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    x = L.Flatten()(x)
    outputs = L.Dense(3, name="fc")(x)
    model = keras.Model(inputs, outputs)
    pruned = keras_ltp.prune(model, l0_strength=1.0, temperature=0.3, threshold_gain=10.0)
    pruned.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return pruned


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 10, 10, 1)).astype("float32"), rng.integers(0, 3, 64)


def test_save_load_same_predictions_and_continue_identically(tmp_path):
    x, y = data()
    model = build()
    model.fit(x, y, epochs=2, shuffle=False, verbose=0)
    for wrapper in iter_wrappers(model):
        wrapper.temperature.assign(0.123)
        wrapper.l0_strength.assign(4.5)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(thresholds(loaded), thresholds(model))
    for wrapper in iter_wrappers(loaded):
        assert float(wrapper.temperature.numpy()) == np.float32(0.123)
        assert float(wrapper.l0_strength.numpy()) == np.float32(4.5)
    assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) > 0
    model.fit(x, y, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(thresholds(loaded), thresholds(model), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


@pytest.mark.left_to_rest_run(
    reason="what a fresh process registers does not depend on the backend (a new Python importing it takes "
    "14 s on JAX); the TensorFlow run and CI's --slow step on JAX check it, this module's in-process round "
    "trips run here",
)
def test_loads_in_a_fresh_process_without_custom_objects(tmp_path):
    """`import keras_ltp` registers the classes; no custom_objects needed."""
    x, _ = data()
    model = build()
    path = str(tmp_path / "m.keras")
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    expected = model.predict(x, verbose=0)
    np.save(tmp_path / "expected.npy", expected)
    code = (
        "import keras, numpy as np, sys, keras_ltp;"
        f"m = keras.saving.load_model({path!r}, safe_mode=True);"
        f"x = np.load({str(tmp_path / 'x.npy')!r}); e = np.load({str(tmp_path / 'expected.npy')!r});"
        "np.testing.assert_array_equal(m.predict(x, verbose=0), e);"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_wrapper_config_round_trip():
    wrapper = keras_ltp.PrunableWrapper(
        L.Conv2D(3, 2),
        initial_threshold=0.2,
        temperature=0.4,
        l0_strength=3.0,
        l0_weight=2.0,
        l0_normalizer=7.0,
        threshold_gain=5.0,
    )
    config = wrapper.get_config()
    clone = keras_ltp.PrunableWrapper.from_config(config)
    assert clone.get_config() == config
    restored = keras.layers.deserialize(keras.layers.serialize(wrapper))
    assert isinstance(restored, keras_ltp.PrunableWrapper) and restored.threshold_gain == 5.0
