"""What `print(keras_ltp.sparsity(model))` shows, read back from the text and
checked against numpy counts of `w^2 > tau`; `weight_sparsity` of a bare
layer. Found by mutation testing (docs/testing.md): the table's numbers were
never read."""

import keras
import numpy as np
import pytest

import keras_ltp

RELATIVE_TAU = 0.9


def _pruned():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, name="fc1"), keras.layers.Dense(3, name="fc2")])
    return keras_ltp.prune(model, initial_threshold=RELATIVE_TAU), [
        layer.get_weights()[0].astype("float64") for layer in model.layers
    ]


def _rows(text):
    lines = text.splitlines()
    assert set(lines[1]) == {"-"} and set(lines[-2]) == {"-"}  # rules under the header, above the total
    assert len(lines[1]) == len(lines[0])
    return lines[0].split(), [line.split() for line in lines[2:-2]], lines[-1].split()


def test_the_printed_table_shows_numpy_counts_and_thresholds():
    pruned, kernels = _pruned()
    header, rows, overall = _rows(str(keras_ltp.sparsity(pruned)))
    assert header == ["weight", "kept", "total", "sparsity", "threshold"]
    assert len(rows) == 2
    kept_all = total_all = 0
    for row, kernel in zip(rows, kernels):
        tau = RELATIVE_TAU * np.mean(kernel**2)
        kept, total = int((kernel**2 > tau).sum()), kernel.size
        kept_all, total_all = kept_all + kept, total_all + total
        assert row[0].endswith("kernel")
        assert (int(row[1]), int(row[2])) == (kept, total)
        assert row[3] == f"{1 - kept / total:.2%}"
        assert float(row[4]) == pytest.approx(tau, rel=1e-2)  # printed with 3 significant digits
    assert overall == [
        "overall",
        str(kept_all),
        str(total_all),
        f"{1 - kept_all / total_all:.2%}",
        f"{total_all / kept_all:.1f}x",
    ]


def test_weight_sparsity_of_a_bare_layer_names_that_layer():
    dense = keras.layers.Dense(3, use_bias=False, name="solo")
    dense.build((None, 4))
    kernel = np.arange(12, dtype="float32").reshape(4, 3) - 5.0  # one exact zero
    dense.set_weights([kernel])
    report = keras_ltp.weight_sparsity(dense)
    assert list(report["layers"]) == ["solo"]
    assert [entry["layer"] for entry in report["weights"]] == ["solo"]
    assert (report["kept"], report["total"]) == (11, 12)
    header, rows, overall = _rows(str(report))
    assert rows[0][1:] == ["11", "12", f"{1 / 12:.2%}", "-"]
