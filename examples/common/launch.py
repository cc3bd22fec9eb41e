"""Runs an example's flow once its options are parsed.

Keras (and with it TensorFlow) is imported here, inside
`keras_ltp_cli.captured_native_output`: TensorFlow's C++ log lines, written
straight to file descriptors 1 and 2, stay off the terminal unless
`--verbose 3`, while prints, progress bars and Python warnings still show.
If the run fails, the captured tail is printed with the error.
"""

from keras_ltp_cli import captured_native_output


def run(build_model, args, **options):
    """`flow.run(build_model, args, **options)` with native logs captured."""
    with captured_native_output(enabled=args.verbose < 3):
        from . import flow

        return flow.run(build_model, args, **options)
