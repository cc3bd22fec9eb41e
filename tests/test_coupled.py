"""Channels that meet in a residual `Add`: one mask for every group that
writes them, costs counted by hand, and shrink() removing them everywhere."""

import keras
import numpy as np
import pytest

import keras_ltp
from keras_ltp.graph import Graph

layers = keras.layers


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _stream_model():
    """stem -> (inner -> project) + stem -> head: stem and project write the same 4 channels."""
    x = keras.Input((6, 6, 2))
    h = layers.Conv2D(4, 3, padding="same", name="stem")(x)
    h = layers.ReLU()(layers.BatchNormalization(name="stem_bn")(h))
    b = layers.ReLU()(layers.Conv2D(3, 3, padding="same", name="inner")(h))
    b = layers.BatchNormalization(name="project_bn")(layers.Conv2D(4, 1, name="project")(b))
    h = layers.ReLU()(layers.Add()([h, b]))
    h = layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, layers.Dense(3, name="head")(h))


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, w.shape) if i in (0, 3) else rng.normal(size=w.shape)
                    for i, w in enumerate(layer.get_weights())
                ]
            )
    return model


def test_groups_that_meet_in_an_add_share_one_wrapper_called_once_per_group():
    pruned = keras_ltp.prune(_stream_model(), granularity="channel", couple=True)
    report = pruned.ltp_channel_report
    assert report["coupled"] == {"ltp_stem_coupled": ["stem", "project"]}
    assert report["channel"] == ["ltp_inner", "ltp_stem_coupled"]
    coupled = pruned.get_layer("ltp_stem_coupled")
    assert isinstance(coupled.layer, keras_ltp.CoupledChannels)
    assert [[type(x).__name__ for x in m.layers] for m in coupled.layer.members] == [
        ["Conv2D", "BatchNormalization"],
        ["Conv2D", "BatchNormalization"],
    ]
    assert Graph(pruned).calls[id(coupled)] == 2
    assert len(coupled.thresholds) == 1
    # By hand, in weights: a stream channel is stem's 3*3*2 kernel slice and
    # project's 3, plus the input slices of its readers, inner (3*3*3) and
    # head (3). Both readers are wrapped, so the own cost is 18 + 3, and the
    # normalizer counts each of the 72 + 108 + 12 + 12 weights once.
    assert coupled.channel_cost == pytest.approx(18 + 3 + 27 + 3)
    assert coupled.own_channel_cost == pytest.approx(21)
    assert pruned.get_layer("ltp_inner").own_channel_cost == pytest.approx(36)  # project is wrapped
    assert [w.l0_normalizer for w in keras_ltp.iter_wrappers(pruned)] == [pytest.approx(204)] * 3


def _numpy_saliency(kernels):
    total = 0
    for k in kernels:
        s = np.mean(k.reshape(-1, k.shape[-1]) ** 2, axis=0)
        total = total + s / s.mean()
    return total / len(kernels)


def test_one_mask_from_the_mean_saliency_zeroes_the_channel_in_every_group_and_shrink_removes_it():
    pruned = keras_ltp.prune(_randomize(_stream_model()), granularity="channel", couple=True, initial_threshold=1.0)
    coupled = pruned.get_layer("ltp_stem_coupled")
    stem, project = (m.layers[0] for m in coupled.layer.members)
    keep = _numpy_saliency([numpy(stem.kernel.value), numpy(project.kernel.value)]) > 1.0
    assert 0 < keep.sum() < 4
    np.testing.assert_array_equal(numpy(coupled.channel_mask()).astype(bool), keep)
    stripped = keras_ltp.strip(pruned)
    for name in ("stem", "project"):
        kernel, bias = stripped.get_layer(name).get_weights()
        assert np.all(kernel[..., ~keep] == 0) and np.all(bias[~keep] == 0)
        assert np.all(np.abs(kernel[..., keep]).sum(axis=tuple(range(kernel.ndim - 1))) > 0)
    for name in ("stem_bn", "project_bn"):
        gamma, beta = stripped.get_layer(name).get_weights()[:2]
        assert np.all(gamma[~keep] == 0) and np.all(beta[~keep] == 0)
    x = np.random.default_rng(1).normal(size=(5, 6, 6, 2)).astype("float32")
    expected = numpy(pruned(x))
    np.testing.assert_allclose(numpy(stripped(x)), expected, atol=1e-5)
    shrunk, report = keras_ltp.shrink(pruned, return_report=True)
    kept = int(keep.sum())
    assert shrunk.get_layer("stem").kernel.shape[-1] == kept
    assert shrunk.get_layer("project").kernel.shape[-1] == kept
    assert shrunk.get_layer("inner").kernel.shape[-2] == kept
    assert shrunk.get_layer("head").kernel.shape[0] == kept
    np.testing.assert_allclose(numpy(shrunk(x)), expected, atol=1e-4)


def test_the_l0_term_counts_each_stream_channel_once_though_the_wrapper_runs_twice():
    pruned = keras_ltp.prune(_stream_model(), granularity="channel", couple=True, l0_strength=2.0)
    coupled = pruned.get_layer("ltp_stem_coupled")
    x = np.random.default_rng(2).normal(size=(3, 6, 6, 2)).astype("float32")
    pruned(x, training=True)
    terms = [float(numpy(loss)) for loss in coupled.losses]
    assert len(terms) == 2
    kernels = [numpy(m.layers[0].kernel.value) for m in coupled.layer.members]
    s = _numpy_saliency(kernels)
    temp = 0.7 * np.mean([(np.mean(k**2) - np.mean(np.abs(k)) ** 2) / np.mean(k**2) for k in kernels])
    expected = 2.0 * 51 * np.sum(1 / (1 + np.exp(-s / temp))) / 204
    assert sum(terms) == pytest.approx(expected, rel=1e-5)


def test_a_coupled_model_saves_and_loads_in_safe_mode_with_one_set_of_variables(tmp_path):
    pruned = keras_ltp.prune(_randomize(_stream_model()), granularity="channel", couple=True, initial_threshold=1.0)
    x = np.random.default_rng(3).normal(size=(2, 6, 6, 2)).astype("float32")
    path = tmp_path / "coupled.keras"
    pruned.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(numpy(loaded(x)), numpy(pruned(x)), rtol=1e-6, atol=1e-6)
    coupled = loaded.get_layer("ltp_stem_coupled")
    assert Graph(loaded).calls[id(coupled)] == 2
    assert len(loaded.weights) == len(pruned.weights)
    np.testing.assert_array_equal(
        numpy(coupled.channel_mask()), numpy(pruned.get_layer("ltp_stem_coupled").channel_mask())
    )


def test_when_one_group_of_a_stream_cannot_be_channel_pruned_none_of_them_is():
    with pytest.warns(UserWarning, match="ltp_stem"):
        pruned = keras_ltp.prune(
            _stream_model(), lambda layer: None if layer.name == "project" else {}, granularity="channel", couple=True
        )
    reason = pruned.ltp_channel_report["weight"]["ltp_stem"]
    assert "project_bn" in reason and "merge" in reason
    assert pruned.ltp_channel_report["coupled"] == {}
    assert pruned.get_layer("ltp_stem").granularity == "weight"


def test_sparsity_target_steers_coupled_channels_and_shrink_keeps_the_function():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(96, 6, 6, 2)).astype("float32")
    y = rng.integers(0, 3, size=96)
    pruned = keras_ltp.prune(_stream_model(), granularity="channel", cost="flops", couple=True)
    pruned.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    target = keras_ltp.callbacks.SparsityTarget(0.5, check_every=2, measure="cost")
    pruned.fit(x, y, epochs=8, batch_size=16, verbose=0, callbacks=[target])
    coupled = pruned.get_layer("ltp_stem_coupled")
    assert numpy(coupled.channel_mask()).sum() < 4
    shrunk = keras_ltp.shrink(pruned)
    np.testing.assert_allclose(numpy(shrunk(x[:8])), numpy(pruned(x[:8])), atol=1e-4)


def test_coupled_channels_refuses_bad_members_and_strip_of_the_bare_wrapper():
    dense = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    with pytest.raises(ValueError, match="at least two members"):
        keras_ltp.CoupledChannels([dense])
    with pytest.raises(ValueError, match="must be a built Keras layer"):
        keras_ltp.CoupledChannels([dense, layers.Dense(2)])
    both = keras_ltp.CoupledChannels([dense, keras.Sequential([keras.Input((5,)), layers.Dense(2)])])
    with pytest.raises(ValueError, match=r"member must be an int in \[0, 2\)"):
        both(np.ones((1, 3)), member=2)
    wrapper = keras_ltp.PrunableWrapper(both, granularity="channel")
    wrapper(np.ones((1, 3), "float32"), member=0)
    with pytest.raises(TypeError, match="strip the model that calls it"):
        keras_ltp.strip(wrapper)
    odd = keras_ltp.CoupledChannels([dense, keras.Sequential([keras.Input((5,)), layers.Dense(3)])])
    with pytest.raises(ValueError, match="different numbers of channels"):
        keras_ltp.PrunableWrapper(odd, granularity="channel")


def test_streams_keep_their_width_unless_coupling_is_asked_for():
    pruned = keras_ltp.prune(_stream_model(), granularity="channel")
    report = pruned.ltp_channel_report
    assert report["coupled"] == {} and report["channel"] == ["ltp_inner"]
    assert "(Add), which cannot drop a channel" in report["weight"]["ltp_stem"]
    assert report["weight"]["ltp_project"] == report["weight"]["ltp_stem"]
    with pytest.raises(ValueError, match="couple=True applies to granularity='channel' only"):
        keras_ltp.prune(_stream_model(), couple=True)


def test_a_stream_member_that_is_also_a_model_output_makes_all_of_them_fall_back():
    x = keras.Input((8,))
    a = layers.Dense(8, name="a")(x)
    b = layers.Dense(8, name="b")(x)
    model = keras.Model(x, [a, layers.Dense(2, name="head")(layers.Add()([a, b]))])
    pruned = keras_ltp.prune(model, granularity="channel", couple=True)
    report = pruned.ltp_channel_report
    assert (
        report["coupled"] == {}
        and report["weight"]["ltp_b"] == report["weight"]["ltp_a"] == "its channels reach a model output"
    )


def test_keras_ops_nodes_in_a_functional_model_are_planned_and_shrunk_as_layers_that_keep_channels():
    x = keras.Input((6, 6, 2))
    a = layers.Conv2D(4, 3, padding="same", name="a")(x)
    b = layers.Conv2D(4, 1, name="b")(x)
    h = layers.Conv2D(3, 1, name="c")(layers.ReLU()(a) + b)  # `+` is a keras.ops node, not a layer
    model = keras.Model(x, layers.Dense(2, name="head")(layers.GlobalAveragePooling2D()(h)))
    pruned = keras_ltp.prune(model, granularity="channel", couple=True, initial_threshold=1.0)
    assert "ltp_c" in pruned.ltp_channel_report["channel"]
    assert "cannot drop a channel" in pruned.ltp_channel_report["weight"]["ltp_a"]
    data = np.random.default_rng(5).normal(size=(2, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(numpy(keras_ltp.shrink(pruned)(data)), numpy(pruned(data)), atol=1e-4)
