"""The flow every example shares: train dense, prune with LTP, report, export.

The Keras side of the examples: importing this module imports Keras and
TensorFlow, so the examples import it through `common.launch`, after parsing
their options (see `common.options`).
"""

import json
import os
import time

import keras
import numpy as np

import keras_ltp

from . import data


def compile_model(model, learning_rate):
    """Adam, sparse categorical cross-entropy on logits, accuracy."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


def recalibrate_if_batch_norm(model, x_train, batch_size, verbose=True):
    """Re-estimates batch-norm moving statistics with the final weights
    (pruning moves weights faster than `fit`'s moving averages follow).

    Returns the number of batch-norm layers recalibrated: 0, silently, for
    a model without batch-norm.
    """
    if not any(isinstance(layer, keras.layers.BatchNormalization) for layer in keras_ltp.walk.iter_layers(model)):
        return 0
    count = keras_ltp.recalibrate_batch_norm(model, x_train, batch_size=batch_size)
    if verbose:
        print(f"Re-estimated the moving statistics of {count} batch-norm layers on the training inputs")
    return count


def run(build_model, args, prune_options=None, sparsity_of=None, load_data=None):
    """Trains `build_model(input_shape, classes)` dense, prunes it, reports.

    Args:
        build_model: callable returning an uncompiled Keras model.
        args: parsed `common.options.parser()` options.
        prune_options: extra keyword arguments for `keras_ltp.prune`.
        sparsity_of: optional `report -> (label, sparsity)` for a headline
            figure other than overall sparsity (e.g. convolutions only).
        load_data: optional `args -> ((x_train, y_train), (x_test, y_test))`;
            default: `data.load(args.tfds)` (images).

    Returns:
        The summary dict also written to `OUT/summary.json`.
    """
    progress = print if args.verbose else lambda *_: None  # --verbose 0: results only
    fit_verbose = min(args.verbose, 2)  # 3 only adds the native logs (see common.launch)
    keras.utils.set_random_seed(args.seed)
    keras.config.set_dtype_policy(args.dtype_policy)
    (x_train, y_train), (x_test, y_test) = load_data(args) if load_data else data.load(args.tfds)
    classes = int(y_train.max()) + 1
    os.makedirs(args.out, exist_ok=True)
    progress(f"Data: {len(x_train)} train / {len(x_test)} held-out examples, {classes} classes")

    dense = build_model(x_train.shape[1:], classes)
    compile_model(dense, args.lr)
    progress(f"\n== Dense training: {dense.name}, {dense.count_params():,} parameters, {args.dense_epochs} epochs")
    dense.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.dense_epochs, verbose=fit_verbose)
    recalibrate_if_batch_norm(dense, x_train, args.batch_size, args.verbose)
    dense_acc = float(dense.evaluate(x_test, y_test, verbose=0)[1])
    print(f"Dense held-out accuracy: {dense_acc:.4f}")

    t_start = args.temperature or args.t_start
    t_end = args.temperature or args.t_end
    pruned = keras_ltp.prune(
        dense,
        l0_strength=args.l0_strength,
        temperature=t_start,
        threshold_gain=args.threshold_gain,
        **(prune_options or {}),
    )
    compile_model(pruned, args.lr)
    progress(f"\n== LTP pruning: {args.prune_epochs} epochs, lambda={args.l0_strength}, T0 {t_start} -> {t_end}")
    start = time.time()
    pruned.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.prune_epochs,
        validation_data=(x_test, y_test),
        callbacks=[
            keras_ltp.callbacks.TemperatureScheduler.exponential(t_start, t_end, args.prune_epochs),
            keras_ltp.callbacks.SparsityMonitor(per_layer=False),
        ],
        verbose=fit_verbose,
    )
    seconds = time.time() - start
    recalibrate_if_batch_norm(pruned, x_train, args.batch_size, args.verbose)
    report = keras_ltp.sparsity(pruned)
    pruned_acc = float(pruned.evaluate(x_test, y_test, verbose=0)[1])
    print("\n" + str(report))
    label, headline = sparsity_of(report) if sparsity_of else ("sparsity", report["sparsity"])
    print(
        f"\nDense accuracy {dense_acc:.4f} | pruned accuracy {pruned_acc:.4f} "
        f"({(pruned_acc - dense_acc) * 100:+.2f} points) | {label} {headline:.2%} | "
        f"overall {report['compression']:.1f}x fewer weights | pruning took {seconds:.0f}s"
    )
    name = dense.name
    pruned.save(os.path.join(args.out, f"{name}_pruned.keras"))
    keras_ltp.strip(pruned).save(os.path.join(args.out, f"{name}_stripped.keras"))
    summary = {
        "model": name,
        "dense_accuracy": dense_acc,
        "pruned_accuracy": pruned_acc,
        "accuracy_change_points": (pruned_acc - dense_acc) * 100,
        label: headline,
        "sparsity": report["sparsity"],
        "compression": report["compression"],
        "per_layer_sparsity": {k: v["sparsity"] for k, v in report["layers"].items()},
        "prune_seconds": seconds,
        "args": vars(args),
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"Saved {args.out}/{name}_pruned.keras, {args.out}/{name}_stripped.keras and {args.out}/summary.json")
    export_all(pruned, x_train, x_test, args.out)
    return summary


def export_all(pruned, calibration, x_test, out):
    """SavedModel, float32 (sparse-encoded) and int8 `.tflite`, their agreement
    with Keras on `x_test` in LiteRT's default configuration (XNNPack on), and
    the size table."""
    print("\n== Export")
    targets = {
        "SavedModel": keras_ltp.export.saved_model(pruned, os.path.join(out, "saved_model"), overwrite=True),
        "TFLite float32": keras_ltp.export.tflite(pruned, os.path.join(out, "model.tflite"), overwrite=True),
        "TFLite int8": keras_ltp.export.tflite(
            pruned,
            os.path.join(out, "model_int8.tflite"),
            quantize="int8",
            representative_data=calibration,
            overwrite=True,
        ),
    }
    for kind, path in targets.items():
        print(f"{kind:<24} {path}")
    reference = keras_ltp.strip(pruned).predict(x_test, verbose=0)
    float_error = float(np.abs(keras_ltp.export.run_tflite(targets["TFLite float32"], x_test) - reference).max())
    int8_classes = keras_ltp.export.run_tflite(targets["TFLite int8"], x_test).argmax(1)
    int8_agreement = float(np.mean(int8_classes == reference.argmax(1)))
    print(
        f"On {len(x_test)} held-out inputs: float32 .tflite max |error| {float_error:.2e}; "
        f"int8 .tflite predicts the same class for {int8_agreement:.1%}"
    )
    report = keras_ltp.export.report(pruned, representative_data=calibration)
    report["tflite_float32_max_abs_error"] = float_error
    report["tflite_int8_argmax_agreement"] = int8_agreement
    print("\n" + str(report))
    with open(os.path.join(out, "export_report.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(f"Saved {out}/export_report.json")
    return report
