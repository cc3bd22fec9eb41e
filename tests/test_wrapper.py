"""PrunableWrapper on every supported layer type, and its bad inputs."""

import json
import math
import warnings

import keras
import numpy as np
import pytest
from conftest import IN_SUBSUITE
from helpers import numpy_hard_masked, thresholds

import keras_ltp
from keras_ltp import PrunableWrapper

L = keras.layers
RNG = np.random.default_rng(0)


@keras.saving.register_keras_serializable(package="tests")
class MyDense(L.Dense):
    """A user subclass: covered by the default rule."""


@keras.saving.register_keras_serializable(package="tests")
class Scale(L.Layer):
    """A custom layer that opts in by naming its prunable weight."""

    prunable_weight_names = ("scale",)

    def build(self, input_shape):
        self.scale = self.add_weight(shape=input_shape[-1:], name="scale", initializer="random_normal")
        self.offset = self.add_weight(shape=input_shape[-1:], name="offset", initializer="zeros")

    def call(self, x):
        return x * self.scale + self.offset


def floats(*shape):
    return RNG.normal(size=shape).astype("float32")


# (id, layer factory, list of input arrays)
CASES = [
    ("dense", lambda: L.Dense(6), [floats(16, 5)]),
    ("dense_3d", lambda: L.Dense(6), [floats(16, 3, 5)]),
    ("einsum_dense", lambda: L.EinsumDense("ab,bc->ac", output_shape=6, bias_axes="c"), [floats(16, 5)]),
    ("conv1d", lambda: L.Conv1D(4, 3), [floats(16, 8, 3)]),
    ("conv2d", lambda: L.Conv2D(4, 3), [floats(16, 6, 6, 3)]),
    ("conv3d", lambda: L.Conv3D(4, 2), [floats(16, 4, 4, 4, 2)]),
    ("conv1d_transpose", lambda: L.Conv1DTranspose(4, 3), [floats(16, 6, 3)]),
    ("conv2d_transpose", lambda: L.Conv2DTranspose(4, 3, strides=2), [floats(16, 4, 4, 3)]),
    ("conv3d_transpose", lambda: L.Conv3DTranspose(3, 2), [floats(16, 3, 3, 3, 2)]),
    ("depthwise_conv1d", lambda: L.DepthwiseConv1D(3, depth_multiplier=2), [floats(16, 8, 3)]),
    ("depthwise_conv2d", lambda: L.DepthwiseConv2D(3), [floats(16, 6, 6, 4)]),
    ("separable_conv1d", lambda: L.SeparableConv1D(4, 3), [floats(16, 8, 3)]),
    ("separable_conv2d", lambda: L.SeparableConv2D(4, 3), [floats(16, 6, 6, 3)]),
    ("embedding", lambda: L.Embedding(20, 6), [RNG.integers(0, 20, size=(16, 7))]),
    ("multi_head_attention", lambda: L.MultiHeadAttention(2, 4), [floats(16, 5, 6), floats(16, 3, 6)]),
    ("lstm", lambda: L.LSTM(5), [floats(16, 4, 3)]),
    ("gru", lambda: L.GRU(5, return_sequences=True), [floats(16, 4, 3)]),
    ("simple_rnn", lambda: L.SimpleRNN(5), [floats(16, 4, 3)]),
    ("bidirectional_lstm", lambda: L.Bidirectional(L.LSTM(4)), [floats(16, 4, 3)]),
    ("time_distributed_dense", lambda: L.TimeDistributed(L.Dense(4)), [floats(16, 4, 3)]),
    ("time_distributed_conv", lambda: L.TimeDistributed(L.Conv2D(2, 2)), [floats(16, 2, 4, 4, 1)]),
    ("user_subclass", lambda: MyDense(6), [floats(16, 5)]),
    ("custom_opt_in", lambda: Scale(), [floats(16, 5)]),
]

EXPECTED_PRUNED = {
    "separable_conv1d": 2,
    "separable_conv2d": 2,
    "gru": 2,
    "simple_rnn": 2,
    "multi_head_attention": 4,
    "lstm": 2,
    "bidirectional_lstm": 4,
}


def _model_around(wrapper, inputs):
    model_inputs = [keras.Input(x.shape[1:], dtype=x.dtype) for x in inputs]
    out = wrapper(*model_inputs)
    return keras.Model(model_inputs, out)


def _reference_output(wrapper, inputs):
    """The original layer class run with weights w * (w^2 > tau), in numpy."""
    inner = wrapper.layer
    reference = inner.__class__.from_config(inner.get_config())
    reference(*inputs)  # build
    masked = {id(w): value for w, value in zip(wrapper.pruned_weights, numpy_hard_masked(wrapper), strict=True)}
    reference.set_weights([masked.get(id(w), keras.ops.convert_to_numpy(w.value)) for w in inner.weights])
    return keras.ops.convert_to_numpy(reference(*inputs, training=False))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_layer_type_trains_and_infers_with_hard_masked_weights(case):
    _, factory, inputs = case
    wrapper = PrunableWrapper(factory(), l0_strength=1.0, temperature=0.05, initial_threshold=0.5)
    model = _model_around(wrapper, inputs)
    pruned = wrapper.pruned_weights
    assert len(pruned) == EXPECTED_PRUNED.get(case[0], 1)
    assert len(wrapper.thresholds) == len(pruned)
    before = thresholds(wrapper).tolist()

    targets = keras.ops.convert_to_numpy(model(inputs))
    targets = np.zeros_like(targets)
    model.compile(keras.optimizers.Adam(1e-2), loss="mse")
    history = model.fit(inputs, targets, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = thresholds(wrapper).tolist()
    assert after != before, "thresholds did not learn"

    report = keras_ltp.sparsity(model)
    assert 0.0 < report["sparsity"] < 1.0
    got = keras.ops.convert_to_numpy(model(inputs, training=False))
    reference = _reference_output(wrapper, inputs)
    np.testing.assert_allclose(got, reference, atol=2e-5, rtol=1e-5)
    stripped = keras_ltp.strip(wrapper)
    assert type(stripped) is type(wrapper.layer) and stripped is not wrapper.layer
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(stripped(*inputs, training=False)), reference, atol=2e-5, rtol=1e-5
    )


@pytest.mark.skipif(
    IN_SUBSUITE,
    reason="the .keras format does not depend on the backend (the TensorFlow run checks every layer type); "
    "test_saving.py saves and loads on this backend",
)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_layer_type_round_trips_through_a_keras_file(case, tmp_path):
    """Saved and loaded in safe mode without custom_objects: the same thresholds, config and inference output."""
    _, factory, inputs = case
    wrapper = PrunableWrapper(factory(), l0_strength=2.0, temperature=0.3, initial_threshold=0.5, threshold_gain=3.0)
    model = _model_around(wrapper, inputs)
    for i, theta in enumerate(wrapper.thresholds):
        theta.assign(0.3 + 0.1 * i)  # distinct per weight, so a swapped order would show
    expected = keras.ops.convert_to_numpy(model(inputs, training=False))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    (restored,) = keras_ltp.iter_wrappers(loaded)
    assert type(restored.layer) is type(wrapper.layer)
    # Compared as the file stores them (JSON): tuples and lists are the same there.
    assert json.dumps(restored.get_config()) == json.dumps(wrapper.get_config())
    np.testing.assert_array_equal(thresholds(restored), thresholds(wrapper))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(inputs, training=False)), expected)
    assert 0.0 < keras_ltp.sparsity(loaded)["sparsity"] < 1.0


def test_soft_mask_in_training_hard_mask_in_inference():
    wrapper = PrunableWrapper(L.Dense(3, use_bias=False), temperature=0.5, initial_threshold=1.0)
    x = np.eye(4, dtype="float32")
    wrapper(x)
    w = keras.ops.convert_to_numpy(wrapper.layer.kernel.value).astype("float64")
    tau = np.mean(w**2)
    temp = 0.5 * np.var(np.abs(w))
    soft = w / (1 + np.exp(-(w**2 - tau) / temp))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(wrapper(x, training=True)), soft, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(wrapper(x)), w * (w**2 > tau), rtol=1e-6)


def test_hard_forward_trains_on_the_inference_output_and_round_trips():
    wrapper = PrunableWrapper(L.Dense(3, use_bias=False), initial_threshold=1.0, hard_forward=True)
    x = np.eye(4, dtype="float32")
    inference = keras.ops.convert_to_numpy(wrapper(x))
    w = keras.ops.convert_to_numpy(wrapper.layer.kernel.value)
    assert 0 < np.count_nonzero(inference) < w.size
    np.testing.assert_allclose(keras.ops.convert_to_numpy(wrapper(x, training=True)), inference, rtol=1e-6)
    assert len(wrapper.losses) == 1  # the soft-L0 term is still added in training
    clone = PrunableWrapper.from_config(wrapper.get_config())
    assert clone.hard_forward is True
    with pytest.raises(TypeError, match="hard_forward"):
        PrunableWrapper(L.Dense(3), hard_forward="yes")


def test_regularizer_is_lambda_times_soft_kept_fraction():
    wrapper = PrunableWrapper(L.Dense(5), l0_strength=0.7, temperature=0.1, initial_threshold=0.8)
    x = floats(4, 3)
    wrapper(x, training=True)
    w = keras.ops.convert_to_numpy(wrapper.layer.kernel.value).astype("float64")
    z = (w**2 - 0.8 * np.mean(w**2)) / (0.1 * np.var(np.abs(w)))
    expected = 0.7 * np.sum(1 / (1 + np.exp(-z))) / w.size
    assert len(wrapper.losses) == 1
    np.testing.assert_allclose(float(wrapper.losses[0]), expected, rtol=1e-5)
    wrapper(x, training=False)
    assert wrapper.losses == []  # inference: no penalty, val_loss is the task loss


def _soft_counts(model_or_wrapper, temperature, relative_tau):
    """Per wrapper, sum_k sigm(z_k) for its kernel, in numpy."""
    counts = []
    for wrapper in keras_ltp.iter_wrappers(model_or_wrapper):
        w = keras.ops.convert_to_numpy(wrapper.layer.kernel.value).astype("float64")
        z = (w**2 - relative_tau * np.mean(w**2)) / (temperature * np.var(np.abs(w)))
        counts.append((np.sum(1 / (1 + np.exp(-z))), w.size))
    return counts


def test_regularizer_weighs_the_count_by_l0_weight():
    wrapper = PrunableWrapper(
        L.Dense(5), l0_strength=0.7, temperature=0.1, initial_threshold=0.8, l0_weight=3.0, l0_normalizer=50.0
    )
    wrapper(floats(4, 3), training=True)
    ((count, _),) = _soft_counts(wrapper, 0.1, 0.8)
    np.testing.assert_allclose(float(wrapper.losses[0]), 0.7 * 3.0 * count / 50.0, rtol=1e-5)


def test_flops_cost_makes_the_regularizer_the_soft_fraction_of_multiply_adds():
    inputs = keras.Input((8, 8, 2))
    x = L.Conv2D(3, 3, padding="same", name="big")(inputs)  # 64 output positions per weight
    x = L.Conv2D(4, 3, strides=4, name="small")(x)  # 4 output positions (2x2)
    model = keras.Model(inputs, L.Dense(2, name="head")(L.Flatten()(x)))  # 1 position
    x = floats(2, 8, 8, 2)
    for cost, weights in (("params", (1.0, 1.0, 1.0)), ("flops", (64.0, 4.0, 1.0))):
        pruned = keras_ltp.prune(model, cost=cost, l0_strength=2.0, temperature=0.1, initial_threshold=0.8)
        pruned(x, training=True)
        counts = _soft_counts(pruned, 0.1, 0.8)
        expected = (
            2.0 * sum(c * k for c, (k, _) in zip(weights, counts)) / sum(c * n for c, (_, n) in zip(weights, counts))
        )
        np.testing.assert_allclose(float(sum(pruned.losses)), expected, rtol=1e-5)


def test_inner_layer_losses_and_rng_state_are_kept():
    inner = L.Dense(4, activity_regularizer=keras.regularizers.L2(0.1))
    wrapper = PrunableWrapper(inner, l0_strength=0.0)
    wrapper(floats(2, 3), training=True)
    assert len(wrapper.losses) == 2  # soft L0 (0 here) + the inner activity penalty
    lstm = PrunableWrapper(L.LSTM(3, dropout=0.5))
    x = floats(4, 5, 2)
    a = keras.ops.convert_to_numpy(lstm(x, training=True))
    b = keras.ops.convert_to_numpy(lstm(x, training=True))
    assert not np.allclose(a, b), "dropout seed did not advance inside the wrapper"


def test_mixed_precision_keeps_thresholds_and_masks_float32():
    keras.config.set_dtype_policy("mixed_float16")
    wrapper = PrunableWrapper(L.Dense(3))
    x = floats(2, 4)
    out = wrapper(x, training=True)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    assert all(t.dtype == "float32" for t in wrapper.thresholds)
    assert wrapper.temperature.dtype == "float32" and wrapper.layer.kernel.dtype == "float32"
    # Tiny weights whose squares underflow in float16 are still masked correctly.
    small = np.full((4, 3), 1e-4, dtype="float32")
    small[0] = 3e-4
    wrapper.layer.kernel.assign(small)
    wrapper.thresholds[0].assign(1.0 / wrapper.threshold_gain)  # tau = mean(w^2) ~ 2.3e-8
    report = keras_ltp.sparsity(wrapper)
    assert report["weights"][0]["kept"] == 3


@pytest.mark.parametrize("wrapped", ["lstm", "embedding", "both"])
def test_masked_input_is_propagated(wrapped):
    # The wrapper takes a mask as its layer does (a wrapped LSTM) and hands on
    # the mask its layer makes (a wrapped Embedding with mask_zero).
    inputs = keras.Input((5,), dtype="int32")
    embedding, lstm = L.Embedding(10, 4, mask_zero=True), L.LSTM(3)
    if wrapped in ("embedding", "both"):
        embedding = PrunableWrapper(embedding, initial_threshold=0.0)
    if wrapped in ("lstm", "both"):
        lstm = PrunableWrapper(lstm, initial_threshold=0.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = keras.Model(inputs, lstm(embedding(inputs)))
    # Keras warns that a layer which does not support masking drops the mask.
    assert not [w for w in caught if "support masking" in str(w.message)]
    data = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]])
    a = keras.ops.convert_to_numpy(model(data))
    # Padding is masked: the first row ends as if the sequence stopped after 3 steps.
    unpadded = keras.ops.convert_to_numpy(
        keras.Sequential([keras.Input((3,), dtype="int32"), model.layers[1], model.layers[2]])(np.array([[1, 2, 3]]))
    )
    np.testing.assert_allclose(a[0], unpadded[0], atol=1e-6)
    plain_embedding = L.Embedding(10, 4)  # same weights, no mask
    plain_embedding.build((None, 5))
    plain_embedding.set_weights(getattr(model.layers[1], "layer", model.layers[1]).get_weights())
    unmasked = keras.ops.convert_to_numpy(
        keras.Sequential([keras.Input((5,), dtype="int32"), plain_embedding, model.layers[2]])(data)
    )
    assert not np.allclose(unmasked[0], a[0], atol=1e-4)


# -- bad input ------------------------------------------------------------------


def test_layer_with_nothing_to_prune_names_the_layer():
    layer = L.LayerNormalization(name="my_norm")
    layer.build((None, 4))
    with pytest.raises(ValueError, match="my_norm.*no prunable weights.*register_prunable"):
        PrunableWrapper(layer)
    unbuilt = PrunableWrapper(L.BatchNormalization(name="my_bn"))
    with pytest.raises(ValueError, match="my_bn.*no prunable weights"):
        unbuilt(np.ones((1, 2), "float32"))


@pytest.mark.parametrize("bad", [0, -1e-3, float("nan"), float("inf"), "hot"])
def test_bad_temperature(bad):
    with pytest.raises(ValueError, match="'dense_x'.*temperature must be a finite number > 0"):
        PrunableWrapper(L.Dense(2, name="dense_x"), temperature=bad)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_lambda(bad):
    with pytest.raises(ValueError, match="'dense_y'.*l0_strength.*>= 0"):
        PrunableWrapper(L.Dense(2, name="dense_y"), l0_strength=bad)


_CHANNEL_INPUT = {"kernel_cost": 1.0, "width": 2, "sources": ["a"]}


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"l0_weight": 0}, "l0_weight must be a finite number > 0, got 0."),
        ({"l0_weight": float("inf")}, "l0_weight must be a finite number > 0, got inf."),
        ({"threshold_gain": -1.0}, "threshold_gain must be a finite number > 0, got -1.0."),
        ({"l0_normalizer": 0.0}, "l0_normalizer must be a finite number > 0, got 0.0."),
        ({"granularity": "channel", "channel_cost": 0}, "channel_cost must be a finite number > 0, got 0."),
        ({"granularity": "channel", "own_channel_cost": -2}, "own_channel_cost must be a finite number > 0, got -2."),
        ({"own_channel_cost": 2.0}, "own_channel_cost applies to granularity='channel' only"),
        ({"channel_inputs": [_CHANNEL_INPUT]}, "channel_inputs applies to granularity='channel' only"),
        ({"granularity": "channel", "channel_inputs": [{**_CHANNEL_INPUT, "width": 0}]}, "channel_inputs must be"),
        ({"min_sparsity": 1.5}, "min_sparsity must be a fraction in [0, 1], got 1.5."),
        ({"max_sparsity": True}, "max_sparsity must be a fraction in [0, 1], got True."),
        ({"initial_threshold": float("nan")}, "initial_threshold must be a finite number, got nan."),
        ({"granularity": "block"}, "granularity must be one of"),
        ({"hard_forward": 1}, "hard_forward must be True or False, got 1."),
        ({"follows": ["ltp_a"]}, "follows takes PrunableWrappers"),
        ({"follows": [{"owner": "ltp_a"}]}, "follows takes PrunableWrappers"),
    ],
)
def test_each_bad_argument_is_named_with_the_layer(arguments, message):
    # Every argument check names the wrapped layer and the argument itself,
    # so that a message from inside prune() points at the one to fix.
    with pytest.raises((ValueError, TypeError)) as raised:
        PrunableWrapper(L.Dense(2, name="dense_z"), **arguments)
    assert str(raised.value).startswith("PrunableWrapper('dense_z')")
    assert message in str(raised.value)


def test_wrapping_a_wrapper_or_a_non_layer():
    wrapper = PrunableWrapper(L.Dense(2, name="inner"))
    with pytest.raises(ValueError, match="'ltp_inner' is already a PrunableWrapper"):
        PrunableWrapper(wrapper)
    with pytest.raises(TypeError, match="expects a keras.layers.Layer"):
        PrunableWrapper("dense")


def test_prune_rejects_non_layers_and_pruned_models():
    with pytest.raises(TypeError, match="expects a keras.Model or keras.layers.Layer.*ndarray"):
        keras_ltp.prune(np.zeros(3))
    model = keras.Sequential([keras.Input((3,)), L.Dense(2)])
    pruned = keras_ltp.prune(model)
    with pytest.raises(ValueError, match="already contains the PrunableWrapper"):
        keras_ltp.prune(pruned)
    with pytest.raises(ValueError, match="already a PrunableWrapper"):
        keras_ltp.prune(pruned.layers[0])
    with pytest.raises(ValueError, match="no layer with prunable weights"):
        keras_ltp.prune(keras.Sequential([keras.Input((3,)), L.ReLU()]))


def test_num_prunable_counts_elements():
    wrapper = PrunableWrapper(L.SeparableConv2D(4, 3))
    wrapper.build((None, 8, 8, 3))
    assert wrapper.num_prunable() == 3 * 3 * 3 + 3 * 4 == sum(math.prod(w.shape) for w in wrapper.pruned_weights)


def test_an_inner_training_true_default_does_not_make_inference_use_soft_masks():
    class TrainingByDefault(keras.layers.Dense):
        def call(self, inputs, training=True):
            return super().call(inputs)

    layer = TrainingByDefault(3)
    wrapper = PrunableWrapper(layer, initial_threshold=0.5)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    outputs = keras.ops.convert_to_numpy(wrapper(x))  # no training argument: inference
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    tau = 0.5 * np.mean(kernel**2)
    expected = x @ (kernel * (kernel**2 > tau)) + keras.ops.convert_to_numpy(layer.bias)
    np.testing.assert_allclose(outputs, expected, atol=1e-5)
    assert not wrapper.losses  # no soft-L0 term: not a training call


class _OwnSpecWithoutTraining(keras.layers.Dense):
    """A layer whose call takes `training` but whose own
    `compute_output_spec` does not."""

    def call(self, inputs, training=None):
        return super().call(inputs)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=self.compute_dtype)


def test_an_inner_output_spec_that_takes_no_training_argument_is_not_given_one():
    # The wrapper hands `training` on to the inner compute_output_spec only
    # when that takes it (a parameter of that name, or **kwargs).
    layer = _OwnSpecWithoutTraining(3)
    inputs = keras.Input((5,))
    outputs = PrunableWrapper(layer, initial_threshold=0.5)(inputs)
    assert tuple(outputs.shape) == (None, 3)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    expected = x @ (kernel * (kernel**2 > 0.5 * np.mean(kernel**2))) + keras.ops.convert_to_numpy(layer.bias)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)), expected, atol=1e-5)


class _Conditioned(keras.layers.Layer):
    """`concat(x, context) @ kernel`, built from both inputs' shapes: its
    build needs the keyword input too."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, x_shape, context_shape):
        self.kernel = self.add_weight(shape=(x_shape[-1] + context_shape[-1], self.units), name="kernel")

    def call(self, x, context):
        return keras.ops.matmul(keras.ops.concatenate([x, context], axis=-1), self.kernel)


def test_an_unbuilt_layer_is_built_from_its_keyword_inputs_too():
    keras.utils.set_random_seed(3)
    wrapper = PrunableWrapper(_Conditioned(4), initial_threshold=0.5)
    rng = np.random.default_rng(2)
    x, context = rng.normal(size=(3, 5)).astype("float32"), rng.normal(size=(3, 2)).astype("float32")
    out = keras.ops.convert_to_numpy(wrapper(x, context=context))
    kernel = keras.ops.convert_to_numpy(wrapper.layer.kernel)
    assert kernel.shape == (7, 4)
    expected = np.concatenate([x, context], axis=-1) @ (kernel * (kernel**2 > 0.5 * np.mean(kernel**2)))
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_hard_forward_defaults_on_for_channels_and_off_per_weight():
    # A channel half-on in training would feed the next batch norm
    # statistics that inference never sees: channel granularity trains with
    # the hard mask forward by default, per-weight pruning with the soft one.
    assert PrunableWrapper(L.Dense(2), granularity="channel").hard_forward is True
    assert PrunableWrapper(L.Dense(2)).hard_forward is False
    assert PrunableWrapper(L.Dense(2), granularity="channel", hard_forward=False).hard_forward is False


def test_the_wrapper_takes_its_layers_dtype_policy_and_never_autocasts():
    # The layer's own policy, not the global one; an `autocast` in a config
    # (Keras writes one) is accepted and the wrapper still reads raw weights.
    wrapper = PrunableWrapper(L.Dense(2, dtype="mixed_float16"), autocast=True)
    assert wrapper.dtype_policy.name == "mixed_float16"
    assert wrapper.autocast is False
    assert "autocast" not in wrapper.get_config()


def test_the_wrappers_variables_have_names_to_select_them_by():
    # What `model.weights` shows and what an optimizer's
    # `exclude_from_weight_decay(var_names=...)` matches.
    wrapper = PrunableWrapper(L.LSTM(3, name="rnn"))
    wrapper(np.zeros((1, 2, 4), "float32"))
    own = [v.path for v in wrapper.weights if v.path.startswith(wrapper.name + "/") and "/rnn/" not in v.path]
    assert own == [f"{wrapper.name}/{n}" for n in ("threshold_0", "threshold_1", "temperature", "l0_strength")]


class _ScaledDense(keras.layers.Dense):
    def call(self, inputs, scale=2.0):
        return super().call(inputs) * scale


def test_a_call_argument_keeps_the_layers_own_default():
    # The wrapper adopts its layer's call signature; a default other than
    # None must reach the layer as the layer defines it.
    layer = _ScaledDense(3)
    wrapper = PrunableWrapper(layer)
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    outputs = keras.ops.convert_to_numpy(wrapper(x))
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in (layer.kernel, layer.bias))
    np.testing.assert_allclose(outputs, 2.0 * (x @ kernel + bias), atol=1e-5)
    inputs = keras.Input((4,))
    symbolic = keras.Model(inputs, wrapper(inputs))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(symbolic(x)), outputs, atol=1e-5)


class _KeywordDense(keras.layers.Dense):
    """A layer whose call takes `**kwargs` and no `training`."""

    def call(self, inputs, **kwargs):
        self.seen = sorted(kwargs)
        return super().call(inputs) * kwargs.get("scale", 1.0)


def test_a_layer_whose_call_takes_keywords_but_no_training_is_wrapped():
    # The wrapper adds `training` to the adopted signature before `**kwargs`
    # (after it, the signature would be invalid) and never hands it on.
    layer = _KeywordDense(3)
    wrapper = PrunableWrapper(layer)
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    outputs = keras.ops.convert_to_numpy(wrapper(x, scale=3.0, training=True))
    assert layer.seen == ["scale"]
    assert wrapper.call_signature_parameters == ["inputs", "training", "kwargs"]
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    bias = keras.ops.convert_to_numpy(layer.bias)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(wrapper(x, scale=3.0)), 3.0 * (x @ kernel + bias), atol=1e-5)
    assert outputs.shape == (2, 3)


class _CallsItsBlock(keras.Model):
    """A subclassed model that calls its wrapped layer without `training`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.block = PrunableWrapper(L.Dense(3))

    def call(self, inputs):
        return self.block(inputs)


@pytest.mark.parametrize("container", ["subclassed", "sequential_of_a_pair"])
def test_training_reaches_a_wrapper_that_is_not_handed_it(container):
    # Keras hands `training` on through its call context (a subclassed
    # model) or only to layers that declare it (a Sequential model that runs
    # its layers one by one, as it does for a pair of inputs). The wrapper
    # adds its L0 term, and uses the soft mask, only in training.
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    if container == "subclassed":
        model, inputs = _CallsItsBlock(), x
    else:
        model, inputs = keras.Sequential([L.Add(), PrunableWrapper(L.Dense(3))]), [x, x]
    model(inputs, training=False)
    assert len(model.losses) == 0
    model(inputs, training=True)
    assert len(model.losses) == 1
