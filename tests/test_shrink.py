"""`shrink()`: zero channels removed, the function unchanged.

The reference is always the model before shrinking (its own forward pass),
and the widths are checked against the zeros put in by hand or by the
hard masks, so a shrink that removes a live channel or keeps a dead one
fails."""

import keras
import numpy as np
import pytest
from conftest import IN_SUBSUITE
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_ltp

layers = keras.layers
PROPERTY = settings(max_examples=(12 if not IN_SUBSUITE else 4), deadline=None, derandomize=True)


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def zero_channels(layer, channels):
    """Zeroes output channels of a Dense/Conv layer's kernel and bias."""
    values = [numpy(v.value) for v in layer.weights]
    for value, variable in zip(values, layer.weights):
        if variable.name == "kernel":
            value[..., channels] = 0
        elif variable.name == "bias":
            value[channels] = 0
    layer.set_weights(values)


def widths(model):
    return {layer.name: layer.get_config().get("units", layer.get_config().get("filters")) for layer in model.layers}


def _conv_net():
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Conv2D(8, 3, padding="same", name="c1"),
            layers.BatchNormalization(name="bn1"),
            layers.ReLU(name="r1"),
            layers.DepthwiseConv2D(3, padding="same", name="dw"),
            layers.BatchNormalization(name="bn2"),
            layers.ReLU(name="r2"),
            layers.Conv2D(12, 1, name="c2"),
            layers.MaxPooling2D(name="pool"),
            layers.Flatten(name="flat"),
            layers.Dense(10, activation="relu", name="d1"),
            layers.Dense(3, name="out"),
        ]
    )


def _randomize_batch_norm(model, rng):
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(size=n), rng.normal(size=n), rng.uniform(0.5, 2, n)])


def test_shrink_equals_the_channel_pruned_model_and_removes_its_pruned_channels():
    rng = np.random.default_rng(0)
    model = _conv_net()
    _randomize_batch_norm(model, rng)
    pruned = keras_ltp.prune(model, granularity="channel", initial_threshold=1.0)
    x = rng.normal(size=(5, 8, 8, 3)).astype("float32")
    shrunk, report = keras_ltp.shrink(pruned, return_report=True)
    np.testing.assert_allclose(numpy(shrunk(x)), numpy(pruned(x, training=False)), rtol=1e-4, atol=1e-5)
    masks = {
        w.layer.layers[0].name if isinstance(w.layer, keras.Sequential) else w.layer.name: numpy(w.channel_mask())
        for w in keras_ltp.iter_wrappers(pruned)
        if w.granularity == "channel"
    }
    got = widths(shrunk)
    assert got["c1"] == masks["c1"].sum() < 8
    assert got["c2"] == masks["c2"].sum() < 12
    assert got["d1"] == masks["d1"].sum()
    assert got["out"] == 3
    assert shrunk.get_layer("dw").kernel.shape[-2] == got["c1"]
    assert shrunk.get_layer("d1").kernel.shape[0] == 4 * 4 * got["c2"]  # Flatten rows of the kept channels
    assert [type(layer) for layer in shrunk.layers] == [type(layer) for layer in model.layers]
    assert report.removed == (8 - got["c1"]) + (12 - got["c2"]) + (10 - got["d1"])
    assert "keras_ltp" not in str(shrunk.get_config())


def test_add_couples_channels_and_concatenate_removes_them_at_their_offset():
    x = keras.Input((6, 6, 2))
    a = layers.Conv2D(4, 3, padding="same", name="a")(x)
    b = layers.Conv2D(4, 1, name="b")(x)
    h = layers.ReLU()(layers.Add()([a, b]))
    c = layers.Conv2D(3, 1, name="c")(h)
    d = layers.Conv2D(5, 1, name="d")(h)
    joined = layers.Concatenate()([c, d, x])  # x, a model input, keeps its 2 channels
    y = layers.Dense(2, name="y")(layers.GlobalAveragePooling2D()(joined))
    model = keras.Model(x, y)
    zero_channels(model.get_layer("a"), [0, 1])
    zero_channels(model.get_layer("b"), [1, 2])  # only channel 1 is zero in both addends
    zero_channels(model.get_layer("c"), [0])
    zero_channels(model.get_layer("d"), [1, 4])
    inputs = np.random.default_rng(1).normal(size=(3, 6, 6, 2)).astype("float32")
    shrunk, report = keras_ltp.shrink(model, return_report=True)
    np.testing.assert_allclose(numpy(shrunk(inputs)), numpy(model(inputs)), rtol=1e-5, atol=1e-6)
    got = widths(shrunk)
    assert (got["a"], got["b"], got["c"], got["d"]) == (3, 3, 2, 3)
    assert shrunk.get_layer("c").kernel.shape[-2] == 3
    # y reads the concatenation: rows 1, 2 (c), 3, 5, 6 (d) and 8, 9 (x) of 10 stay, in order.
    np.testing.assert_array_equal(
        numpy(shrunk.get_layer("y").kernel.value), numpy(model.get_layer("y").kernel.value)[[1, 2, 3, 5, 6, 8, 9]]
    )


def test_a_concatenation_whose_zero_channel_a_batch_norm_revives_keeps_the_channel():
    x = keras.Input((5, 5, 2))
    a = layers.Conv2D(3, 3, padding="same", name="a")(x)
    b = layers.Conv2D(2, 1, name="b")(x)
    joined = layers.BatchNormalization(name="bn")(layers.Concatenate()([a, b]))
    model = keras.Model(x, layers.Dense(2, name="y")(layers.GlobalAveragePooling2D()(joined)))
    bn = model.get_layer("bn")
    bn.set_weights([np.ones(5), np.array([0.0, 0.5, 0.0, 0.0, 0.0]), np.zeros(5), np.ones(5)])
    zero_channels(model.get_layer("a"), [1, 2])  # channel 1 leaves the batch norm as 0.5: kept
    zero_channels(model.get_layer("b"), [0])
    inputs = np.random.default_rng(2).normal(size=(2, 5, 5, 2)).astype("float32")
    shrunk = keras_ltp.shrink(model)
    np.testing.assert_allclose(numpy(shrunk(inputs)), numpy(model(inputs)), rtol=1e-5, atol=1e-6)
    assert (widths(shrunk)["a"], widths(shrunk)["b"], shrunk.get_layer("bn").gamma.shape[0]) == (2, 1, 3)


def test_nested_models_are_shrunk_inside_and_keep_their_boundaries():
    inner = keras.Sequential(
        [keras.Input((5,)), layers.Dense(6, activation="relu", name="h1"), layers.Dense(4, name="h2")], name="inner"
    )
    x = keras.Input((5,))
    y = layers.Dense(2, name="top")(inner(x))
    model = keras.Model(x, y)
    zero_channels(inner.get_layer("h1"), [0, 3, 5])
    zero_channels(inner.get_layer("h2"), [1])  # the nested model's output: kept
    data = np.random.default_rng(2).normal(size=(4, 5)).astype("float32")
    shrunk = keras_ltp.shrink(model)
    np.testing.assert_allclose(numpy(shrunk(data)), numpy(model(data)), rtol=1e-5, atol=1e-6)
    nested = shrunk.get_layer("inner")
    assert nested.get_layer("h1").units == 3 and nested.get_layer("h2").units == 4


@keras.saving.register_keras_serializable(package="test_shrink")
class OwnConfigNet(keras.Model):
    """A Functional model class with a config of its own (no "layers" in
    it), as a KerasHub backbone is."""

    def __init__(self, filters=6, **kwargs):
        x = keras.Input((6, 6, 2))
        h = layers.Conv2D(filters, 3, padding="same", activation="relu", name="c")(x)
        y = layers.Dense(3, name="y")(layers.GlobalAveragePooling2D()(h))
        super().__init__(x, y, **kwargs)
        self.filters = filters

    def get_config(self):
        return {"filters": self.filters, "name": self.name}


def test_a_model_class_with_its_own_config_is_channel_pruned_and_shrunk():
    model = OwnConfigNet()
    zero_channels(model.get_layer("c"), [1, 4])
    data = np.random.default_rng(3).normal(size=(2, 6, 6, 2)).astype("float32")
    pruned = keras_ltp.prune(model, granularity="channel")
    assert pruned.ltp_channel_report["channel"] == ["ltp_c"]
    shrunk = keras_ltp.shrink(pruned)
    np.testing.assert_allclose(numpy(shrunk(data)), numpy(model(data)), rtol=1e-5, atol=1e-6)
    assert widths(shrunk)["c"] == 4


class Opaque(keras.layers.Layer):
    """Applies a function given to it: its get_config() raises (Keras'
    default, for a non-serializable argument)."""

    def __init__(self, fn, **kwargs):
        super().__init__(**kwargs)
        self.fn = fn

    def call(self, x):
        return self.fn(x)


@keras.saving.register_keras_serializable(package="test_shrink")
class OpaqueNet(keras.Model):
    """Rebuilds itself from its own config, though a layer in it cannot
    write a config (as some KerasHub backbones)."""

    def __init__(self, **kwargs):
        x = keras.Input((5,))
        h = Opaque(keras.ops.relu, name="opaque")(layers.Dense(4, name="d")(x))
        super().__init__(x, layers.Dense(2, name="y")(h), **kwargs)

    def get_config(self):
        return {"name": self.name}


def test_a_graph_that_cannot_be_read_is_pruned_per_weight_and_shrink_gives_the_stripped_model():
    model = OpaqueNet(name="opaque_net")
    with pytest.warns(UserWarning, match="pruned per weight"):
        pruned = keras_ltp.prune(model, granularity="channel", initial_threshold=0.5)
    assert all(w.granularity == "weight" for w in keras_ltp.iter_wrappers(pruned))
    assert "cannot be read from its config" in pruned.ltp_channel_report["weight"]["ltp_d"]
    data = np.random.default_rng(5).normal(size=(3, 5)).astype("float32")
    with pytest.warns(UserWarning, match="removed nothing.*cannot be read"):
        shrunk = keras_ltp.shrink(pruned)
    assert isinstance(shrunk, OpaqueNet)  # strip()'s model: nothing to remove
    np.testing.assert_allclose(numpy(shrunk(data)), numpy(pruned(data)), rtol=1e-5, atol=1e-6)


def test_tensors_of_unknown_width_are_left_alone_and_the_rest_shrinks():
    ids = keras.Input((None,), dtype="int32")  # token ids: the last axis is a free length, not channels
    h = layers.Embedding(20, 4, name="embed")(ids)
    h = layers.Conv1D(6, 3, padding="same", activation="relu", name="c")(h)
    model = keras.Model(ids, layers.Dense(2, name="y")(layers.GlobalAveragePooling1D()(h)))
    zero_channels(model.get_layer("c"), [0, 5])
    data = np.random.default_rng(4).integers(0, 20, size=(3, 7)).astype("int32")
    shrunk = keras_ltp.shrink(model)
    np.testing.assert_allclose(numpy(shrunk(data)), numpy(model(data)), rtol=1e-5, atol=1e-6)
    assert widths(shrunk)["c"] == 4


@keras.saving.register_keras_serializable(package="test_shrink")
class WithEmptyCache(keras.layers.Layer):
    """Returns its input and an empty cache, as KerasHub's EdRec decoder
    block does without a cache: an output with no channel at all."""

    def call(self, x):
        return keras.ops.relu(x), keras.ops.zeros((0,))

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, x.dtype), keras.KerasTensor((0,), x.dtype)


def test_an_output_without_channels_is_left_alone_and_the_rest_shrinks():
    x = keras.Input((5,))
    h, _ = WithEmptyCache(name="block")(layers.Dense(6, name="d")(x))
    model = keras.Model(x, layers.Dense(2, name="y")(layers.Dense(4, name="e")(h)))
    zero_channels(model.get_layer("e"), [1, 2])
    data = np.random.default_rng(6).normal(size=(3, 5)).astype("float32")
    shrunk = keras_ltp.shrink(model)
    np.testing.assert_allclose(numpy(shrunk(data)), numpy(model(data)), rtol=1e-5, atol=1e-6)
    assert widths(shrunk)["e"] == 2


@pytest.mark.parametrize("kind", ["conv1d", "conv2d_transpose", "separable", "conv3d"])
def test_each_producer_type_shrinks_exactly(kind):
    make = {
        "conv1d": (lambda n: layers.Conv1D(n, 3, padding="same", activation="relu"), (7, 3)),
        "conv2d_transpose": (lambda n: layers.Conv2DTranspose(n, 3, strides=2, padding="same"), (4, 4, 3)),
        "separable": (lambda n: layers.SeparableConv2D(n, 3, padding="same", depth_multiplier=2), (6, 6, 3)),
        "conv3d": (lambda n: layers.Conv3D(n, 2, padding="same"), (3, 3, 3, 2)),
    }[kind]
    build, shape = make
    model = keras.Sequential(
        [
            keras.Input(shape),
            build(6),
            build(5),
            layers.GlobalMaxPooling1D() if kind == "conv1d" else layers.Flatten(),
            layers.Dense(2),
        ]
    )
    first = model.layers[0]
    values = [numpy(v.value) for v in first.weights]
    for value, variable in zip(values, first.weights):
        if variable.name in ("kernel", "pointwise_kernel"):
            axis = -2 if kind == "conv2d_transpose" else -1
            index = [slice(None)] * value.ndim
            index[axis] = [1, 4]
            value[tuple(index)] = 0
        elif variable.name == "bias":
            value[[1, 4]] = 0
    first.set_weights(values)
    data = np.random.default_rng(3).normal(size=(2,) + shape).astype("float32")
    shrunk = keras_ltp.shrink(model)
    np.testing.assert_allclose(numpy(shrunk(data)), numpy(model(data)), rtol=1e-4, atol=1e-5)
    assert shrunk.layers[0].filters == 4 and shrunk.layers[1].filters == 5


def test_a_channel_pruned_model_exports_shrunk():
    pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("keras_ltp.export runs on the TensorFlow backend")
    model = _conv_net()
    pruned = keras_ltp.prune(model, granularity="channel", initial_threshold=1.0)
    deployed = keras_ltp.export.deployable(pruned)
    assert deployed.count_params() < keras_ltp.strip(pruned).count_params()
    weight_pruned = keras_ltp.prune(model, initial_threshold=1.0)
    assert keras_ltp.export.deployable(weight_pruned).count_params() == model.count_params()


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_channel_pruned_exports_run_in_litert_default_options(tmp_path, quantize):
    """What a phone gets (XNNPack on): the shrunk network, float and int8."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("keras_ltp.export runs on the TensorFlow backend")
    rng = np.random.default_rng(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Conv2D(8, 3, padding="same", name="c1"),
            layers.BatchNormalization(name="bn1"),
            layers.ReLU(),
            layers.Conv2D(12, 1, name="c2"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3, name="out"),
        ]
    )
    _randomize_batch_norm(model, rng)
    pruned = keras_ltp.prune(model, granularity="channel", initial_threshold=1.0)
    x = rng.normal(size=(40, 8, 8, 3)).astype("float32")
    path = keras_ltp.export.tflite(pruned, tmp_path / "m.tflite", quantize=quantize, representative_data=x)
    runner = keras_ltp.export.interpreter(path)  # default options; a delegate failure raises here
    assert "DELEGATE" in [op["op_name"] for op in runner._get_ops_details()]  # XNNPack took the graph
    got = keras_ltp.export.run_tflite(path, x)
    expected = keras.ops.convert_to_numpy(pruned(x, training=False))
    if quantize is None:
        np.testing.assert_allclose(got, expected, atol=1e-4 * max(1.0, np.abs(expected).max()))
    else:
        assert np.abs(got - expected).max() <= 0.05 * np.ptp(expected)
    # The narrower network, not zeros: c1's kernel (out, 3, 3, in=3) has lost filters.
    kept = keras_ltp.shrink(pruned).get_layer("c1").filters
    shapes = [tuple(d["shape"]) for d in runner.get_tensor_details()]
    assert kept < 8 and (kept, 3, 3, 3) in shapes and (8, 3, 3, 3) not in shapes


def test_shrink_refuses_subclassed_models():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.fc = layers.Dense(2)

        def call(self, x):
            return self.fc(x)

    with pytest.raises(TypeError, match="Sequential or Functional"):
        keras_ltp.shrink(Net())


@PROPERTY
@given(
    st.lists(st.integers(2, 6), min_size=2, max_size=4),
    st.lists(st.lists(st.booleans(), min_size=6, max_size=6), min_size=4, max_size=4),
    st.sampled_from(["chain", "residual", "concat"]),
)
def test_shrink_is_the_identity_on_the_function(widths_list, zero_flags, join):
    """On generated conv stacks with random zero channels and a residual or
    concatenating join, the shrunk model computes what the model computes."""
    rng = np.random.default_rng(len(widths_list))
    x = keras.Input((5, 5, 2))
    h, convs = x, []
    for i, width in enumerate(widths_list):
        conv = layers.Conv2D(width, 3, padding="same", name=f"conv{i}")
        convs.append(conv)
        h = layers.ReLU()(layers.BatchNormalization(name=f"bn{i}")(conv(h)))
    if join == "residual":
        side = layers.Conv2D(widths_list[-1], 1, name="side")
        convs.append(side)
        h = layers.Add()([h, side(x)])
    elif join == "concat":
        h = layers.Concatenate()([h, x])
    y = layers.Dense(3)(layers.GlobalAveragePooling2D()(h))
    model = keras.Model(x, y)
    _randomize_batch_norm(model, rng)
    for conv, flags in zip(convs, zero_flags + [zero_flags[0]]):
        zeroed = [c for c in range(conv.filters) if flags[c % len(flags)]]
        zero_channels(conv, zeroed)
        bn = model.get_layer(conv.name.replace("conv", "bn")) if conv.name.startswith("conv") else None
        if bn is not None:  # a zero channel stays zero through its batch norm only with scale and shift zero
            values = [numpy(v.value) for v in bn.weights]
            values[0][zeroed], values[1][zeroed] = 0, 0
            bn.set_weights(values)
    data = rng.normal(size=(2, 5, 5, 2)).astype("float32")
    shrunk = keras_ltp.shrink(model)
    np.testing.assert_allclose(numpy(shrunk(data)), numpy(model(data)), rtol=1e-4, atol=1e-5)
    assert shrunk.count_params() <= model.count_params()


def test_shrink_says_when_it_removes_nothing():
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    with pytest.warns(UserWarning, match="removed nothing: no channel is zero") as caught:
        same = keras_ltp.shrink(dense)
    assert len([w for w in caught if "removed nothing" in str(w.message)]) == 1
    np.testing.assert_allclose(keras.ops.convert_to_numpy(same(x)), keras.ops.convert_to_numpy(dense(x)), atol=1e-6)
    per_weight = keras_ltp.prune(dense, initial_threshold=1.0)
    with pytest.warns(UserWarning, match="removes whole channels only.*granularity='weight'.*stripped copy"):
        stripped = keras_ltp.shrink(per_weight)
    assert not list(keras_ltp.iter_wrappers(stripped))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(stripped(x)), keras.ops.convert_to_numpy(per_weight(x)), atol=1e-6
    )
