"""The `keras-ltp` command: strip, export and report on `.keras` models.

    keras-ltp strip IN.keras OUT.keras
    keras-ltp export IN.keras --saved-model DIR --tflite FILE [--quantize int8 --calibration X.npy]
    keras-ltp report IN.keras [--calibration X.npy] [--json FILE]

Accepts pruned (wrapped) and already stripped models, trained on any Keras
backend. The command itself always runs Keras on TensorFlow, which export
needs, whatever KERAS_BACKEND says.
"""

import argparse
import json
import os
import sys
import warnings
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class CommandError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


def _load_model(path):
    import keras

    import keras_ltp  # noqa: F401 - registers PrunableWrapper for loading

    if not os.path.exists(path):
        raise CommandError(f"{path}: no such file.")
    if not path.endswith(".keras"):
        raise CommandError(f"{path}: expected a Keras 3 model file ending in .keras.")
    if not zipfile.is_zipfile(path):
        raise CommandError(f"{path}: not a .keras archive (the file is corrupt or in another format).")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - any load failure is reported the same way
        raise CommandError(f"{path}: could not load it as a Keras model ({type(error).__name__}: {error}).")


def _load_calibration(path):
    import numpy as np

    if path is None:
        return None
    if not os.path.exists(path):
        raise CommandError(f"{path}: no such calibration file.")
    try:
        return np.load(path)
    except Exception as error:  # noqa: BLE001
        raise CommandError(f"{path}: not a .npy array of example inputs ({error}).")


def _strip(args):
    import keras_ltp
    from keras_ltp.export import _atomic_path

    model = _load_model(args.input)
    stripped = keras_ltp.strip(model) if list(keras_ltp.models.iter_wrappers(model)) else model
    if not args.output.endswith(".keras"):
        raise CommandError(f"{args.output}: the output must end in .keras.")
    with _atomic_path(args.output, args.overwrite, is_dir=False) as temporary:
        stripped.save(temporary)
    print(f"Wrote {args.output} ({len(stripped.layers)} layers, no keras_ltp objects).")


def _export(args):
    from keras_ltp import export

    if not (args.saved_model or args.tflite):
        raise CommandError("nothing to do: give --saved-model DIR and/or --tflite FILE.")
    if args.quantize == "int8" and not args.calibration:
        raise CommandError("--quantize int8 needs --calibration FILE.npy (a few hundred example inputs).")
    model = _load_model(args.input)
    calibration = _load_calibration(args.calibration)
    if args.saved_model:
        print(f"Wrote SavedModel {export.saved_model(model, args.saved_model, overwrite=args.overwrite)}")
    if args.tflite:
        path = export.tflite(
            model,
            args.tflite,
            quantize=args.quantize,
            representative_data=calibration,
            overwrite=args.overwrite,
        )
        print(f"Wrote {path} ({os.path.getsize(path):,} bytes, quantize={args.quantize})")


def _report(args):
    from keras_ltp import export

    model = _load_model(args.input)
    result = export.report(model, representative_data=_load_calibration(args.calibration))
    print(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"Wrote {args.json}")


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-ltp", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    strip = commands.add_parser("strip", help="write a plain Keras model with the hard masks baked in")
    strip.add_argument("input")
    strip.add_argument("output")
    strip.add_argument("--overwrite", action="store_true")
    strip.set_defaults(run=_strip)

    export = commands.add_parser("export", help="write a SavedModel and/or a sparse .tflite")
    export.add_argument("input")
    export.add_argument("--saved-model", metavar="DIR")
    export.add_argument("--tflite", metavar="FILE")
    export.add_argument("--quantize", choices=["float16", "int8"])
    export.add_argument("--calibration", metavar="FILE.npy", help="example inputs for int8 calibration")
    export.add_argument("--overwrite", action="store_true")
    export.set_defaults(run=_export)

    report = commands.add_parser("report", help="per-layer sparsity and .tflite sizes")
    report.add_argument("input")
    report.add_argument("--calibration", metavar="FILE.npy", help="also measure a sparse int8 file")
    report.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    report.set_defaults(run=_report)
    return parser


def _rerun_on_tensorflow():
    """Importing keras_ltp fixed the backend from KERAS_BACKEND; export needs
    TensorFlow, so a command started on another backend re-runs itself."""
    import keras

    if keras.backend.backend() != "tensorflow":
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        command = [sys.executable, "-m", "keras_ltp.cli", *sys.argv[1:]]
        sys.stdout.flush()
        os.execve(sys.executable, command, env)


def main(argv=None):
    if argv is None:
        _rerun_on_tensorflow()
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            args.run(args)
    except (CommandError, FileExistsError, FileNotFoundError, PermissionError, ValueError, RuntimeError) as error:
        print(f"keras-ltp {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
