"""`round_channels()`: each channel-pruned layer keeps a multiple of the tile.

The kept channels are checked against a numpy ranking of the kernels'
column mean squares (the saliency, computed here independently), and the
shrunk model against the rounded pruned model's own forward pass."""

import keras
import numpy as np
import pytest

import keras_ltp

layers = keras.layers


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _mlp(width=37):
    """Kernels drawn by numpy, so that every backend keeps the same channels."""
    model = keras.Sequential(
        [
            keras.Input((6,)),
            layers.Dense(width, name="a"),
            layers.BatchNormalization(name="bn"),
            layers.ReLU(),
            layers.Dense(21, activation="relu", name="b"),
            layers.Dense(4, name="out"),
        ]
    )
    rng = np.random.default_rng(2)
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            layer.kernel.assign(rng.normal(size=layer.kernel.shape).astype("float32"))
    return model


def _pruned(model=None, **options):
    options.setdefault("initial_threshold", 0.7)
    return keras_ltp.prune(model or _mlp(), granularity="channel", **options)


def _column_ranking(kernel):
    """Channel indices from most to least salient: mean square of each output column."""
    return np.argsort(-np.mean(kernel.reshape(-1, kernel.shape[-1]) ** 2, axis=0), kind="stable")


def _mask(wrapper):
    return numpy(wrapper.channel_mask()).astype(bool)


@pytest.mark.parametrize(
    "mode, expected",
    [("down", {"ltp_a": 24, "ltp_b": 16}), ("up", {"ltp_a": 32, "ltp_b": 21}), ("nearest", {"ltp_a": 24, "ltp_b": 21})],
)
def test_each_layer_keeps_its_most_salient_channels_rounded_as_the_mode_says(mode, expected):
    pruned = _pruned()
    before = {w.name: _mask(w) for w in keras_ltp.iter_wrappers(pruned) if w.granularity == "channel"}
    # The threshold 0.7 keeps 25 of 37 and 19 of 21 here: neither a multiple of 8.
    assert {name: int(m.sum()) for name, m in before.items()} == {"ltp_a": 25, "ltp_b": 19}
    rows = keras_ltp.round_channels(pruned, multiple=8, mode=mode)
    assert [(r["layer"], r["kept_before"], r["kept_after"], r["note"]) for r in rows] == [
        (name, int(before[name].sum()), expected[name], None) for name in ("ltp_a", "ltp_b")
    ]
    for name, kept in expected.items():
        wrapper = pruned.get_layer(name)
        producer = wrapper.layer.layers[0] if isinstance(wrapper.layer, keras.Sequential) else wrapper.layer
        top = _column_ranking(numpy(producer.kernel.value))[:kept]
        assert set(np.flatnonzero(_mask(wrapper))) == set(top.tolist())
        if kept <= before[name].sum():
            assert np.all(before[name][_mask(wrapper)])  # only channels kept before
        else:
            assert np.all(_mask(wrapper)[before[name]])  # every channel kept before, and more


def test_shrink_after_rounding_has_tile_widths_and_computes_the_rounded_model():
    pruned = _pruned()
    keras_ltp.round_channels(pruned, multiple=8)
    x = np.random.default_rng(0).normal(size=(7, 6)).astype("float32")
    expected = numpy(pruned(x, training=False))
    shrunk = keras_ltp.shrink(pruned)
    assert (shrunk.get_layer("a").units, shrunk.get_layer("b").units) == (24, 16)
    assert shrunk.get_layer("b").kernel.shape[0] == 24
    np.testing.assert_allclose(numpy(shrunk(x)), expected, rtol=1e-4, atol=1e-5)


def test_a_layer_at_a_multiple_or_under_one_tile_keeps_its_threshold_and_up_stops_at_the_full_width():
    pruned = _pruned()
    a, b = pruned.get_layer("ltp_a"), pruned.get_layer("ltp_b")
    thresholds = [float(numpy(w.thresholds[0].value)) for w in (a, b)]
    rows = keras_ltp.round_channels(pruned, multiple=25)  # a keeps 25: a multiple; b keeps 19 < 25
    assert [(r["kept_before"], r["kept_after"]) for r in rows] == [(25, 25), (19, 19)]
    assert [float(numpy(w.thresholds[0].value)) for w in (a, b)] == thresholds
    rows = keras_ltp.round_channels(pruned, multiple=25, mode="up")
    assert [(r["kept_before"], r["kept_after"]) for r in rows] == [(25, 25), (19, 21)]  # b has 21 channels
    assert _mask(b).all()
    assert keras_ltp.round_channels(pruned, multiple=1) == [
        {"layer": n, "channels": c, "kept_before": k, "kept_after": k, "note": None}
        for n, c, k in (("ltp_a", 37, 25), ("ltp_b", 21, 21))
    ]


def _stream_model():
    """stem + (inner -> project): stem and project write the same 20 channels."""
    x = keras.Input((6, 6, 2))
    h = layers.ReLU()(layers.BatchNormalization(name="stem_bn")(layers.Conv2D(20, 3, padding="same", name="stem")(x)))
    b = layers.ReLU()(layers.Conv2D(12, 3, padding="same", name="inner")(h))
    b = layers.BatchNormalization(name="project_bn")(layers.Conv2D(20, 1, name="project")(b))
    h = layers.GlobalAveragePooling2D()(layers.ReLU()(layers.Add()([h, b])))
    return keras.Model(x, layers.Dense(3, name="head")(h))


def test_a_coupled_stream_is_rounded_once_for_every_layer_that_writes_it():
    keras.utils.set_random_seed(3)
    pruned = _pruned(_stream_model(), couple=True, initial_threshold=0.9)
    coupled = pruned.get_layer("ltp_stem_coupled")
    kept = int(_mask(coupled).sum())
    assert kept % 8 and kept > 8
    rows = {r["layer"]: r for r in keras_ltp.round_channels(pruned, multiple=8)}
    assert rows["ltp_stem_coupled"]["kept_after"] == 8 * (kept // 8)
    stem, project = (m.layers[0] for m in coupled.layer.members)
    saliency = sum(
        s / s.mean()
        for s in (np.mean(numpy(k.value).reshape(-1, 20) ** 2, axis=0) for k in (stem.kernel, project.kernel))
    )
    assert set(np.flatnonzero(_mask(coupled))) == set(np.argsort(-saliency)[: 8 * (kept // 8)].tolist())
    x = np.random.default_rng(1).normal(size=(3, 6, 6, 2)).astype("float32")
    expected = numpy(pruned(x, training=False))
    shrunk = keras_ltp.shrink(pruned)
    for name in ("stem", "project"):
        assert shrunk.get_layer(name).filters == 8 * (kept // 8)
    assert shrunk.get_layer("head").kernel.shape[0] == 8 * (kept // 8)
    np.testing.assert_allclose(numpy(shrunk(x)), expected, rtol=1e-4, atol=1e-4)


def test_attention_heads_are_left_as_they_are_with_a_note():
    x = keras.Input((5, 8))
    h = layers.MultiHeadAttention(num_heads=6, key_dim=2, name="mha")(x, x)
    h = layers.Dense(11, activation="relu", name="ffn")(layers.Flatten()(h))
    pruned = _pruned(keras.Model(x, layers.Dense(2, name="out")(h)), initial_threshold=1.0)
    heads = pruned.get_layer("ltp_mha")
    before = _mask(heads)
    assert 1 <= before.sum() < 6
    rows = {r["layer"]: r for r in keras_ltp.round_channels(pruned, multiple=4)}
    assert rows["ltp_mha"]["note"] == "attention heads are not rounded"
    assert rows["ltp_mha"]["kept_after"] == before.sum()
    np.testing.assert_array_equal(_mask(heads), before)
    assert rows["ltp_ffn"]["kept_after"] % 4 == 0


def test_sparsity_bounds_that_forbid_the_rounded_width_give_a_warning_and_the_width_reached():
    pruned = _pruned(max_sparsity=0.25)  # a may prune at most 9 of 37: keeps >= 28
    with pytest.warns(UserWarning, match="'ltp_a' keeps 28 of 37 channels, not 24, because of its min_sparsity"):
        rows = keras_ltp.round_channels(pruned, multiple=8)
    assert rows[0]["kept_after"] == 28 and rows[0]["note"].startswith("kept 28, not 24")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"multiple": 0}, "multiple must be an int >= 1"),
        ({"multiple": 8.0}, "multiple must be an int >= 1"),
        ({"multiple": True}, "multiple must be an int >= 1"),
        ({"mode": "ceil"}, r"mode must be one of \('down', 'up', 'nearest'\), got 'ceil'"),
    ],
)
def test_bad_arguments_are_refused_by_name(options, message):
    pruned = _pruned()
    threshold = float(numpy(pruned.get_layer("ltp_a").thresholds[0].value))
    with pytest.raises(ValueError, match=message):
        keras_ltp.round_channels(pruned, **options)
    assert float(numpy(pruned.get_layer("ltp_a").thresholds[0].value)) == threshold


def test_a_model_pruned_per_weight_is_refused_with_the_fix():
    pruned = keras_ltp.prune(_mlp())
    with pytest.raises(ValueError, match=r"no layer is pruned by channel.*granularity='channel'"):
        keras_ltp.round_channels(pruned)


@pytest.mark.parametrize(
    "kept, width, mode, expected",
    [
        (0, 64, "down", 0),  # an emptied layer stays empty
        (0, 64, "nearest", 0),
        (1, 64, "down", 1),  # under one tile: kept as it is
        (1, 64, "nearest", 1),
        (12, 64, "nearest", 8),  # a tie goes down
        (21, 64, "nearest", 24),
        (20, 20, "nearest", 20),  # the full width is a width of its own
        (20, 20, "down", 16),
    ],
)
def test_rounded_width_at_the_edges(kept, width, mode, expected):
    assert keras_ltp.rounding.rounded_width(kept, width, 8, mode) == expected


def test_the_default_tile_is_8_and_the_default_mode_down():
    pruned = _pruned()  # keeps 25 of 37 and 19 of 21
    assert [row["kept_after"] for row in keras_ltp.round_channels(pruned)] == [24, 16]


def test_channels_tied_at_the_rounded_width_keep_the_learned_threshold_with_a_warning():
    model = _mlp()
    column = np.random.default_rng(0).normal(size=(6, 1))
    kernel = np.concatenate([np.tile(1.5 * column, (1, 20)), np.tile(column, (1, 17))], axis=1)
    model.get_layer("a").kernel.assign(kernel.astype("float32"))  # two saliencies; channels 20-36 tie
    pruned = _pruned(model, initial_threshold=0.01)  # all 37 kept; rounded down, 32 would split the tie
    wrapper = pruned.get_layer("ltp_a")
    threshold = numpy(wrapper.thresholds[0].value)
    with pytest.warns(UserWarning, match="'ltp_a' keeps 37 of 37 channels, not 32, because of channels with equal"):
        rows = keras_ltp.round_channels(pruned, multiple=8)
    assert (
        rows[0]["kept_after"] == 37
        and rows[0]["note"] == "kept 37, not 32: channels with equal saliency at the boundary"
    )
    assert int(_mask(wrapper).sum()) == 37  # not 20: the tied channels are not all cut
    np.testing.assert_array_equal(numpy(wrapper.thresholds[0].value), threshold)
