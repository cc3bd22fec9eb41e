import keras
import numpy as np
import pytest

import keras_ltp


def _dense_bn(features=4, units=3):
    inputs = keras.Input((features,))
    hidden = keras.layers.Dense(units, name="dense")(inputs)
    outputs = keras.layers.BatchNormalization(name="bn")(hidden)
    return keras.Model(inputs, outputs)


def _bn_inputs(model, x):
    kernel, bias = (keras.ops.convert_to_numpy(v.value) for v in model.get_layer("dense").weights)
    return x @ kernel + bias


def _stats(layer):
    return (
        keras.ops.convert_to_numpy(layer.moving_mean.value),
        keras.ops.convert_to_numpy(layer.moving_variance.value),
    )


def test_moving_statistics_become_the_size_weighted_average_of_batch_statistics():
    model = _dense_bn()
    x = np.random.default_rng(0).normal(size=(10, 4)).astype("float32") * 3 + 1
    assert keras_ltp.recalibrate_batch_norm(model, x, batch_size=4) == 1
    h = _bn_inputs(model, x)
    batches = [h[0:4], h[4:8], h[8:10]]
    sizes = np.array([len(b) for b in batches], dtype="float64")[:, None]
    mean = (sizes * np.stack([b.mean(0) for b in batches])).sum(0) / sizes.sum()
    variance = (sizes * np.stack([b.var(0) for b in batches])).sum(0) / sizes.sum()
    moving_mean, moving_variance = _stats(model.get_layer("bn"))
    np.testing.assert_allclose(moving_mean, mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(moving_variance, variance, rtol=1e-4, atol=1e-5)
    assert model.get_layer("bn").momentum == 0.99  # restored


def test_inference_then_matches_training_mode_on_the_calibration_batch():
    # Weights changed after the statistics were taken (as pruning does):
    # inference disagrees with the batch statistics until recalibrated.
    model = _dense_bn()
    x = np.random.default_rng(1).normal(size=(32, 4)).astype("float32")
    kernel = model.get_layer("dense").kernel
    kernel.assign(keras.ops.convert_to_numpy(kernel.value) * 10.0)
    training = keras.ops.convert_to_numpy(model(x, training=True))
    before = keras.ops.convert_to_numpy(model(x, training=False))
    assert np.max(np.abs(before - training)) > 1.0
    keras_ltp.recalibrate_batch_norm(model, x, batch_size=32)
    after = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(after, training, atol=2e-3)


def test_iterable_of_xy_batches_and_steps():
    model = _dense_bn()
    x = np.random.default_rng(2).normal(size=(12, 4)).astype("float32")
    y = np.zeros(12)
    keras_ltp.recalibrate_batch_norm(model, [(x[i : i + 4], y[i : i + 4]) for i in range(0, 12, 4)], steps=2)
    h = _bn_inputs(model, x[:8])
    moving_mean, _ = _stats(model.get_layer("bn"))
    np.testing.assert_allclose(moving_mean, h.mean(0), rtol=1e-5, atol=1e-5)


def test_finds_batch_norm_in_nested_and_pruned_models():
    inner = _dense_bn()
    inputs = keras.Input((4,))
    outer = keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)))
    pruned = keras_ltp.prune(outer)
    x = np.random.default_rng(3).normal(size=(16, 4)).astype("float32")
    assert keras_ltp.recalibrate_batch_norm(pruned, x, batch_size=16) == 1


def test_frozen_layers_keep_their_statistics_with_a_warning():
    model = _dense_bn()
    model.get_layer("bn").trainable = False
    before = _stats(model.get_layer("bn"))
    with pytest.warns(UserWarning, match="trainable=False"):
        assert keras_ltp.recalibrate_batch_norm(model, np.ones((8, 4), "float32")) == 0
    np.testing.assert_array_equal(_stats(model.get_layer("bn"))[0], before[0])


def test_bad_input_names_the_problem_and_leaves_statistics_alone():
    model = _dense_bn()
    before = _stats(model.get_layer("bn"))
    with pytest.raises(TypeError, match="Keras model or layer"):
        keras_ltp.recalibrate_batch_norm("model.keras", np.ones((2, 4)))
    with pytest.raises(ValueError, match="batch_size"):
        keras_ltp.recalibrate_batch_norm(model, np.ones((2, 4)), batch_size=0)
    with pytest.raises(ValueError, match="no data"):
        keras_ltp.recalibrate_batch_norm(model, [])
    with pytest.raises(TypeError, match="iterable of batches"):
        keras_ltp.recalibrate_batch_norm(model, 3.0)
    with pytest.raises(ValueError, match="incompatible"):  # 5 features for a 4-feature input
        keras_ltp.recalibrate_batch_norm(model, np.ones((4, 5), "float32"))
    np.testing.assert_array_equal(_stats(model.get_layer("bn"))[0], before[0])
    assert model.get_layer("bn").momentum == 0.99


def test_model_without_batch_norm_is_a_no_op_with_a_warning():
    # Pipelines that handle several architectures call it on every model.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    before = [np.array(w) for w in model.get_weights()]
    with pytest.warns(UserWarning, match="no BatchNormalization layer"):
        assert keras_ltp.recalibrate_batch_norm(model, np.ones((2, 2), "float32")) == 0
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_pruned_model_is_calibrated_with_its_hard_masks():
    # Independent reference: the strip()-ed model (hard-masked weights, no
    # wrapper) recalibrated on the same data.
    pruned = keras_ltp.prune(_dense_bn(features=6, units=5), temperature=5.0)
    for wrapper in keras_ltp.iter_wrappers(pruned):
        wrapper.thresholds[0].assign(1.0 / wrapper.threshold_gain)  # tau = mean(w^2): about half pruned
    assert 0.2 < keras_ltp.sparsity(pruned)["sparsity"] < 0.8
    x = np.random.default_rng(4).normal(size=(24, 6)).astype("float32")
    stripped = keras_ltp.strip(pruned)
    keras_ltp.recalibrate_batch_norm(pruned, x, batch_size=8)
    keras_ltp.recalibrate_batch_norm(stripped, x, batch_size=8)
    for got, want in zip(_stats(pruned.get_layer("bn")), _stats(stripped.get_layer("bn"))):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not any(w.hard_forward for w in keras_ltp.iter_wrappers(pruned))  # restored
