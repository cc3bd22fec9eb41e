"""What keras_ltp.export prints and refuses, checked without converting a model.

`export.report()` converts a model five times; here its table (`ExportReport`)
is checked on a hand-made report, each figure against a hand computation, and
its list of weights the converter left dense against a hand count; so are
its rows (`_weight_rows`) and the int8 calibration data, on small models. The
refusal on a backend other than TensorFlow is checked in-process, for each
function (test_export.py checks `saved_model`'s in a fresh JAX process, which
mutation runs cannot select: tools/mutation.sh).
"""

import keras
import numpy as np
import pytest

import keras_ltp
from keras_ltp import export
from keras_ltp.export import ExportReport, _left_dense, _representative_dataset, _weight_rows, _weights_shaped


def _report(dense_left=()):
    return ExportReport(
        weights=[
            {"weight": "dense/kernel", "kept": 25, "total": 100},
            {"weight": "out/kernel", "kept": 8, "total": 8},
            {"weight": "gone/kernel", "kept": 0, "total": 50},
        ],
        kept=33,
        total=158,
        sparsity=1 - 33 / 158,
        compression=158 / 33,
        files={
            "dense_float32": {"bytes": 2000, "floor_bytes": None, "default_delegates": True},
            "sparse_float32": {"bytes": 500, "floor_bytes": 132, "default_delegates": True},
            "sparse_int8": {"bytes": 250, "floor_bytes": 33, "default_delegates": False},
        },
        floor_bytes={"float32": 132, "float16": 66, "int8": 33},
        sparse_encoded_tensors=[{"name": "w", "elements": 100, "values_stored": 40}],
        dense_encoded_weights=list(dense_left),
    )


def test_the_report_prints_each_weight_the_overall_count_and_each_file():
    lines = str(_report()).splitlines()
    assert lines[0].split() == ["weight", "kept", "total", "sparsity", "compression"]
    # 25 of 100 kept: 75.00% sparse, 100 / 25 = 4.0x; 8 of 8: 0.00%, 1.0x;
    # none of 50: 100.00%, and the compression counts one kept weight, 50.0x.
    assert lines[1].split() == ["dense/kernel", "25", "100", "75.00%", "4.0x"]
    assert lines[2].split() == ["out/kernel", "8", "8", "0.00%", "1.0x"]
    assert lines.pop(3).split() == ["gone/kernel", "0", "50", "100.00%", "50.0x"]
    # 33 of 158: 1 - 33/158 = 79.11%, 158/33 = 4.79 -> 4.8x.
    assert lines[3].split() == ["overall", "33", "158", "79.11%", "4.8x"]
    assert lines[4] == ""
    assert lines[5].split() == ["artifact", "bytes", "vs", "dense", "vs", "floor", "LiteRT", "default", "options"]
    assert lines[6].split() == ["dense_float32", "2,000", "1.000x", "runs"]
    # 500 / 2000 = 0.250x the dense file, 500 / 132 = 3.79x the floor.
    assert lines[7].split() == ["sparse_float32", "500", "0.250x", "3.79x", "runs"]
    assert lines[8].split() == ["sparse_int8", "250", "0.125x", "7.58x", "fails", "(built-in", "kernels", "only)"]
    assert lines[9] == (
        "export.tflite writes sparse_float32, sparse_float16 and dense_int8 by default (sparse=True: sparse_int8)"
    )
    assert lines[10] == "floor = kept weights x bytes per value: float32 132, float16 66, int8 33"
    assert lines[11] == (
        "sparse encoding stores 40 values for 33 kept weights (block-encoded tensors store the zeros inside each block)"
    )
    assert len(lines) == 12  # nothing was left dense


def test_the_report_names_the_weights_the_converter_left_dense():
    text = str(_report(dense_left=["dense/kernel", "conv/kernel"]))
    assert text.splitlines()[-1] == "weights the converter left dense: dense/kernel, conv/kernel"


def test_left_dense_pairs_each_pruned_weight_with_a_sparse_tensor_of_its_size():
    rows = [
        {"weight": "whole", "kept": 10, "total": 10},  # not pruned: never listed
        {"weight": "a", "kept": 5, "total": 100},
        {"weight": "b", "kept": 3, "total": 50},
        {"weight": "c", "kept": 4, "total": 50},  # a second tensor of 50 elements
    ]
    # One sparse tensor of 50 elements in the file: one of b and c was
    # sparse-encoded, the other (and a, with no tensor of 100) stored dense.
    assert _left_dense(rows, [("t", 50, 3)]) == ["a", "c"]
    assert _left_dense(rows, [("t", 50, 3), ("u", 50, 4), ("v", 100, 5)]) == []
    assert _left_dense(rows, []) == ["a", "b", "c"]


def test_the_weights_a_misread_kernel_shape_names():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, name="d")])
    # FULLY_CONNECTED stores (out, in): (3, 5) is the Keras kernel of shape (5, 3).
    assert _weights_shaped(model, [(3, 5)]) == [model.get_layer("d").kernel.path]
    # No weight of the model has the shape: the message names the shape itself.
    assert _weights_shaped(model, [(7, 2)]) == ["a 2x7 kernel"]


@pytest.mark.parametrize(
    "name, call",
    [
        ("saved_model", lambda tmp: export.saved_model(None, tmp / "sm")),
        ("tflite", lambda tmp: export.tflite_bytes(None)),
        ("tflite", lambda tmp: export.tflite(None, tmp / "m.tflite")),
    ],
)
def test_export_on_another_backend_names_the_function_and_the_fix(name, call, tmp_path, monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(RuntimeError, match=rf"^keras_ltp\.export\.{name} needs the TensorFlow backend.*on 'jax'"):
        call(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_calibration_feeds_one_example_per_input_in_order_up_to_the_limit():
    images = np.arange(12, dtype="float64").reshape(6, 2)
    ids = np.arange(6, dtype="int32") + 10
    batches = list(_representative_dataset((images, ids), limit=4)())
    assert len(batches) == 4  # the first 4 of 6
    for i, (image, index) in enumerate(batches):
        assert image.shape == (1, 2) and image.dtype == np.float32  # float64 -> float32
        np.testing.assert_array_equal(image, images[i : i + 1])
        assert index.dtype == np.int32  # integer inputs keep their type
        np.testing.assert_array_equal(index, [10 + i])
    # A list of inputs works as a tuple; the default limit (200) is above 6.
    assert len(list(_representative_dataset([images, ids])())) == 6
    # One array: one input; 300 examples: the first 200.
    many = np.random.default_rng(0).normal(size=(300, 3))
    batches = list(_representative_dataset(many)())
    assert len(batches) == 200 and all(len(batch) == 1 for batch in batches)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), many[:200].astype("float32"))

    def generate():
        yield [images[:1].astype("float32")]

    assert _representative_dataset(generate) is generate  # a callable is the user's own generator


@pytest.mark.parametrize(
    "data",
    [[np.zeros((5, 2)), np.zeros((3,))], np.zeros((0, 2)), np.float32(1.0), []],
    ids=["unequal-lengths", "no-examples", "a-scalar", "no-arrays"],
)
def test_calibration_data_that_does_not_give_each_input_the_same_examples_is_refused(data):
    with pytest.raises(ValueError, match=r"same number \(at least one\) of examples for each model input"):
        _representative_dataset(data)


def test_the_report_has_one_row_per_weight_named_by_its_layer_shared_weights_once():
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="inner_dense")], name="inner")
    inputs = keras.Input((3,))
    top = keras.layers.Dense(2, name="top")
    model = keras.Model(inputs, top(inner(inputs)), name="outer")
    kernel = top.kernel.numpy()
    kernel[0] = 0.0  # 2 of 8 zeroed
    top.kernel.assign(kernel)
    # Nested models are walked into: each row names the layer that holds the
    # weight, not the model around it.
    assert _weight_rows(model) == [
        {"layer": "top", "weight": "top/kernel", "kept": 6, "total": 8},
        {"layer": "inner_dense", "weight": "inner/inner_dense/kernel", "kept": 12, "total": 12},
    ]

    class TransposedHead(keras.layers.Layer):  # x @ proj.kernel^T: proj's weight used twice
        def __init__(self, proj, **kwargs):
            super().__init__(**kwargs)
            self.proj = proj

        def call(self, x):
            return keras.ops.matmul(x, keras.ops.transpose(self.proj.kernel))

    proj = keras.layers.Dense(5, use_bias=False, name="proj")
    inputs = keras.Input((3,))
    tied = keras.Model(inputs, TransposedHead(proj, name="head")(proj(inputs)), name="tied")
    assert _weight_rows(tied) == [{"layer": "proj", "weight": "proj/kernel", "kept": 15, "total": 15}]


def test_the_report_rows_of_a_layer_that_declares_its_prunable_weights_are_those_weights():
    class Mixer(keras.layers.Layer):
        """Declares proj's kernel (shared, listed first) and its own; not its gate's."""

        def __init__(self, proj, **kwargs):
            super().__init__(**kwargs)
            self.proj = proj
            self.gate = keras.layers.Dense(3, name="gate")

        def build(self, input_shape):
            self.gate.build(input_shape)
            self.kernel = self.add_weight(shape=(3, 3), name="kernel")

        def get_prunable_weights(self):
            return [self.proj.kernel, self.kernel]

        def call(self, x):
            return keras.ops.matmul(
                keras.ops.matmul(x, keras.ops.transpose(self.proj.kernel)), self.kernel
            ) + self.gate(x)

    proj = keras.layers.Dense(5, use_bias=False, name="proj")
    inputs = keras.Input((3,))
    model = keras.Model(inputs, Mixer(proj, name="mixer")(proj(inputs)))
    # proj's kernel once (the mixer's use of it is not a second row), the
    # mixer's own kernel after it, and not the gate the mixer left unpruned.
    assert [(row["layer"], row["weight"], row["total"]) for row in _weight_rows(model)] == [
        ("proj", "proj/kernel", 15),
        ("mixer", "mixer/kernel", 9),
    ]


def test_a_weight_pruned_model_is_exported_stripped_with_its_layers_whole():
    keras.utils.set_random_seed(0)
    model = keras_ltp.prune(
        keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"), keras.layers.Dense(2, name="b")])
    )
    first = next(w for w in keras_ltp.iter_wrappers(model) if w.layer.name == "a")
    kernel = first.layer.kernel.numpy()
    kernel[:, 0] = 0.0  # unit 0 of `a` gets no input: only a channel-pruned model loses it
    first.layer.kernel.assign(kernel)
    plain = export.deployable(model)
    assert [layer.name for layer in plain.layers] == ["a", "b"]
    assert [tuple(layer.kernel.shape) for layer in plain.layers] == [(4, 3), (3, 2)]
    np.testing.assert_array_equal(plain.get_layer("a").kernel.numpy()[:, 0], 0.0)


class _FailingInterpreter:
    """Stands in for LiteRT's Interpreter: fails to allocate with `message`."""

    message = ""

    def __init__(self, **options):
        self.options = options

    def allocate_tensors(self):
        raise RuntimeError(self.message)


@pytest.mark.parametrize(
    "message, builtin_kernels, fix_named",
    [
        ("Failed to apply XNNPACK delegate", False, True),  # the default delegate: the fix is named
        ("Failed to apply XNNPACK delegate", True, False),  # no delegate was asked for: the error as it is
        ("tensor index 3 out of range", False, False),  # not the delegate's: the error as it is
    ],
)
def test_only_a_default_delegate_failure_names_the_builtin_kernels_fix(
    message, builtin_kernels, fix_named, monkeypatch
):
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    monkeypatch.setattr(_FailingInterpreter, "message", message)
    monkeypatch.setattr(litert, "Interpreter", _FailingInterpreter)
    with pytest.raises(RuntimeError) as raised:
        export.interpreter(model_content=b"", builtin_kernels=builtin_kernels)
    if fix_named:
        assert str(raised.value).startswith(f"LiteRT's default delegate (XNNPack) cannot prepare this file: {message} ")
        assert "interpreter(..., builtin_kernels=True)" in str(raised.value)
        assert raised.value.__cause__.args == (message,)
    else:
        assert type(raised.value) is RuntimeError and raised.value.args == (message,)
