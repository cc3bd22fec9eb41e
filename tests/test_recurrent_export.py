"""Pruned recurrent models (LSTM, GRU, SimpleRNN, Bidirectional,
TimeDistributed) export to `.tflite` files that run with LiteRT's default
options, float and int8, and agree with the stripped Keras model."""

import keras
import numpy as np
import pytest

import keras_ltp

export = pytest.importorskip("keras_ltp.export")
if keras.backend.backend() != "tensorflow":
    pytest.skip("export needs the TensorFlow backend", allow_module_level=True)

layers = keras.layers
STEPS = 12


def _text_model():
    x = keras.Input((STEPS,), dtype="int32")
    h = layers.Embedding(40, 8, name="embed")(x)
    h = layers.Bidirectional(layers.LSTM(6, return_sequences=True), name="bilstm")(h)
    h = layers.GRU(5, name="gru")(h)
    return keras.Model(x, layers.Dense(3, name="head")(h))


def _sequence_model():
    x = keras.Input((STEPS, 4))
    h = layers.SimpleRNN(6, return_sequences=True, name="rnn")(x)
    return keras.Model(x, layers.TimeDistributed(layers.Dense(3), name="per_step")(h))


def _stripped(model, seed=0):
    """Pruned to about 60% (a threshold of 0.9 mean squares), stripped."""
    keras.utils.set_random_seed(seed)
    pruned = keras_ltp.prune(model, initial_threshold=0.9)
    return pruned, keras_ltp.strip(pruned)


def _inputs(model, n, seed=0):
    rng = np.random.default_rng(seed)
    spec = model.inputs[0]
    if spec.dtype == "int32":
        return rng.integers(0, 40, size=(n,) + tuple(spec.shape[1:])).astype("int32")
    return rng.normal(size=(n,) + tuple(spec.shape[1:])).astype("float32")


def _delegated(runner):
    """Whether a delegate (XNNPack, in LiteRT's default options) took nodes of the graph."""
    return "DELEGATE" in [op["op_name"] for op in runner._get_ops_details()]


# slow: the Bidirectional text model's conversion takes about 25 s; the default
# run has the sequence model (the same unroll-and-export code) and
# test_the_unrolled_model_has_the_same_weights_and_outputs_and_no_loop.
@pytest.mark.parametrize("build", [pytest.param(_text_model, marks=pytest.mark.slow), _sequence_model])
def test_float_file_runs_with_default_options_and_matches(build, tmp_path):
    pruned, stripped = _stripped(build())
    assert 0.4 < keras_ltp.sparsity(pruned)["sparsity"] < 0.9
    x = _inputs(stripped, 8)
    path = export.tflite(pruned, tmp_path / "model.tflite")
    assert _delegated(export.interpreter(path))  # LiteRT's default options: XNNPack runs it
    np.testing.assert_allclose(export.run_tflite(path, x), keras.ops.convert_to_numpy(stripped(x)), atol=1e-5)


def test_int8_file_runs_with_default_options_and_agrees(tmp_path):
    pruned, stripped = _stripped(_sequence_model())
    x = _inputs(stripped, 64)
    path = export.tflite(pruned, tmp_path / "model8.tflite", quantize="int8", representative_data=x)
    expected = keras.ops.convert_to_numpy(stripped(x))
    assert _delegated(export.interpreter(path))
    got = export.run_tflite(path, x)
    scale = np.abs(expected).max()
    assert np.abs(got - expected).max() < 0.05 * scale  # int8 activations: a few quantization steps


def test_the_unrolled_model_has_the_same_weights_and_outputs_and_no_loop():
    _, stripped = _stripped(_text_model())
    flat = export.unrolled(stripped)
    assert flat is not stripped
    unroll = {inner.name: inner.unroll for inner in keras_ltp.walk.iter_layers(flat) if isinstance(inner, layers.RNN)}
    assert unroll and all(unroll.values()), unroll
    x = _inputs(stripped, 4)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(flat(x)), keras.ops.convert_to_numpy(stripped(x)), rtol=1e-5, atol=1e-6
    )
    for a, b in zip(flat.weights, stripped.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    plain = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    assert export.unrolled(plain) is plain  # nothing recurrent: the model itself


def test_unrolled_reaches_the_cells_of_a_stacked_rnn():
    # keras.layers.RNN over several cells keeps them as a list in its config.
    x = keras.Input((STEPS, 4))
    h = layers.RNN([layers.LSTMCell(5), layers.GRUCell(3)], name="stacked")(x)
    model = keras.Model(x, layers.Dense(2)(h))
    flat = export.unrolled(model)
    assert flat.get_layer("stacked").unroll and len(flat.get_layer("stacked").cell.cells) == 2
    x = _inputs(model, 3)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(flat(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6
    )


def test_a_sequence_of_no_fixed_length_is_refused_with_the_fix(tmp_path):
    x = keras.Input((None, 4))
    model = keras.Model(x, layers.LSTM(3, name="encoder")(x))
    pruned, _ = _stripped(model)
    with pytest.raises(ValueError, match="'encoder' \\(LSTM\\) reads sequences of no fixed length.*keras.Input"):
        export.tflite(pruned, tmp_path / "varlen.tflite")
    assert not (tmp_path / "varlen.tflite").exists()
    export.saved_model(pruned, tmp_path / "varlen_saved_model")  # any length there


@pytest.mark.parametrize(
    "steps, quantile, quantize, smaller",
    # measured (bytes, sparse / dense): 93,880 / 75,984; 17,904 / 25,584; float16 98,864 / 71,976
    [(24, 0.9, None, False), (4, 0.97, None, True), (24, 0.9, "float16", False)],
)
def test_the_default_float_file_keeps_the_smaller_encoding_of_an_unrolled_model(steps, quantile, quantize, smaller):
    """Unrolled over many steps, the sparse encoding can take more bytes than
    the dense one (benchmarks/results/recurrent_export.json, LSTM(64) at 48
    steps); the default keeps the smaller one, in the same precision, and
    the explicit choices stay."""
    keras.utils.set_random_seed(0)
    x = keras.Input((steps, 8))
    model = keras.Model(x, layers.Dense(2)(layers.LSTM(24)(x)))
    for weight in model.weights:
        value = keras.ops.convert_to_numpy(weight)
        weight.assign(np.where(np.abs(value) > np.quantile(np.abs(value), quantile), value, 0.0))
    sizes = {
        choice: len(export.tflite_bytes(model, sparse=choice, quantize=quantize)) for choice in (None, True, False)
    }
    assert sizes[None] == sizes[smaller] < sizes[not smaller], sizes
