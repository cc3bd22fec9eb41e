"""Deployable artifacts: SavedModel (TF Serving, GPU), TFLite (LiteRT), size report.

The only TensorFlow-specific module of keras_ltp. Every function accepts a
pruned model (it is stripped first) or a plain Keras model (exported as it is,
with a warning that nothing was pruned). Outputs are written to a temporary
path beside the destination and renamed into place, so a failure never
leaves a half-written file or directory behind.

Export needs the TensorFlow backend. A model trained with `KERAS_BACKEND=jax`
or `torch` is saved as `.keras` and exported from a TensorFlow process (the
`keras-ltp` command always runs on TensorFlow); tests cover both.
"""

import math
import os
import re
import tempfile
import warnings

import keras
import numpy as np

from keras_ltp.copying import clone_graph, leaf_layers
from keras_ltp.files import atomic_path, check_destination
from keras_ltp.native_output import captured
from keras_ltp.registry import prunable_weights
from keras_ltp.shrinking import shrink
from keras_ltp.stripping import strip
from keras_ltp.walk import is_graph_model, iter_layers
from keras_ltp.wrapper import iter_wrappers

__all__ = [
    "ExportReport",
    "deployable",
    "interpreter",
    "report",
    "run_tflite",
    "saved_model",
    "tflite",
    "tflite_bytes",
    "unrolled",
]

QUANTIZE_CHOICES = (None, "float16", "int8")


# -- preparing the model ---------------------------------------------------------


def deployable(model):
    """The model to export: `shrink(model)` if it holds channel-pruned
    wrappers (pruned channels removed: smaller, faster layers), else
    `strip(model)` if it holds wrappers, else `model` (warning when that
    model has no zero in any prunable weight).

    Args:
        model: a Keras model, pruned or not.

    Returns:
        A Keras model with no keras_ltp object in it.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a keras.Model, got {type(model).__name__}.")
    wrappers = list(iter_wrappers(model))
    if any(w.granularity == "channel" for w in wrappers):
        return shrink(model)
    if wrappers:
        return strip(model)
    if not any(row["kept"] < row["total"] for row in _weight_rows(model)):
        warnings.warn(
            f"Model {model.name!r} contains no PrunableWrapper and no pruned weight: "
            "exporting it as it is (nothing was pruned).",
            UserWarning,
            stacklevel=3,
        )
    return model


def _require_tensorflow(what):
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            f"keras_ltp.export.{what} needs the TensorFlow backend, and this process "
            f"runs Keras on {backend!r}. Save the model (model.save('pruned.keras')) "
            "and export it from a TensorFlow process, e.g. `keras-ltp export "
            "pruned.keras --saved-model DIR --tflite FILE` (the command always runs "
            "on TensorFlow) or KERAS_BACKEND=tensorflow python your_export_script.py."
        )


# -- SavedModel ----------------------------------------------------------------------


def _write_saved_model(model, path):
    try:
        model.export(path, format="tf_saved_model", verbose=False)
    except Exception as error:  # noqa: BLE001 - re-raised with the cause named
        raise RuntimeError(f"Could not export {model.name!r} as a SavedModel: {error}") from error


def saved_model(model, path, *, overwrite=False):
    """Writes a TF SavedModel with a `serve` endpoint (and `serving_default`).

    It loads with `tf.saved_model.load(path)` in a process where keras_ltp
    is not installed (tested). It is Keras' own `model.export` format, the
    one TF Serving reads; TF Serving and GPU runs are not tested here.

    Args:
        model: a pruned or plain Keras model (pruned models are stripped).
        path: destination directory (must not exist unless `overwrite`).
        overwrite: replace an existing directory.

    Returns:
        The absolute path written.

    Example:
    >>> import keras, keras_ltp, tempfile, os
    >>> m = keras_ltp.prune(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
    >>> out = keras_ltp.export.saved_model(m, os.path.join(tempfile.mkdtemp(), "sm"))
    """
    _require_tensorflow("saved_model")
    model = deployable(model)
    with atomic_path(path, overwrite, is_dir=True) as temporary:
        _write_saved_model(model, temporary)
    return os.path.abspath(os.fspath(path))


# -- TFLite --------------------------------------------------------------------------


def _is_recurrent(layer):
    return any(isinstance(inner, keras.layers.RNN) for inner in iter_layers(layer))


def _time_steps(layer):
    """The sequence length of `layer`'s input in its graph, None if not fixed."""
    shape = keras.tree.flatten(layer.input)[0].shape
    return shape[1] if len(shape) > 1 else None


def _with_unroll(config):
    """`config` with `unroll=True` in it and in every nested layer config that has the key."""
    if isinstance(config, dict):
        return {k: True if k == "unroll" else _with_unroll(v) for k, v in config.items()}
    if isinstance(config, list):
        return [_with_unroll(v) for v in config]
    return config


def unrolled(model):
    """The model with its recurrent layers (LSTM, GRU, SimpleRNN, any
    `keras.layers.RNN`, also inside Bidirectional or TimeDistributed) set to
    `unroll=True`, the same weights: one step of the cell per time step, with
    no `while` loop. That is how `tflite_bytes` converts them: the loop's
    TensorList ops have no LiteRT built-in kernel, while the unrolled steps
    are plain fully-connected and element-wise ops that LiteRT runs with its
    default options (XNNPack), float and int8. The file grows with the
    sequence length (the graph holds each step; the weights are stored once).

    Args:
        model: a Sequential or Functional model (returned as is if it has no
            recurrent layer).

    Returns:
        A model for conversion; layers that are not recurrent are shared with
        `model`, not copied.

    Raises:
        ValueError: a recurrent layer's input has no fixed sequence length
            (the message names the layer and the fix).
    """
    if not is_graph_model(model):
        return model
    recurrent = [layer for layer in leaf_layers(model) if _is_recurrent(layer)]
    if not recurrent:
        return model
    for layer in recurrent:
        if _time_steps(layer) is None:
            raise ValueError(
                f"Cannot convert {model.name!r} to TFLite: the recurrent layer {layer.name!r} "
                f"({type(layer).__name__}) reads sequences of no fixed length. LiteRT runs recurrent layers "
                "unrolled, one step per time step, so the length must be known: build the model with a fixed "
                "one, e.g. keras.Input((steps, features)), or rebuild it for export with "
                "keras.models.clone_model(model, input_tensors=keras.Input((steps, features))). "
                "The SavedModel export takes any length."
            )

    def replace(layer):
        if not _is_recurrent(layer):
            return layer
        copy = layer.__class__.from_config(_with_unroll(layer.get_config()))
        copy.build_from_config(layer.get_build_config())
        copy.set_weights(layer.get_weights())
        return copy

    return clone_graph(model, replace)


def _representative_dataset(data, limit=200):
    """int8 calibration data as the converter takes it: a callable yielding,
    for each of the first `limit` examples, a list with one batch of 1 per
    input (float arrays as float32). A callable `data` is used as it is."""
    if callable(data):
        return data
    inputs = list(data) if isinstance(data, (list, tuple)) else [data]
    arrays = [np.asarray(x) for x in inputs]
    counts = [len(a) if a.ndim else 0 for a in arrays]
    if not arrays or min(counts) == 0 or len(set(counts)) > 1:
        raise ValueError(
            "representative_data must hold the same number (at least one) of examples for each model input, "
            f"one example per row: got a {type(data).__name__} of shapes {[a.shape for a in arrays]}. Pass an array of "
            "examples, or a list of such arrays with one per input, or a callable returning lists of inputs."
        )
    arrays = [a.astype("float32") if a.dtype.kind == "f" else a for a in arrays]
    count = min(counts[0], limit)

    def generate():
        for i in range(count):
            yield [a[i : i + 1] for a in arrays]

    return generate


def _sparse_encoding(sparse, quantize):
    """Whether a file is sparse-encoded: `sparse`, or by default every float
    file and no int8 one (see `tflite_bytes`)."""
    if sparse is None:
        return quantize != "int8"
    if not isinstance(sparse, bool):
        raise TypeError(f"sparse must be None (float files sparse, int8 dense), True or False, got {sparse!r}.")
    return sparse


def tflite_bytes(model, *, quantize=None, representative_data=None, sparse=None):
    """Converts a model to a `.tflite` flatbuffer (in memory), through SavedModel.

    By default the file runs in LiteRT's default configuration (XNNPack on,
    what an Android or iOS app gets) and no slower there than the dense
    model's file. Float32 and float16 weights are sparse-encoded: the
    interpreter expands them once when it starts (a Densify op), so the file
    is smaller and runs at dense speed. Int8 weights are stored dense: XNNPack
    cannot prepare int8 weights stored sparse (the file fails to load with
    default options), and the built-in kernels that run them are several
    times slower than XNNPack's dense int8 ones
    (`python -m benchmarks.tflite_delegates`).

    Args:
        model: a pruned or plain Keras model (pruned models are stripped).
        quantize: None (float32), "float16" (weights) or "int8" (weights and
            activations, calibrated on `representative_data`; inputs and
            outputs stay float32).
        representative_data: calibration inputs for int8: an array (or a list
            of arrays for several inputs, with the same number of examples)
            of examples, of which the first 200 are used, or a callable
            returning an iterable of input lists. Checked before converting.
        sparse: sparse-encode pruned weights (`Optimize.EXPERIMENTAL_SPARSITY`).
            None (default): float files yes, int8 no, as above; for a model
            with recurrent layers (converted unrolled, see `unrolled`) the
            float file keeps whichever encoding is smaller, since the
            sparse one can take more bytes there. True: int8
            too, for the smallest file; it runs only on the built-in kernels
            (`interpreter(..., builtin_kernels=True)`). False: never.

    Returns:
        The flatbuffer as `bytes`.
    """
    _require_tensorflow("tflite")

    if quantize not in QUANTIZE_CHOICES:
        raise ValueError(f"quantize must be one of {QUANTIZE_CHOICES}, got {quantize!r}.")
    explicit = sparse is not None
    sparse = _sparse_encoding(sparse, quantize)
    if quantize == "int8":
        if representative_data is None:
            raise ValueError(
                "quantize='int8' needs representative_data: a few hundred typical inputs "
                "(e.g. training images) to calibrate activation ranges."
            )
        representative_data = _representative_dataset(representative_data)  # checked before converting
    plain = deployable(model)
    model = unrolled(plain)
    content = _convert(model, quantize, representative_data, sparse)
    misread = _misread_sparse_weights(content) if sparse else []
    if misread:
        why = (
            f"LiteRT's FULLY_CONNECTED kernel computes wrong outputs from a sparse-encoded weight with fewer "
            f"than 4 inputs, and {model.name!r} has such weights ({', '.join(_weights_shaped(model, misread)[:5])})"
        )
        if explicit:
            raise ValueError(f"{why}. Convert with sparse=False (or sparse=None, which then stores it dense).")
        warnings.warn(
            f"{why}: the file stores its weights dense, so it is larger but right.", UserWarning, stacklevel=2
        )
        sparse, content = False, _convert(model, quantize, representative_data, False)
    if sparse and not explicit and model is not plain:
        # Unrolled steps: the sparse encoding can take more bytes than the
        # dense one (benchmarks/results/recurrent_export.json); keep the smaller.
        dense = _convert(model, quantize, representative_data, False)
        content = dense if len(dense) < len(content) else content
    return content


def _convert(model, quantize, representative_data, sparse):
    import tensorflow as tf

    # The converter writes about a dozen C++ log lines per call, and a
    # `fully_quantize: ...` line on standard output; keep them off the terminal
    # (shown if it fails).
    with tempfile.TemporaryDirectory() as scratch, captured():
        path = os.path.join(scratch, "saved_model")
        _write_saved_model(model, path)
        converter = tf.lite.TFLiteConverter.from_saved_model(path)
        optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if sparse else []
        if quantize:
            optimizations.append(tf.lite.Optimize.DEFAULT)
        converter.optimizations = optimizations
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "int8":
            converter.representative_dataset = _representative_dataset(representative_data)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        try:
            return converter.convert()
        except Exception as error:  # noqa: BLE001 - re-raised with the cause named
            hint = ""
            if "TensorList" in str(error):
                hint = (
                    " A recurrent layer's loop is left in the graph (TensorList ops, which LiteRT has no "
                    "built-in kernel for): keras_ltp.export unrolls the RNN layers of Sequential and "
                    "Functional models, not those built inside a subclassed model or layer. Build the "
                    "recurrent layers with unroll=True and a fixed sequence length."
                )
            raise RuntimeError(
                f"The TFLite converter rejected {model.name!r} (quantize={quantize!r}): {error}{hint}"
            ) from error


def tflite(model, path, *, quantize=None, representative_data=None, sparse=None, overwrite=False):
    """Writes a `.tflite` file that runs with LiteRT's default options.

    Args:
        model: a pruned or plain Keras model (pruned models are stripped).
        path: destination file (must not exist unless `overwrite`).
        quantize, representative_data, sparse: see `tflite_bytes` (by
            default float weights are sparse-encoded, int8 ones dense).
        overwrite: replace an existing file.

    Returns:
        The absolute path written.

    Example:
    >>> import keras, keras_ltp, tempfile, os
    >>> m = keras_ltp.prune(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
    >>> out = keras_ltp.export.tflite(m, os.path.join(tempfile.mkdtemp(), "m.tflite"))
    >>> keras_ltp.export.run_tflite(out, [[1.0, 2.0, 3.0]]).shape
    (1, 2)
    """
    check_destination(path, overwrite)  # fail before converting
    content = tflite_bytes(model, quantize=quantize, representative_data=representative_data, sparse=sparse)
    with atomic_path(path, overwrite) as temporary:
        with open(temporary, "wb") as f:
            f.write(content)
    return os.path.abspath(os.fspath(path))


class _DelegateError(RuntimeError):
    """LiteRT's default delegate cannot prepare a file (the built-in kernels may)."""


def interpreter(model_path=None, model_content=None, *, builtin_kernels=False, num_threads=None):
    """A LiteRT interpreter (`ai-edge-litert`, else `tf.lite.Interpreter`),
    allocated, with LiteRT's default options: XNNPack on, as on a phone.

    Args:
        model_path, model_content: the `.tflite` file, or its bytes.
        builtin_kernels: TFLite's built-in kernels only, without the default
            delegates: they run int8 weights written with `sparse=True`,
            which XNNPack fails to prepare in some graphs.
        num_threads: CPU threads (None: the interpreter's default).

    Returns:
        The interpreter, tensors allocated, run once on zeros.

    Raises:
        RuntimeError: the default delegates cannot prepare the file (the
            message names the fix).
    """
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        import tensorflow as tf

        Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    options = {"num_threads": num_threads}
    if builtin_kernels:
        options["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    result = Interpreter(model_path=model_path, model_content=model_content, **options)
    try:
        # LiteRT may apply its delegate at the first invoke (graphs with a
        # dynamic shape), so run once on zeros: a file the delegate cannot
        # prepare fails here, with the fix named, not at the user's first call.
        result.allocate_tensors()
        for entry in result.get_input_details():
            result.set_tensor(entry["index"], np.zeros(entry["shape"], entry["dtype"]))
        result.invoke()
    except RuntimeError as error:
        if builtin_kernels or "delegate" not in str(error).lower():
            raise
        raise _DelegateError(
            f"LiteRT's default delegate (XNNPack) cannot prepare this file: {str(error).strip()} "
            "Int8 weights written with sparse=True run only on the built-in kernels: "
            "interpreter(..., builtin_kernels=True). Exported with the default sparse=None, "
            "the int8 file runs with default options everywhere."
        ) from error
    return result


def run_tflite(model_path_or_bytes, inputs, *, builtin_kernels=False):
    """Runs a `.tflite` model example by example; returns the first output.

    Args:
        model_path_or_bytes: a file path or flatbuffer bytes.
        inputs: an array whose first axis is the batch (single-input
            models), or a dict of such arrays by input name (a model with
            named inputs, e.g. KerasHub's `token_ids`, `padding_mask`).
        builtin_kernels: see `interpreter` (default: LiteRT's default options).

    Returns:
        numpy array of outputs, batch first.
    """
    source = (
        {"model_content": bytes(model_path_or_bytes)}
        if isinstance(model_path_or_bytes, (bytes, bytearray))
        else {"model_path": os.fspath(model_path_or_bytes)}
    )
    runner = interpreter(**source, builtin_kernels=builtin_kernels)
    entries, exit_ = runner.get_input_details(), runner.get_output_details()[0]
    if isinstance(inputs, dict):
        feeds = [(entry, np.asarray(inputs[_input_key(entry["name"], inputs)])) for entry in entries]
    else:
        feeds = [(entries[0], np.asarray(inputs))]
    resized = False
    for entry, values in feeds:  # dimensions the model left free (a sequence length) take the inputs'
        shape = (1, *values.shape[1:])
        if tuple(entry["shape"]) != shape:
            runner.resize_tensor_input(entry["index"], shape)
            resized = True
    if resized:
        runner.allocate_tensors()
    outputs = []
    for i in range(len(feeds[0][1])):
        for entry, values in feeds:
            runner.set_tensor(entry["index"], values[i][None].astype(entry["dtype"]))
        runner.invoke()
        outputs.append(runner.get_tensor(exit_["index"])[0])
    return np.stack(outputs)


def _input_key(tensor_name, inputs):
    """The key of `inputs` that names the `.tflite` input `tensor_name`
    (the converter writes e.g. `serving_default_token_ids:0`)."""
    name = re.sub(r":\d+$", "", tensor_name)
    matches = [key for key in inputs if name in (key, f"serving_default_{key}")]
    if len(matches) != 1:
        raise ValueError(
            f"run_tflite: the .tflite input {tensor_name!r} matches {matches or 'none'} of the given inputs "
            f"{sorted(inputs)}; name each input once."
        )
    return matches[0]


# -- size report ---------------------------------------------------------------------


def _holds_prunable_weights(layer):
    return not isinstance(layer, keras.Model) and bool(prunable_weights(layer))


def _weight_rows(plain):
    rows, seen = [], set()
    for layer in iter_layers(plain, descend=lambda layer: not _holds_prunable_weights(layer)):
        if not _holds_prunable_weights(layer):
            continue
        for w in prunable_weights(layer):
            if id(w) in seen:
                continue
            seen.add(id(w))
            value = keras.ops.convert_to_numpy(w.value)
            rows.append(
                {
                    "layer": layer.name,
                    "weight": w.path,
                    "kept": int(np.count_nonzero(value)),
                    "total": int(value.size),
                }
            )
    return rows


def _misread_sparse_weights(content):
    """The `(out, in)` shapes of the sparse-encoded weights that a
    FULLY_CONNECTED op reads directly (LiteRT's sparse kernel, no Densify)
    with fewer than 4 inputs: that
    kernel gets them wrong (a Dense layer with 1-3 inputs, ai-edge-litert
    2.3; from 4 inputs on it is right: tests/test_export.py)."""
    found_interpreter = interpreter(model_content=content, builtin_kernels=True)
    details = {d["index"]: d for d in found_interpreter.get_tensor_details()}
    names = []
    for op in found_interpreter._get_ops_details():  # noqa: SLF001 - LiteRT's only listing of the ops
        if op["op_name"] != "FULLY_CONNECTED" or len(op["inputs"]) < 2:
            continue
        weight = details.get(int(op["inputs"][1]))
        if weight is not None and weight.get("sparsity_parameters") and 0 < int(weight["shape"][-1]) < 4:
            names.append(tuple(int(d) for d in weight["shape"]))
    return names


def _weights_shaped(model, fc_shapes):
    """The paths of `model`'s 2-D weights that the `(out, in)` FULLY_CONNECTED weight shapes transpose."""
    transposed = {(shape[1], shape[0]) for shape in fc_shapes}
    paths = [w.path for w in model.weights if tuple(w.shape) in transposed]
    return paths or [f"a {shape[1]}x{shape[0]} kernel" for shape in fc_shapes]


def _sparse_tensors(content):
    """Each sparse-encoded tensor as `(name, element count, values stored)`.

    The converter may encode in blocks (1x4 inputs for a FULLY_CONNECTED
    weight whose zeros mostly come in such blocks, for its fast sparse
    kernel); a block stores its zeros too.
    """
    details = interpreter(model_content=content, builtin_kernels=True).get_tensor_details()
    found = []
    for d in details:
        params = d.get("sparsity_parameters")
        if not params:
            continue
        dims = params["dim_metadata"]
        block_dims = len(dims) - len(d["shape"])
        block = math.prod(m["dense_size"] for m in dims[len(dims) - block_dims :]) if block_dims else 1
        blocks = next(len(m["array_indices"]) for m in dims if m["format"] == 1)
        found.append((d["name"], int(math.prod(d["shape"])), int(blocks * block)))
    return found


def _left_dense(rows, sparse_tensors):
    """Pruned weights with no sparse-encoded tensor of their size in the file."""
    sizes = [size for _, size, _ in sparse_tensors]
    left = []
    for row in rows:
        if row["kept"] == row["total"]:
            continue
        if row["total"] in sizes:
            sizes.remove(row["total"])
        else:
            left.append(row["weight"])
    return left


def _runs_with_default_options(content):
    """Whether LiteRT prepares and runs the file with its default options."""
    try:
        interpreter(model_content=content)
    except _DelegateError:
        return False
    return True


class ExportReport(dict):
    """The result of `keras_ltp.export.report`: a dict that prints as tables."""

    def __str__(self):
        lines = [f"{'weight':<40}{'kept':>10}{'total':>10}{'sparsity':>10}{'compression':>13}"]
        for row in self["weights"]:
            lines.append(
                f"{row['weight']:<40}{row['kept']:>10}{row['total']:>10}"
                f"{1 - row['kept'] / row['total']:>10.2%}{row['total'] / max(row['kept'], 1):>12.1f}x"
            )
        lines.append(
            f"{'overall':<40}{self['kept']:>10}{self['total']:>10}"
            f"{self['sparsity']:>10.2%}{self['compression']:>12.1f}x"
        )
        lines.append("")
        lines.append(f"{'artifact':<28}{'bytes':>12}{'vs dense':>10}{'vs floor':>10}{'LiteRT default options':>32}")
        for name, entry in self["files"].items():
            floor = entry.get("floor_bytes")
            lines.append(
                f"{name:<28}{entry['bytes']:>12,}{entry['bytes'] / self['files']['dense_float32']['bytes']:>9.3f}x"
                + (f"{entry['bytes'] / floor:>9.2f}x" if floor else f"{'':>10}")
                + f"{'runs' if entry['default_delegates'] else 'fails (built-in kernels only)':>32}"
            )
        lines.append(
            "export.tflite writes sparse_float32, sparse_float16 and dense_int8 by default (sparse=True: sparse_int8)"
        )
        lines.append(
            f"floor = kept weights x bytes per value: float32 {self['floor_bytes']['float32']:,}, "
            f"float16 {self['floor_bytes']['float16']:,}, int8 {self['floor_bytes']['int8']:,}"
        )
        stored = sum(t["values_stored"] for t in self["sparse_encoded_tensors"])
        lines.append(
            f"sparse encoding stores {stored:,} values for {self['kept']:,} kept weights "
            "(block-encoded tensors store the zeros inside each block)"
        )
        dense_left = self.get("dense_encoded_weights", [])
        if dense_left:
            lines.append("weights the converter left dense: " + ", ".join(dense_left))
        return "\n".join(lines)


def report(model, *, representative_data=None):
    """Per-weight and overall kept weights, and the bytes the sparsity buys.

    Converts the (stripped) model to dense float32 TFLite, sparse float32,
    sparse float16, and, when `representative_data` is given, dense int8
    (`tflite()`'s default int8 file) and sparse int8 (`sparse=True`).
    Compares each sparse file with its floor: kept weights x bytes per value
    (the size of the non-zero values alone, with no index or graph overhead),
    and records whether LiteRT runs it with its default options (XNNPack on).

    Args:
        model: a pruned or plain Keras model.
        representative_data: calibration inputs for the int8 file (optional).

    Returns:
        An `ExportReport` (a dict; `print()` shows tables) with `weights`,
        `kept`, `total`, `sparsity`, `compression`, `files` (name ->
        `bytes`, `floor_bytes`, `default_delegates`), `floor_bytes`, `sparse_encoded_tensors`
        (name, elements, values stored) and `dense_encoded_weights` (pruned
        weight tensors the converter stored densely).
    """
    plain = deployable(model)
    rows = _weight_rows(plain)
    if not rows:
        raise ValueError(f"Model {plain.name!r} has no prunable weights to report on.")
    kept = sum(r["kept"] for r in rows)
    total = sum(r["total"] for r in rows)
    floors = {"float32": 4 * kept, "float16": 2 * kept, "int8": kept}
    variants = {
        "dense_float32": dict(sparse=False),
        "sparse_float32": dict(sparse=True),
        "sparse_float16": dict(sparse=True, quantize="float16"),
    }
    if representative_data is not None:
        variants["dense_int8"] = dict(sparse=False, quantize="int8", representative_data=representative_data)
        variants["sparse_int8"] = dict(sparse=True, quantize="int8", representative_data=representative_data)
    files, contents = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for name, options in variants.items():
            contents[name] = tflite_bytes(plain, **options)
            dtype = options.get("quantize") or "float32"
            files[name] = {
                "bytes": len(contents[name]),
                "floor_bytes": floors[dtype] if options["sparse"] else None,
                "default_delegates": _runs_with_default_options(contents[name]),
            }
    sparse_tensors = _sparse_tensors(contents["sparse_float32"])
    return ExportReport(
        weights=rows,
        kept=kept,
        total=total,
        sparsity=1 - kept / total,
        compression=total / max(kept, 1),
        files=files,
        floor_bytes=floors,
        sparse_encoded_tensors=[
            {"name": name, "elements": size, "values_stored": stored} for name, size, stored in sparse_tensors
        ],
        dense_encoded_weights=_left_dense(rows, sparse_tensors),
    )
