"""keras_ltp.weight_sparsity: zeros of the prunable weights of any model, as
inference computes them, checked against numpy counts."""

import keras
import numpy as np
import pytest

import keras_ltp

L = keras.layers


def _model():
    inputs = keras.Input((6,))
    hidden = L.Dense(5, name="first")(inputs)
    hidden = L.Dense(4, name="kept_dense")(hidden)
    model = keras.Model(inputs, L.Dense(3, name="last")(hidden))
    rng = np.random.default_rng(0)
    for layer in model.layers[1:]:
        kernel, bias = layer.get_weights()
        kernel = rng.normal(size=kernel.shape).astype("float32")
        kernel[rng.random(kernel.shape) < 0.3] = 0.0  # exact zeros in a plain model
        layer.set_weights([kernel, np.zeros_like(bias)])  # biases never count
    return model


def test_a_plain_model_counts_its_zero_kernels():
    model = _model()
    report = keras_ltp.weight_sparsity(model)
    kernels = [layer.get_weights()[0] for layer in model.layers[1:]]
    total = sum(k.size for k in kernels)
    kept = sum(int((k != 0).sum()) for k in kernels)
    assert (report["total"], report["kept"]) == (total, kept) == (30 + 20 + 12, kept)
    assert report["sparsity"] == pytest.approx(1 - kept / total)
    assert report["layers"]["kept_dense"]["kept"] == int((kernels[1] != 0).sum())
    assert "threshold" not in report["weights"][0]
    rows = str(report).splitlines()[2:-2]  # the table: header, rule, one row per kernel, rule, overall
    assert len(rows) == 3 and all(row.split()[-1] == "-" for row in rows)  # no threshold column values


def test_pruned_partly_pruned_and_stripped_models_agree():
    model = _model()
    pruned = keras_ltp.prune(model, lambda layer: None if layer.name == "kept_dense" else {})
    for wrapper in keras_ltp.iter_wrappers(pruned):
        wrapper.thresholds[0].assign(0.5 / wrapper.threshold_gain)  # tau = 0.5 mean(w^2)
    report = keras_ltp.weight_sparsity(pruned)
    # numpy: a wrapped weight is zero when w^2 <= tau or w == 0; the dense layer counts its zeros.
    expected_kept = 0
    for layer in model.layers[1:]:
        kernel = layer.get_weights()[0]
        if layer.name == "kept_dense":
            expected_kept += int((kernel != 0).sum())
        else:
            expected_kept += int((kernel**2 > 0.5 * np.mean(kernel**2)).sum())
    assert report["kept"] == expected_kept and report["total"] == 62
    assert set(report["layers"]) == {"ltp_first", "kept_dense", "ltp_last"}
    stripped = keras_ltp.weight_sparsity(keras_ltp.strip(pruned))
    assert (stripped["kept"], stripped["total"]) == (report["kept"], report["total"])
    # sparsity() counts only the wrapped layers.
    assert keras_ltp.sparsity(pruned)["total"] == 30 + 12


def test_bad_input_names_the_fix():
    with pytest.raises(ValueError, match="weight_sparsity"):
        keras_ltp.sparsity(_model())  # plain model: sparsity() points to weight_sparsity()
    with pytest.raises(TypeError, match="expects a keras.Model or layer"):
        keras_ltp.weight_sparsity(np.zeros(3))
    with pytest.raises(ValueError, match="no built layer with prunable weights"):
        keras_ltp.weight_sparsity(L.Dense(2))


def test_sparsity_adds_up_each_layers_weights_and_shows_bounds_and_left_dense_layers():
    """A layer with two pruned tensors (an LSTM's kernel and recurrent
    kernel): its per-layer entry adds both up, checked against numpy."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 3))
    hidden = L.LSTM(5, name="lstm")(inputs)
    hidden = L.Dense(4, name="bounded")(hidden)
    model = keras.Model(inputs, L.Dense(2, name="out")(hidden))
    pruned = keras_ltp.prune(
        model,
        lambda layer: {"min_sparsity": 0.25, "max_sparsity": 0.75} if layer.name == "bounded" else {},
        exclude=["out"],
        initial_threshold=1.0,
    )
    report = keras_ltp.sparsity(pruned)
    lstm = pruned.get_layer("ltp_lstm")
    masks = [keras.ops.convert_to_numpy(m) for m in lstm.hard_masks()]
    kept, total = sum(int(m.sum()) for m in masks), sum(m.size for m in masks)
    assert total == 3 * 20 + 5 * 20
    layer = report["layers"]["ltp_lstm"]
    assert (layer["kept"], layer["total"]) == (kept, total)
    assert layer["sparsity"] == pytest.approx(1 - kept / total)
    assert "bounds" not in layer and report["layers"]["ltp_bounded"]["bounds"] == (0.25, 0.75)
    assert report["skipped"] == pruned.ltp_skipped and "out" in report["skipped"]
    table = str(report).splitlines()
    assert table[0].split()[-1] == "bounds"
    rows = {line.split()[0]: line.split() for line in table if line.startswith(("ltp_", "lstm", "bounded"))}
    assert rows["bounded/kernel"][-1] == "25%-75%" and rows["lstm/lstm_cell/kernel"][-1] == "-"
    assert table[-1] == f"left dense: out ({report['skipped']['out']})"
    overall = next(line for line in table if line.startswith("overall"))
    assert overall.rstrip().endswith(f"{report['compression']:.1f}x")  # its bounds cell is blank
    # Cells: the weight's name left-aligned, the numbers right-aligned.
    header, first = table[0], table[2]
    assert first.startswith("lstm/lstm_cell/kernel ") and header.index("total") + len("total") == first.index(
        str(report["weights"][0]["total"])
    ) + len(str(report["weights"][0]["total"]))


def test_a_fully_pruned_model_reports_its_whole_size_as_the_compression():
    dense = keras_ltp.PrunableWrapper(L.Dense(3, use_bias=False), initial_threshold=1e9)
    dense(np.ones((1, 4), "float32"))
    report = keras_ltp.sparsity(dense)
    assert (report["kept"], report["total"], report["compression"]) == (0, 12, 12.0)
    assert keras_ltp.weight_sparsity(dense)["weights"][0]["layer"] == dense.name
