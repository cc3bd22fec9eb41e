"""The `keras-ltp` command: strip, export and report on `.keras` models.

    keras-ltp strip IN.keras OUT.keras
    keras-ltp export IN.keras --saved-model DIR --tflite FILE [--quantize int8 --calibration X.npy]
                     [--sparse auto|yes|no]
    keras-ltp report IN.keras [--calibration X.npy] [--json FILE]

Accepts pruned (wrapped) and already stripped models, trained on any Keras
backend. The command always runs Keras on TensorFlow, which export needs,
whatever KERAS_BACKEND says, and never imports PyTorch or JAX.
"""

# This module lives outside the `keras_ltp` package on purpose: importing any
# module of that package runs `keras_ltp/__init__.py`, which imports Keras and
# so TensorFlow (5-10 s, and TensorFlow's C++ start-up log lines). Here the
# arguments are parsed first (`--help` and `--version` answer at once), and
# Keras is imported only to run a command, with its native logs captured.

import argparse
import importlib.metadata
import importlib.util
import json
import os
import sys
import zipfile

__all__ = ["build_parser", "captured_native_output", "main"]


class CommandError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


def _version():
    try:
        return importlib.metadata.version("keras-ltp")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (keras-ltp is not installed; pip install -e .)"


def _native_output():
    """`keras_ltp.native_output`, loaded from its file so that the package's
    `__init__` (and with it Keras and TensorFlow) is not imported yet."""
    spec = importlib.util.find_spec("keras_ltp")
    if spec is None or not spec.submodule_search_locations:
        raise CommandError("the keras_ltp package is not installed: pip install keras-ltp.")
    path = os.path.join(list(spec.submodule_search_locations)[0], "native_output.py")
    module_spec = importlib.util.spec_from_file_location("_keras_ltp_native_output", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def captured_native_output(enabled=True):
    """`keras_ltp.native_output.captured(enabled)`, usable before Keras is
    imported (the examples wrap their `import keras` in it).

    Args:
        enabled: False makes it a no-op (a `--verbose` switch).

    Returns:
        A context manager that keeps native (C++) log lines off the terminal.
    """
    return _native_output().captured(enabled)


def _use_tensorflow():
    """Runs Keras on TensorFlow in this process (export needs it)."""
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != "tensorflow":
            raise CommandError(
                f"Keras was already imported on the {keras.backend.backend()!r} backend in this "
                "process; run keras-ltp as its own command (export needs TensorFlow)."
            )
        return
    os.environ["KERAS_BACKEND"] = "tensorflow"


def _check_output(path, overwrite):
    """Fails before any work when `path` exists and --overwrite was not given."""
    if path and os.path.exists(path) and not overwrite:
        raise CommandError(f"{path} already exists; add --overwrite to replace it.")


def _check_input(path):
    if not os.path.exists(path):
        raise CommandError(f"{path}: no such file.")
    if not path.endswith(".keras"):
        raise CommandError(f"{path}: expected a Keras 3 model file ending in .keras.")
    if not zipfile.is_zipfile(path):
        raise CommandError(f"{path}: not a .keras archive (the file is corrupt or in another format).")


def _load_model(path):
    """Loads a model whose path the command has already checked with
    `_check_input` (before importing Keras)."""
    import keras

    import keras_ltp  # noqa: F401 - registers PrunableWrapper for loading

    try:
        # compile=False: a model compiled on PyTorch names a PyTorch optimizer
        # class, and rebuilding it would import torch into this TensorFlow
        # process (which can crash it); stripping and export need no optimizer.
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - any load failure is reported the same way
        raise CommandError(f"{path}: could not load it as a Keras model ({type(error).__name__}: {error}).") from error


def _load_calibration(path):
    import numpy as np

    if path is None:
        return None
    if not os.path.exists(path):
        raise CommandError(f"{path}: no such calibration file.")
    try:
        return np.load(path)
    except Exception as error:  # noqa: BLE001
        raise CommandError(f"{path}: not a .npy array of example inputs ({error}).") from error


def _strip(args):
    if not args.output.endswith(".keras"):
        raise CommandError(f"{args.output}: the output must end in .keras.")
    _check_input(args.input)
    _check_output(args.output, args.overwrite)
    import keras_ltp
    from keras_ltp.files import atomic_path

    model = _load_model(args.input)
    stripped = keras_ltp.strip(model) if list(keras_ltp.iter_wrappers(model)) else model
    with atomic_path(args.output, args.overwrite, overwrite_hint="add --overwrite") as temporary:
        stripped.save(temporary)
    print(f"Wrote {args.output} ({len(stripped.layers)} layers, no keras_ltp objects).")


def _export(args):
    if not (args.saved_model or args.tflite):
        raise CommandError("nothing to do: give --saved-model DIR and/or --tflite FILE.")
    for option, given in (("--sparse", args.sparse != "auto"), ("--quantize", args.quantize)):
        if given and not args.tflite:
            raise CommandError(f"{option} applies to the .tflite file: add --tflite FILE.")
    if args.quantize == "int8" and not args.calibration:
        raise CommandError("--quantize int8 needs --calibration FILE.npy (a few hundred example inputs).")
    _check_input(args.input)
    for output in (args.saved_model, args.tflite):
        _check_output(output, args.overwrite)
    from keras_ltp import export

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
            sparse={"auto": None, "yes": True, "no": False}[args.sparse],
            overwrite=args.overwrite,
        )
        print(f"Wrote {path} ({os.path.getsize(path):,} bytes, quantize={args.quantize}, sparse={args.sparse})")


def _report(args):
    _check_input(args.input)
    _check_output(args.json, args.overwrite)
    from keras_ltp import export
    from keras_ltp.files import atomic_path

    model = _load_model(args.input)
    result = export.report(model, representative_data=_load_calibration(args.calibration))
    print(result)
    if args.json:
        with atomic_path(args.json, args.overwrite, overwrite_hint="add --overwrite") as temporary:
            with open(temporary, "w") as f:
                json.dump(result, f, indent=2)
        print(f"Wrote {args.json}")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout and shows each option's default value
    (options whose default is "not given" say what that means themselves)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def build_parser():
    """The argument parser of `keras-ltp` (builds without importing Keras).

    Returns:
        An `argparse.ArgumentParser`.
    """
    parser = argparse.ArgumentParser(prog="keras-ltp", description=__doc__, formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose", action="store_true", help="also show TensorFlow's C++ log lines (hidden by default)"
    )
    overwrite = argparse.ArgumentParser(add_help=False)
    overwrite.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, run, summary, description):
        """A subcommand taking a .keras INPUT, --verbose and --overwrite."""
        sub = commands.add_parser(
            name, parents=[common, overwrite], formatter_class=_HelpFormatter, help=summary, description=description
        )
        sub.add_argument("input", help="a .keras model, pruned or already stripped")
        sub.set_defaults(run=run)
        return sub

    strip = command(
        "strip",
        _strip,
        "write a plain Keras model with the hard masks baked in",
        "Write a plain Keras model: original layer classes, pruned weights set to zero.",
    )
    strip.add_argument("output", help="the .keras file to write (missing folders are created)")

    export = command(
        "export",
        _export,
        "write a SavedModel and/or a .tflite",
        "Write a TF SavedModel and/or a .tflite that runs with LiteRT's default options (missing folders are created).",
    )
    export.add_argument("--saved-model", metavar="DIR", help="SavedModel folder to write (TF Serving, GPU)")
    export.add_argument("--tflite", metavar="FILE", help=".tflite file to write (phones: LiteRT)")
    export.add_argument(
        "--quantize", choices=["float16", "int8"], help="quantize the .tflite (default: float32 weights)"
    )
    export.add_argument("--calibration", metavar="FILE.npy", help="example inputs for int8 calibration")
    export.add_argument(
        "--sparse",
        choices=["auto", "yes", "no"],
        default="auto",
        help="sparse-encode pruned weights: auto = float yes, int8 no (runs with LiteRT's default XNNPack "
        "delegate); yes = int8 too (smallest file, built-in kernels only); no = never",
    )

    report = command(
        "report",
        _report,
        "per-layer sparsity and .tflite sizes",
        "Print kept weights per tensor and the size of each .tflite variant.",
    )
    report.add_argument("--calibration", metavar="FILE.npy", help="also measure int8 files (dense and sparse)")
    report.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    return parser


_USER_ERRORS = (
    CommandError,
    FileExistsError,
    FileNotFoundError,
    NotADirectoryError,
    PermissionError,
    ValueError,
    RuntimeError,
)


def main(argv=None):
    """Runs `keras-ltp` with `argv` (default: the command line).

    Returns:
        The exit status: 0 on success, 2 on a user error (printed to stderr).
    """
    args = build_parser().parse_args(argv)
    failure = None
    try:
        _use_tensorflow()
        with captured_native_output(enabled=not args.verbose):
            try:
                args.run(args)
            except _USER_ERRORS as error:  # caught inside: no native log replay for these
                failure = error
    except CommandError as error:
        failure = error
    if failure is not None:
        print(f"keras-ltp {args.command}: error: {failure}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
