"""Keeping native (C++) log lines off the terminal.

TensorFlow and its TFLite converter write their C++ logs straight to the
process's file descriptors 1 and 2: about eight lines when TensorFlow is
imported (a CUDA probe among them, on machines without a GPU too), a dozen per
`.tflite` conversion, and a `fully_quantize: ...` line on standard output.
`TF_CPP_MIN_LOG_LEVEL` does not silence the lines written before absl's logging
starts. `captured()` diverts those descriptors to a temporary file while
Python's own `sys.stdout`/`sys.stderr` (prints, progress bars, warnings) keep
reaching the terminal, and shows the captured tail if the block fails.
"""

import contextlib
import os
import sys
import tempfile

__all__ = ["captured"]

_TAIL_CHARS = 6000


def _python_stream_for(fd, stream):
    """A new text stream on a duplicate of `fd`, for a `sys` stream that writes
    to `fd` itself; None for streams that do not (pytest's, notebooks')."""
    try:
        if stream.fileno() != fd:
            return None
    except (AttributeError, OSError, ValueError):
        return None
    stream.flush()
    return os.fdopen(os.dup(fd), "w", buffering=1, encoding=getattr(stream, "encoding", None) or "utf-8")


@contextlib.contextmanager
def captured(enabled=True):
    """Diverts what native code writes to file descriptors 1 and 2.

    Inside the block, output that Python code writes through `sys.stdout` and
    `sys.stderr` (print, warnings, Keras progress bars) still reaches the
    terminal; output written below Python, straight to the descriptors
    (TensorFlow's C++ logs, the TFLite converter's prints), goes to a
    temporary file. If the block raises, the last lines of that file are
    written to standard error before the exception propagates, so a failure
    keeps its native context.

    Args:
        enabled: False makes this a no-op (e.g. for a `--verbose` switch).

    Returns:
        A context manager.

    Example:
    >>> from keras_ltp.native_output import captured
    >>> with captured():
    ...     import keras  # TensorFlow's start-up log lines stay off the terminal
    """
    if not enabled:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    streams = {"stdout": sys.stdout, "stderr": sys.stderr}
    replacements = {name: _python_stream_for(fd, streams[name]) for name, fd in (("stdout", 1), ("stderr", 2))}
    log = tempfile.TemporaryFile()
    failed = False
    try:
        for fd in saved:
            os.dup2(log.fileno(), fd)
        for name, replacement in replacements.items():
            if replacement is not None:
                setattr(sys, name, replacement)
        yield
    except BaseException:
        failed = True
        raise
    finally:
        for name, replacement in replacements.items():
            if replacement is not None:
                replacement.flush()
                setattr(sys, name, streams[name])
                replacement.close()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        if failed:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(size - _TAIL_CHARS, 0))
            tail = log.read().decode("utf-8", "replace").strip()
            if tail:
                print(f"[native output before the error]\n{tail}", file=sys.stderr)
        log.close()
