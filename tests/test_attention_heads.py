"""Channel LTP on MultiHeadAttention: one saliency per head, the pruned
heads exactly zero, and shrink() giving a layer with fewer heads that
computes the same thing (checked against an attention layer built by hand
from the kept heads' weights)."""

import keras
import numpy as np
import pytest

import keras_ltp

layers = keras.layers


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _attention(heads=4, key_dim=3):
    layer = layers.MultiHeadAttention(num_heads=heads, key_dim=key_dim, name="mha")
    layer(np.zeros((1, 5, 6), "float32"), np.zeros((1, 5, 6), "float32"))
    return layer


def _head_saliency(layer):
    parts = [
        (numpy(layer.query_dense.kernel), 1),
        (numpy(layer.key_dense.kernel), 1),
        (numpy(layer.value_dense.kernel), 1),
        (numpy(layer.output_dense.kernel), 0),
    ]
    total = 0
    for value, axis in parts:
        per_head = np.mean(np.moveaxis(value**2, axis, -1).reshape(-1, value.shape[axis]), axis=0)
        total = total + per_head / per_head.mean()
    return total / len(parts)


def _kept_heads_reference(layer, keep, query, value):
    """A MultiHeadAttention with only the `keep` heads, weights copied by hand."""
    reference = layers.MultiHeadAttention(num_heads=len(keep), key_dim=layer.key_dim)
    reference(query, value)
    q, k, v, o = (
        numpy(w)
        for w in (layer.query_dense.kernel, layer.key_dense.kernel, layer.value_dense.kernel, layer.output_dense.kernel)
    )
    qb, kb, vb, ob = (
        numpy(d.bias) for d in (layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense)
    )
    reference.set_weights([q[:, keep], qb[keep], k[:, keep], kb[keep], v[:, keep], vb[keep], o[keep], ob])
    return reference


def test_pruned_heads_are_zero_and_the_rest_computes_what_the_kept_heads_compute():
    rng = np.random.default_rng(0)
    layer = _attention()
    for dense in (layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense):
        dense.bias.assign(rng.normal(size=dense.bias.shape))
    wrapper = keras_ltp.PrunableWrapper(layer, granularity="channel", initial_threshold=1.0)
    query, value = (rng.normal(size=(2, 5, 6)).astype("float32") for _ in range(2))
    out = numpy(wrapper(query, value))
    keep = np.flatnonzero(_head_saliency(layer) > 1.0)
    assert 0 < keep.size < 4
    np.testing.assert_array_equal(np.flatnonzero(numpy(wrapper.channel_mask())), keep)
    masked = wrapper.hard_masked_values()
    gone = np.setdiff1d(np.arange(4), keep)
    assert np.all(numpy(masked[id(layer.value_dense.kernel)])[:, gone] == 0)
    assert np.all(numpy(masked[id(layer.query_dense.bias)])[gone] == 0)
    assert np.all(numpy(masked[id(layer.output_dense.kernel)])[gone] == 0)
    reference = _kept_heads_reference(layer, keep, query, value)
    np.testing.assert_allclose(out, numpy(reference(query, value)), rtol=1e-5, atol=1e-5)


def _encoder(heads=4):
    x = keras.Input((5, 6))
    h = layers.MultiHeadAttention(num_heads=heads, key_dim=3, name="mha")(x, x)
    h = layers.LayerNormalization(name="norm")(layers.Add()([x, h]))
    h = layers.Dense(12, activation="relu", name="ffn")(h)
    h = layers.GlobalAveragePooling1D()(layers.Dense(6, name="ffn_out")(h))
    return keras.Model(x, layers.Dense(2, name="head")(h))


def test_prune_counts_a_heads_weights_and_shrink_removes_the_heads():
    pruned = keras_ltp.prune(_encoder(), granularity="channel", cost="flops", initial_threshold=1.0)
    report = pruned.ltp_channel_report
    assert "ltp_mha" in report["channel"]
    mha = pruned.get_layer("ltp_mha")
    # A head: 6*3 weights in each of query, key, value and 3*6 in the output
    # projection, each used at the 5 sequence positions.
    assert mha.channel_cost == pytest.approx(4 * 18 * 5) and mha.own_channel_cost == pytest.approx(4 * 18 * 5)
    x = np.random.default_rng(1).normal(size=(3, 5, 6)).astype("float32")
    kept = int(numpy(mha.channel_mask()).sum())
    assert 0 < kept < 4
    shrunk, shrink_report = keras_ltp.shrink(pruned, return_report=True)
    assert shrunk.get_layer("mha").num_heads == kept
    assert any(space["layers"] == ["mha (heads)"] and space["removed"] == 4 - kept for space in shrink_report.spaces)
    np.testing.assert_allclose(numpy(shrunk(x)), numpy(pruned(x)), rtol=1e-4, atol=1e-5)


def test_a_head_pruned_model_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 5, 6)).astype("float32")
    y = rng.integers(0, 2, size=64)
    pruned = keras_ltp.prune(_encoder(), granularity="channel")
    pruned.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    pruned.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[keras_ltp.callbacks.SparsityTarget(0.5)])
    assert numpy(pruned.get_layer("ltp_mha").channel_mask()).sum() < 4
    path = tmp_path / "heads.keras"
    pruned.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(numpy(loaded(x[:4])), numpy(pruned(x[:4])), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(numpy(keras_ltp.shrink(loaded)(x[:4])), numpy(pruned(x[:4])), rtol=1e-4, atol=1e-5)


def test_gated_attention_masks_and_shrinks_the_gate_with_its_head():
    x = keras.Input((5, 6))
    h = layers.MultiHeadAttention(num_heads=3, key_dim=2, use_gate=True, name="mha")(x, x)
    model = keras.Model(x, layers.Dense(2, name="head")(layers.GlobalAveragePooling1D()(h)))
    pruned = keras_ltp.prune(model, granularity="channel", initial_threshold=1.0)
    kept = int(numpy(pruned.get_layer("ltp_mha").channel_mask()).sum())
    assert 0 < kept < 3 and keras_ltp.sparsity(pruned)["kept"] > 0
    data = np.random.default_rng(3).normal(size=(2, 5, 6)).astype("float32")
    shrunk = keras_ltp.shrink(pruned)
    assert shrunk.get_layer("mha").num_heads == kept
    np.testing.assert_allclose(numpy(shrunk(data)), numpy(pruned(data)), rtol=1e-4, atol=1e-5)


def test_shrink_reads_a_graph_that_uses_the_attention_scores():
    x = keras.Input((5, 6))
    h, scores = layers.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")(x, x, return_attention_scores=True)
    pooled = layers.Concatenate()([layers.GlobalAveragePooling1D()(h), layers.Flatten()(scores)])
    model = keras.Model(x, layers.Dense(2, name="head")(pooled))
    data = np.random.default_rng(4).normal(size=(2, 5, 6)).astype("float32")
    with pytest.warns(UserWarning, match="removed nothing"):
        shrunk = keras_ltp.shrink(model)
    np.testing.assert_allclose(numpy(shrunk(data)), numpy(model(data)), rtol=1e-5, atol=1e-6)


def test_an_attention_layer_keeps_its_most_salient_head_which_shrink_keeps_alive():
    pruned = keras_ltp.prune(_encoder(), granularity="channel", initial_threshold=50.0)
    mha = pruned.get_layer("ltp_mha")
    saliency = numpy(mha.channel_saliency())
    assert numpy(mha.channel_mask()).tolist() == [float(h == np.argmax(saliency)) for h in range(4)]
    shrunk = keras_ltp.shrink(pruned)
    kept = shrunk.get_layer("mha")
    assert kept.num_heads == 1 and np.abs(numpy(kept.output_dense.kernel.value)).min() > 0
    x = np.random.default_rng(2).normal(size=(3, 5, 6)).astype("float32")
    np.testing.assert_allclose(numpy(shrunk(x)), numpy(pruned(x)), rtol=1e-4, atol=1e-5)
