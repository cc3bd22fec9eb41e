"""prune(), strip() and sparsity() on whole models."""

import json

import keras
import numpy as np
import pytest
from helpers import numpy_hard_masked

import keras_ltp
from keras_ltp import PrunableWrapper, iter_wrappers

L = keras.layers


def functional_with_everything():
    """Nested Sequential backbone, a shared layer, a two-input layer, BatchNorm."""
    backbone = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            L.Conv2D(4, 3, name="bb_conv"),
            L.BatchNormalization(),
            L.ReLU(),
            L.GlobalAveragePooling2D(),
        ],
        name="backbone",
    )
    image = keras.Input((8, 8, 3), name="image")
    seq = keras.Input((5, 6), name="seq")
    shared = L.Dense(6, name="shared")
    attention = L.MultiHeadAttention(2, 3, name="mha")
    a = shared(seq)
    b = shared(attention(a, a))
    pooled = L.GlobalAveragePooling1D()(b)
    merged = L.Concatenate()([backbone(image), pooled])
    out = L.Dense(3, name="head")(merged)
    return keras.Model([image, seq], out)


def data(n=32):
    rng = np.random.default_rng(0)
    return [
        rng.normal(size=(n, 8, 8, 3)).astype("float32"),
        rng.normal(size=(n, 5, 6)).astype("float32"),
    ], rng.integers(0, 3, n)


def test_prune_functional_nested_shared_multi_input():
    model = functional_with_everything()
    x, y = data()
    original_weights = [w.copy() for w in model.get_weights()]
    original_layers = list(model.layers)
    pruned = keras_ltp.prune(model, l0_strength=1.0, initial_threshold=0.0)
    wrappers = list(iter_wrappers(pruned))
    assert sorted(w.layer.name for w in wrappers) == ["bb_conv", "head", "mha", "shared"]
    # Fresh thresholds at 0 keep every non-zero weight: same function as before.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pruned(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-6)
    # Shared layer stays shared (one wrapper, used twice).
    shared = [w for w in wrappers if w.layer.name == "shared"]
    assert len(shared) == 1
    pruned.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    pruned.fit(x, y, epochs=2, verbose=0)
    # The given model is untouched: same layers, same weights, no wrapper.
    assert list(model.layers) == original_layers
    assert not list(iter_wrappers(model))
    for before, after in zip(original_weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


@pytest.mark.slow
def test_prune_nested_keras_application_prunes_depthwise_kernels():
    backbone = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    inputs = keras.Input((32, 32, 3))
    out = L.Dense(10)(L.GlobalAveragePooling2D()(backbone(inputs)))
    model = keras.Model(inputs, out)
    pruned = keras_ltp.prune(model)
    kinds = {type(w.layer).__name__ for w in iter_wrappers(pruned)}
    assert {"Conv2D", "DepthwiseConv2D", "Dense"} <= kinds
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pruned(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-5)
    assert keras_ltp.sparsity(pruned)["total"] == sum(
        int(np.prod(w.shape)) for w in model.weights if w.name in ("kernel", "depthwise_kernel")
    )


def test_layer_options_callable_skips_and_customises():
    model = keras.Sequential(
        [keras.Input((4,)), L.Dense(8, name="first"), L.Dense(8, name="mid"), L.Dense(2, name="last")]
    )

    def options(layer):
        if layer.name == "last":
            return None
        if layer.name == "mid":
            return {"l0_strength": 3.0, "temperature": 0.5}
        return {}

    pruned = keras_ltp.prune(model, options, l0_strength=1.0)
    by_name = {w.layer.name: w for w in iter_wrappers(pruned)}
    assert set(by_name) == {"first", "mid"}
    assert type(pruned.get_layer("last")) is L.Dense
    assert by_name["mid"].initial_l0_strength == 3.0 and by_name["mid"].initial_temperature == 0.5
    assert by_name["first"].initial_l0_strength == 1.0
    # Normalised over the pruned layers together: 4*8 + 8*8 weights.
    assert by_name["first"].l0_normalizer == by_name["mid"].l0_normalizer == 96.0
    with pytest.raises(TypeError, match="must return a dict or None"):
        keras_ltp.prune(model, lambda layer: 3)
    with pytest.raises(TypeError, match="layer_options must be a callable"):
        keras_ltp.prune(model, {"l0_strength": 1.0})


def test_flops_cost_weights_layers_by_output_positions():
    model = keras.Sequential(
        [keras.Input((10, 10, 1)), L.Conv2D(2, 3, name="conv"), L.Flatten(), L.Dense(3, name="fc")]
    )
    pruned = keras_ltp.prune(model, cost="flops")
    by_name = {w.layer.name: w for w in iter_wrappers(pruned)}
    assert by_name["conv"].l0_weight == 64.0  # 8 x 8 output positions
    assert by_name["fc"].l0_weight == 1.0
    assert by_name["fc"].l0_normalizer == 64.0 * 18 + 1.0 * 128 * 3
    with pytest.raises(ValueError, match="cost must be one of"):
        keras_ltp.prune(model, cost="bytes")


def test_prune_a_single_layer_copies_it():
    dense = L.Dense(3)
    dense.build((None, 2))
    wrapper = keras_ltp.prune(dense, temperature=0.1)
    assert isinstance(wrapper, PrunableWrapper) and wrapper.layer is not dense
    with pytest.raises(ValueError, match="returned None for 'dense.*nothing left to prune"):
        keras_ltp.prune(dense, lambda layer: None)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(wrapper.layer.kernel), keras.ops.convert_to_numpy(dense.kernel)
    )


class SubclassedNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.blocks = [keras_ltp.prune(L.Dense(16, activation="relu")), L.Dropout(0.1)]
        self.head = keras_ltp.PrunableWrapper(L.Dense(3))

    def call(self, x, training=None):
        for block in self.blocks:
            x = block(x, training=training)
        return self.head(x, training=training)


def test_subclassed_model_path_and_clear_error():
    model = SubclassedNet()
    x = np.random.default_rng(0).normal(size=(64, 5)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, 64)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[keras_ltp.callbacks.SparsityMonitor()])
    assert len(list(iter_wrappers(model))) == 2
    assert "sparsity" in history.history
    assert len([k for k in history.history if k.startswith("sparsity/")]) == 2

    class Plain(keras.Model):
        def __init__(self):
            super().__init__()
            self.fc = L.Dense(3)

        def call(self, x):
            return self.fc(x)

    with pytest.raises(TypeError, match="cannot rebuild the subclassed model.*in __init__"):
        keras_ltp.prune(Plain())
    stripped_head = keras_ltp.strip(model.head)
    assert type(stripped_head) is L.Dense


def _train_briefly(pruned, x, y):
    pruned.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    for wrapper in iter_wrappers(pruned):
        for theta in wrapper.thresholds:
            theta.assign(0.8)  # prune a good share so masking is visible
    pruned.fit(x, y, epochs=1, verbose=0)


def test_strip_gives_plain_model_same_function():
    model = functional_with_everything()
    pruned = keras_ltp.prune(model)
    x, y = data()
    _train_briefly(pruned, x, y)
    stripped = keras_ltp.strip(pruned)
    config = json.dumps(stripped.get_config())
    assert "keras_ltp" not in config and "PrunableWrapper" not in config
    assert [type(layer).__name__ for layer in stripped.layers] == [type(layer).__name__ for layer in model.layers]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(stripped(x)), keras.ops.convert_to_numpy(pruned(x, training=False)), atol=1e-6
    )
    # The zeros in the stripped weights are exactly the hard-pruned weights.
    report = keras_ltp.sparsity(pruned)
    zeros = sum(int(np.sum(w.numpy() == 0)) for w in stripped.weights if w.name in ("kernel",))
    assert zeros == report["total"] - report["kept"] > 0
    # Stripping does not modify the pruned model.
    assert len(list(iter_wrappers(pruned))) == 4


def test_repruning_a_stripped_model_counts_its_zeros_as_pruned():
    model = keras.Sequential([keras.Input((4,)), L.Dense(6, name="d")])
    kernel = np.random.default_rng(3).normal(size=(4, 6)).astype("float32")
    kernel[:2] = 0.0  # half the weights exactly zero, as strip() leaves them
    model.get_layer("d").kernel.assign(kernel)
    report = keras_ltp.sparsity(keras_ltp.prune(model))  # initial threshold 0
    assert report["sparsity"] == 0.5 and report["kept"] == 12


def test_strip_masks_embedding_and_recurrent_weights_of_a_whole_model():
    from keras_ltp.registry import prunable_weights

    tokens = keras.Input((7,), dtype="int32")
    x = L.Embedding(30, 8, name="emb")(tokens)
    x = L.LSTM(5, name="lstm")(x)
    model = keras.Model(tokens, L.Dense(2, name="head")(x))
    pruned = keras_ltp.prune(model)
    for wrapper in iter_wrappers(pruned):
        for theta in wrapper.thresholds:
            theta.assign(0.7 / wrapper.threshold_gain)  # tau = 0.7 mean(w^2): a good share pruned
    stripped = keras_ltp.strip(pruned)
    checked = []
    for original, plain in zip(pruned.layers, stripped.layers):
        if not isinstance(original, PrunableWrapper):
            continue
        assert type(plain) is type(original.layer)
        for variable, want in zip(prunable_weights(plain), numpy_hard_masked(original), strict=True):
            got = keras.ops.convert_to_numpy(variable.value)
            assert 0 < np.mean(got == 0) < 1, variable.path
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
            checked.append(variable.path)
    assert len(checked) == 4, checked  # embeddings, LSTM kernel and recurrent kernel, head kernel
    x = np.random.default_rng(0).integers(0, 30, (4, 7)).astype("int32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(stripped(x)), keras.ops.convert_to_numpy(pruned(x, training=False)), atol=1e-6
    )


def test_sparsity_report_matches_numpy_count():
    model = keras.Sequential([keras.Input((6,)), L.Dense(10, name="a"), L.Dense(4, name="b")])
    pruned = keras_ltp.prune(model)
    wrappers = list(iter_wrappers(pruned))
    wrappers[0].thresholds[0].assign(1.0 / wrappers[0].threshold_gain)  # tau = mean(w^2)
    report = keras_ltp.sparsity(pruned)
    w = wrappers[0].layer.kernel.numpy().astype("float64")
    kept_a = int(np.sum(w**2 > np.mean(w**2)))
    assert report["layers"]["ltp_a"]["kept"] == kept_a
    assert report["kept"] == kept_a + 40 and report["total"] == 100
    assert report["sparsity"] == pytest.approx(1 - (kept_a + 40) / 100)
    np.testing.assert_allclose(report["weights"][0]["threshold"], np.mean(w**2), rtol=1e-5)
    table = str(report)
    assert "a/kernel" in table and "overall" in table
    with pytest.raises(ValueError, match="contains no PrunableWrapper"):
        keras_ltp.sparsity(model)


def test_functional_graph_with_plain_tensor_operations():
    """`x + y` and keras.ops calls in a Functional model are nodes that are not layers."""
    inputs = keras.Input((5, 4))
    attended = L.MultiHeadAttention(2, 2, name="mha")(inputs, inputs)
    x = keras.ops.relu(inputs + attended)
    outputs = L.Dense(3, name="fc")(x)
    model = keras.Model(inputs, outputs)
    x_data = np.random.default_rng(0).normal(size=(4, 5, 4)).astype("float32")
    pruned = keras_ltp.prune(model)
    assert sorted(w.layer.name for w in iter_wrappers(pruned)) == ["fc", "mha"]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(pruned(x_data)), keras.ops.convert_to_numpy(model(x_data)), atol=1e-6
    )
    stripped = keras_ltp.strip(pruned)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(stripped(x_data)), keras.ops.convert_to_numpy(model(x_data)), atol=1e-6
    )
