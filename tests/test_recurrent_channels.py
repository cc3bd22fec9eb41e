"""Channel LTP on recurrent layers: the units of LSTM, GRU and SimpleRNN.

A unit's columns sit once in each gate block of the kernels and the bias;
checked against numpy slicing of those blocks, against a plain Keras layer
built with the kept units' weights, and through `shrink()` and export."""

import os

import keras
import numpy as np
import pytest

import keras_ltp

layers = keras.layers
STEPS, FEATURES, UNITS = 7, 5, 6


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


RECURRENT = {
    "lstm": lambda **kw: layers.LSTM(UNITS, **kw),
    "gru": lambda **kw: layers.GRU(UNITS, **kw),
    "gru_reset_before": lambda **kw: layers.GRU(UNITS, reset_after=False, **kw),
    "simple_rnn": lambda **kw: layers.SimpleRNN(UNITS, **kw),
}


def _sequences(n=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, STEPS, FEATURES)).astype("float32")


def _unit_columns(kept, gates):
    """Column indices of the kept units in every gate block."""
    units = np.flatnonzero(kept)
    return (np.arange(gates)[:, None] * kept.size + units[None, :]).ravel()


@pytest.mark.parametrize("kind", sorted(RECURRENT))
@pytest.mark.parametrize("training", [False, True])
def test_pruned_units_are_zero_and_kept_units_compute_what_a_smaller_layer_computes(kind, training):
    keras.utils.set_random_seed(3)
    wrapper = keras_ltp.PrunableWrapper(
        RECURRENT[kind](return_sequences=True),
        granularity="channel",
        initial_threshold=1.0,
        hard_forward=True,  # training masks are the hard ones in the forward pass
    )
    x = _sequences()
    out = numpy(wrapper(x, training=training))
    cell = wrapper.layer.cell
    kernel, recurrent, bias = (numpy(v.value) for v in (cell.kernel, cell.recurrent_kernel, cell.bias))
    gates = kernel.shape[-1] // UNITS

    def per_unit(w):  # mean square of each unit over its rows and gate blocks
        return np.mean(w.reshape(w.shape[0], gates, UNITS) ** 2, axis=(0, 1))

    saliency = 0.5 * (per_unit(kernel) / per_unit(kernel).mean() + per_unit(recurrent) / per_unit(recurrent).mean())
    kept = saliency > 1.0
    np.testing.assert_allclose(numpy(wrapper.channel_saliency()), saliency, rtol=1e-5)
    np.testing.assert_array_equal(numpy(wrapper.channel_mask()).astype(bool), kept)
    assert 0 < kept.sum() < UNITS

    columns = np.tile(kept, gates)
    kernel_mask, recurrent_mask = wrapper.hard_masks()
    np.testing.assert_array_equal(numpy(kernel_mask), np.broadcast_to(columns, kernel.shape))
    np.testing.assert_array_equal(numpy(recurrent_mask), kept[:, None] & columns[None, :])
    assert keras_ltp.sparsity(wrapper)["kept"] == kept.sum() * gates * (FEATURES + kept.sum())

    assert np.all(out[..., ~kept] == 0)
    # A plain layer with only the kept units, its weights cut from the
    # wrapped layer's by numpy, computes the kept outputs.
    reference = RECURRENT[kind](return_sequences=True)
    reference = type(reference).from_config({**reference.get_config(), "units": int(kept.sum())})
    reference.build(x.shape)
    kept_columns = _unit_columns(kept, gates)
    reference.set_weights(
        [kernel[:, kept_columns], recurrent[np.flatnonzero(kept)][:, kept_columns], bias[..., kept_columns]]
    )
    np.testing.assert_allclose(out[..., kept], numpy(reference(x)), atol=1e-5)


def _stacked(first=layers.LSTM, second=layers.GRU, **options):
    x = keras.Input((STEPS, FEATURES))
    h = first(UNITS, return_sequences=True, name="r1", **options)(x)
    h = second(8, name="r2")(h)
    h = layers.Dense(4, activation="relu", name="fc")(h)
    return keras.Model(x, layers.Dense(3, name="head")(h))


def _bidirectional_stack(merge="concat"):
    x = keras.Input((STEPS, FEATURES))
    h = layers.Bidirectional(layers.LSTM(UNITS, return_sequences=True), merge_mode=merge, name="b1")(x)
    h = layers.Bidirectional(layers.GRU(4), name="b2")(h)
    h = layers.Dense(8, activation="relu", name="fc")(h)
    return keras.Model(x, layers.Dense(3, name="head")(h))


@pytest.mark.parametrize(
    "cost, own, channel",
    [
        # r1 (LSTM 5 -> 6): a unit's kernel and recurrent columns, 4 * (5 + 6);
        # r2 (GRU 6 -> 8) reads it through its 3 * 8 kernel row (its recurrent
        # kernel reads its own units); r2's unit: 3 * (6 + 8), read by fc's 4.
        ("params", {"r1": 44, "r2": 42, "fc": 8}, {"r1": 44 + 24, "r2": 42 + 4, "fc": 8 + 3}),
        # Multiply-adds: each recurrent weight is used once per step (7).
        ("flops", {"r1": 44 * 7, "r2": 42 * 7, "fc": 8}, {"r1": (44 + 24) * 7, "r2": 42 * 7 + 4, "fc": 8 + 3}),
    ],
)
def test_prune_groups_units_and_counts_what_removing_one_saves(cost, own, channel):
    pruned = keras_ltp.prune(_stacked(), granularity="channel", cost=cost)
    assert pruned.ltp_channel_report["channel"] == ["ltp_fc", "ltp_r1", "ltp_r2"]
    got = {w.layer.name: (w.own_channel_cost, w.channel_cost) for w in keras_ltp.iter_wrappers(pruned)}
    assert got.pop("head")[1] is None
    assert got == {name: (pytest.approx(own[name]), pytest.approx(channel[name])) for name in own}


def _masked_text_model():
    x = keras.Input((STEPS,), dtype="int32")
    h = layers.Embedding(20, FEATURES, mask_zero=True, name="embed")(x)
    h = layers.LSTM(UNITS, return_sequences=True, name="r1")(h)
    h = layers.SimpleRNN(8, go_backwards=True, name="r2")(h)
    return keras.Model(x, layers.Dense(3, name="head")(h))


def _assert_computes_what_the_pruned_model_computes(shrunk, pruned, x):
    np.testing.assert_allclose(numpy(shrunk(x)), numpy(pruned(x, training=False)), atol=1e-5)
    # The shrunk layers are plain Keras layers: a fresh copy from their config loads the weights.
    again = keras.Model.from_config(shrunk.get_config())
    again.set_weights(shrunk.get_weights())
    np.testing.assert_allclose(numpy(again(x)), numpy(shrunk(x)), atol=1e-6)


@pytest.mark.parametrize("build", [_stacked, _masked_text_model])
def test_shrink_removes_units_and_computes_what_the_pruned_model_computes(build):
    keras.utils.set_random_seed(1)
    exclude = ["embed"] if build is _masked_text_model else None  # an Embedding has no output channels
    pruned = keras_ltp.prune(build(), granularity="channel", initial_threshold=1.0, exclude=exclude)
    if build is _masked_text_model:
        x = np.random.default_rng(0).integers(1, 20, size=(6, STEPS)).astype("int32")
        x[:, 4:] = 0  # padding: masked steps keep the state
    else:
        x = _sequences(6)
    kept = {
        w.layer.name: int(numpy(w.channel_mask()).sum()) for w in keras_ltp.iter_wrappers(pruned) if w.name[4] == "r"
    }
    assert all(n < width for n, width in zip(kept.values(), [UNITS, 8]))
    shrunk = keras_ltp.shrink(pruned)
    assert {name: shrunk.get_layer(name).units for name in kept} == kept
    _assert_computes_what_the_pruned_model_computes(shrunk, pruned, x)


def test_units_are_pruned_only_where_their_state_starts_at_zero_and_stays_zero():
    x = keras.Input((STEPS, FEATURES))
    state = layers.Dense(UNITS, name="state")(layers.GlobalAveragePooling1D()(x))
    given = layers.GRU(UNITS, return_sequences=True, name="given")(x, initial_state=state)
    sigmoid = layers.SimpleRNN(UNITS, activation="sigmoid", return_sequences=True, name="sigmoid")(given)
    forward, backward = layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode=None, name="both")(
        sigmoid
    )
    both = layers.Concatenate(name="join")([forward, backward])
    returned, _, _ = layers.LSTM(UNITS, return_state=True, name="returned")(both)
    model = keras.Model(x, layers.Dense(2, name="head")(layers.Dense(4, name="fc")(returned)))
    with pytest.warns(UserWarning, match="cannot lose whole channels"):
        pruned = keras_ltp.prune(model, granularity="channel")
    reasons = pruned.ltp_channel_report["weight"]
    assert "initial state" in reasons["ltp_given"]
    assert "does not map 0 to 0" in reasons["ltp_sigmoid"]
    assert "returns its two directions apart (merge_mode=None)" in reasons["ltp_both"]
    assert "return_state=True" in reasons["ltp_returned"]
    # The state Dense is read by the GRU's initial state, so it keeps its width too.
    assert "ltp_state" in reasons and pruned.ltp_channel_report["channel"] == ["ltp_fc"]

    wrapper = keras_ltp.PrunableWrapper(layers.LSTM(UNITS), granularity="channel")
    sequences = _sequences()
    wrapper(sequences)
    zeros = [np.zeros((4, UNITS), "float32")] * 2
    with pytest.raises(ValueError, match="only sound from the zero state.*granularity='weight'"):
        wrapper(sequences, initial_state=zeros)
    with pytest.raises(ValueError, match="only sound from the zero state"):
        wrapper(sequences, zeros)  # the initial state given by position
    # Per weight, an initial state is fine: the plain layer on the hard-masked weights.
    per_weight = keras_ltp.PrunableWrapper(layers.LSTM(UNITS), initial_threshold=1.0)
    ones = [np.ones((4, UNITS), "float32")] * 2
    out = numpy(per_weight(sequences, initial_state=ones))
    cell = per_weight.layer.cell
    reference = layers.LSTM(UNITS)
    reference.build(sequences.shape)
    reference.set_weights(
        [w * (w**2 > np.mean(w**2)) for w in (numpy(cell.kernel), numpy(cell.recurrent_kernel))] + [numpy(cell.bias)]
    )
    np.testing.assert_allclose(out, numpy(reference(sequences, initial_state=ones)), atol=1e-5)


@pytest.mark.parametrize("build", [_stacked, _bidirectional_stack])
def test_a_unit_pruned_model_trains_to_a_target_saves_and_loads_in_safe_mode(tmp_path, build):
    keras.utils.set_random_seed(2)
    pruned = keras_ltp.prune(build(), granularity="channel", fallback="dense")
    pruned.compile(keras.optimizers.Adam(0.01), "mse")
    x, y = _sequences(64), np.random.default_rng(1).normal(size=(64, 3)).astype("float32")
    target = keras_ltp.callbacks.SparsityTarget(0.5, check_every=2)
    pruned.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[target])
    masks = {w.name: numpy(w.channel_mask()) for w in keras_ltp.iter_wrappers(pruned)}
    assert 0 < sum(m.size - m.sum() for m in masks.values()) < sum(m.size for m in masks.values())
    path = tmp_path / "units.keras"
    pruned.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert {w.name: numpy(w.channel_mask()).tolist() for w in keras_ltp.iter_wrappers(loaded)} == {
        name: m.tolist() for name, m in masks.items()
    }
    np.testing.assert_allclose(numpy(loaded(x)), numpy(pruned(x, training=False)), atol=1e-6)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="export needs the TensorFlow backend")
# slow: [b1] converts a Bidirectional stack unrolled (about 70 s); the default run
# has [r1] (the same export code), the Bidirectional's shrink tests below and
# test_recurrent_export.py's unrolling of a Bidirectional.
@pytest.mark.parametrize("first", ["r1", pytest.param("b1", marks=pytest.mark.slow)])
def test_export_of_a_unit_pruned_model_is_shrunk_and_runs_with_default_options(tmp_path, first):
    export = pytest.importorskip("keras_ltp.export")
    keras.utils.set_random_seed(1)
    model = _stacked(second=layers.LSTM) if first == "r1" else _bidirectional_stack()
    pruned = keras_ltp.prune(model, granularity="channel", initial_threshold=1.0)
    x = _sequences(8)
    path = export.tflite(pruned, tmp_path / "pruned.tflite")
    dense = export.tflite(  # sparse=False: one conversion, not two (no weight of it is zero)
        keras_ltp.prune(model, granularity="channel", initial_threshold=0.0), tmp_path / "dense.tflite", sparse=False
    )
    np.testing.assert_allclose(export.run_tflite(path, x), numpy(pruned(x, training=False)), atol=1e-5)
    assert os.path.getsize(path) < os.path.getsize(dense)
    # The file holds the first layer's input kernel with only its kept units' gate rows (shrunk, not zeros).
    kept = int(numpy(pruned.get_layer(f"ltp_{first}").channel_mask()).sum())
    assert kept < UNITS
    shapes = {tuple(int(d) for d in t["shape"]) for t in export.interpreter(path).get_tensor_details()}
    assert (4 * kept, FEATURES) in shapes and (4 * UNITS, FEATURES) not in shapes


BIDIRECTIONAL = {
    "lstm_concat": (layers.LSTM, "concat"),
    "gru_sum": (layers.GRU, "sum"),
    "simple_rnn_mul": (layers.SimpleRNN, "mul"),
}


@pytest.mark.parametrize("kind", sorted(BIDIRECTIONAL))
def test_a_bidirectional_prunes_unit_c_of_both_directions_together(kind):
    recurrent, merge = BIDIRECTIONAL[kind]
    keras.utils.set_random_seed(4)
    wrapper = keras_ltp.PrunableWrapper(
        layers.Bidirectional(recurrent(UNITS, return_sequences=True), merge_mode=merge),
        granularity="channel",
        initial_threshold=1.0,
    )
    x = _sequences()
    out = numpy(wrapper(x, training=False))
    directions = [wrapper.layer.forward_layer, wrapper.layer.backward_layer]
    weights = [[numpy(v.value) for v in (d.cell.kernel, d.cell.recurrent_kernel, d.cell.bias)] for d in directions]
    gates = weights[0][0].shape[-1] // UNITS

    def per_unit(w):
        per = np.mean(w.reshape(w.shape[0], gates, UNITS) ** 2, axis=(0, 1))
        return per / per.mean()

    # One saliency per unit: the mean over both directions' kernels and recurrent kernels.
    saliency = np.mean([per_unit(w) for kernel, recurrent_kernel, _ in weights for w in (kernel, recurrent_kernel)], 0)
    kept = saliency > 1.0
    np.testing.assert_allclose(numpy(wrapper.channel_saliency()), saliency, rtol=1e-5)
    np.testing.assert_array_equal(numpy(wrapper.channel_mask()).astype(bool), kept)
    assert 0 < kept.sum() < UNITS
    assert keras_ltp.sparsity(wrapper)["kept"] == 2 * kept.sum() * gates * (FEATURES + kept.sum())

    positions = np.tile(kept, 2) if merge == "concat" else kept
    assert out.shape[-1] == positions.size and np.all(out[..., ~positions] == 0)
    # A plain Bidirectional of the kept units, its weights cut by numpy.
    reference = layers.Bidirectional(recurrent(int(kept.sum()), return_sequences=True), merge_mode=merge)
    reference.build(x.shape)
    columns, rows = _unit_columns(kept, gates), np.flatnonzero(kept)
    reference.set_weights([w for k, r, b in weights for w in (k[:, columns], r[rows][:, columns], b[..., columns])])
    np.testing.assert_allclose(out[..., positions], numpy(reference(x)), atol=1e-5)

    with pytest.raises(ValueError, match="only sound from the zero state"):
        wrapper(x, initial_state=[np.zeros((4, UNITS), "float32")] * (4 if recurrent is layers.LSTM else 2))


@pytest.mark.parametrize(
    "merge, cost, own, channel",
    [
        # b1 (LSTM 5 -> 6, both directions): a unit is 2 * 4 * (5 + 6) weights;
        # with "concat" it is two of b2's 12 inputs, each a row of b2's two
        # 3 * 4 kernels; b2's unit, 2 * 3 * (12 + 4), is two of fc's 8 inputs.
        ("concat", "params", {"b1": 88, "b2": 96, "fc": 8}, {"b1": 88 + 48, "b2": 96 + 16, "fc": 8 + 3}),
        # "sum": b1's unit is one input of b2 (6 wide), b2's unit 2 * 3 * (6 + 4).
        ("sum", "params", {"b1": 88, "b2": 60, "fc": 8}, {"b1": 88 + 24, "b2": 60 + 16, "fc": 8 + 3}),
        # Multiply-adds: the recurrent weights work once per step (7).
        ("concat", "flops", {"b1": 88 * 7, "b2": 96 * 7, "fc": 8}, {"b1": 136 * 7, "b2": 96 * 7 + 16, "fc": 11}),
    ],
)
def test_a_bidirectional_unit_counts_both_directions_and_both_input_slices_it_feeds(merge, cost, own, channel):
    pruned = keras_ltp.prune(_bidirectional_stack(merge), granularity="channel", cost=cost)
    assert pruned.ltp_channel_report["channel"] == ["ltp_b1", "ltp_b2", "ltp_fc"]
    got = {w.layer.name: (w.own_channel_cost, w.channel_cost) for w in keras_ltp.iter_wrappers(pruned)}
    assert got.pop("head")[1] is None
    assert got == {name: (pytest.approx(own[name]), pytest.approx(channel[name])) for name in own}


@pytest.mark.parametrize("merge", ["concat", "ave"])
def test_shrink_removes_a_bidirectionals_units_from_both_directions_and_its_readers(merge):
    keras.utils.set_random_seed(5)
    pruned = keras_ltp.prune(_bidirectional_stack(merge), granularity="channel", initial_threshold=1.0)
    kept = {name: int(numpy(pruned.get_layer(f"ltp_{name}").channel_mask()).sum()) for name in ("b1", "b2")}
    assert kept["b1"] < UNITS and kept["b2"] < 4
    shrunk = keras_ltp.shrink(pruned)
    for name, units in kept.items():
        layer = shrunk.get_layer(name)
        assert layer.forward_layer.units == layer.backward_layer.units == units
    tiles = 2 if merge == "concat" else 1
    assert shrunk.get_layer("b2").forward_layer.cell.kernel.shape[0] == tiles * kept["b1"]
    assert shrunk.get_layer("fc").kernel.shape[0] == 2 * kept["b2"]
    _assert_computes_what_the_pruned_model_computes(shrunk, pruned, _sequences(6))


def test_a_bidirectional_coupled_through_a_merge_keeps_its_width():
    x = keras.Input((STEPS, FEATURES))
    both = layers.Bidirectional(layers.LSTM(3, return_sequences=True), name="both")(x)
    wide = layers.Dense(6, name="wide")(x)
    h = layers.Add(name="add")([both, wide])
    model = keras.Model(x, layers.Dense(2, name="head")(layers.Dense(4, name="fc")(h)))
    with pytest.warns(UserWarning, match="cannot lose whole channels"):
        pruned = keras_ltp.prune(model, granularity="channel", couple=True)
    reasons = pruned.ltp_channel_report["weight"]
    assert "a Bidirectional holds each unit twice" in reasons["ltp_both"]
    assert "a Bidirectional holds each unit twice" in reasons["ltp_wide"]


def test_a_bidirectional_with_every_unit_zero_keeps_unit_0_in_both_blocks():
    # shrink() keeps one channel of a space that is all zero; for a
    # Bidirectional that is unit 0, so output channels 0 and units + 0.
    pruned = keras_ltp.prune(_bidirectional_stack(), granularity="channel")
    for variable in pruned.get_layer("ltp_b1").layer.weights:
        variable.assign(np.zeros(variable.shape, variable.dtype))
    shrunk = keras_ltp.shrink(pruned)
    assert shrunk.get_layer("b1").forward_layer.units == 1
    assert shrunk.get_layer("b2").forward_layer.cell.kernel.shape[0] == 2
    x = _sequences(3)
    np.testing.assert_allclose(numpy(shrunk(x)), numpy(pruned(x, training=False)), atol=1e-5)


@pytest.mark.parametrize("merge, state", [(None, False), ("concat", True)], ids=["two-outputs", "states"])
def test_shrink_slices_the_inputs_of_a_bidirectional_it_keeps_whole(merge, state):
    # A Bidirectional with several outputs is pruned per weight but still
    # drops the input rows of the Dense before it; its outputs after the
    # first (the backward sequence, the states) keep their width.
    keras.utils.set_random_seed(1)
    x = keras.Input((STEPS, FEATURES))
    h = layers.Dense(8, name="d")(x)
    out = layers.Bidirectional(layers.LSTM(4, return_sequences=True, return_state=state), merge_mode=merge, name="bi")(
        h
    )
    out = out[0] if state else layers.Concatenate(name="join")(list(out))
    model = keras.Model(x, layers.Dense(3, name="head")(layers.Flatten()(out)))
    with pytest.warns(UserWarning, match="cannot lose whole channels"):
        pruned = keras_ltp.prune(model, granularity="channel", initial_threshold=1.0)
    assert pruned.ltp_channel_report["channel"] == ["ltp_d"]
    kept = int(numpy(pruned.get_layer("ltp_d").channel_mask()).sum())
    assert kept < 8
    shrunk = keras_ltp.shrink(pruned)
    assert shrunk.get_layer("bi").forward_layer.cell.kernel.shape == (kept, 16)
    data = _sequences(3)
    np.testing.assert_allclose(numpy(shrunk(data)), numpy(pruned(data, training=False)), atol=1e-5)
