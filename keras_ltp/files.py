"""Writing outputs all at once: to a temporary path beside the destination,
renamed into place when complete, so a failure never leaves half an output."""

import contextlib
import os
import shutil
import tempfile

__all__ = ["atomic_path", "check_destination", "is_partial", "remove_partial"]

_PARTIAL = ".partial-"  # in the name of the scratch directory beside an output being written


def _nearest_existing(directory):
    while not os.path.exists(directory):
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return directory


def check_destination(path, overwrite, overwrite_hint="pass overwrite=True"):
    """Checks that `path` can be written, before any work is done.

    Missing parent directories are fine (`atomic_path` creates them); the
    nearest existing one must be a writable directory.

    Args:
        path: the destination file or directory.
        overwrite: whether an existing `path` may be replaced.
        overwrite_hint: how the caller asks for overwriting, for the message.

    Returns:
        The absolute path.

    Raises:
        FileExistsError: `path` exists and `overwrite` is false.
        NotADirectoryError, PermissionError: the parent cannot hold it.
    """
    path = os.path.abspath(os.fspath(path))
    existing = _nearest_existing(os.path.dirname(path))
    if not os.path.isdir(existing):
        raise NotADirectoryError(f"Cannot write {path}: {existing} is a file, not a directory.")
    if not os.access(existing, os.W_OK):
        raise PermissionError(f"Cannot write {path}: the directory {existing} is not writable.")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; {overwrite_hint} to replace it.")
    return path


@contextlib.contextmanager
def atomic_path(path, overwrite=False, is_dir=False, overwrite_hint="pass overwrite=True", durable=False):
    """Yields a temporary path beside `path`; renames it into place on success.

    Missing parent directories are created. On an exception the temporary
    output is removed and an existing `path` is left as it was. A process
    killed while writing leaves a scratch directory named
    `.NAME.partial-XXXX` beside `path` (see `is_partial`), never a partial
    `path`.

    Args:
        path: the destination file or directory.
        overwrite: replace an existing `path`.
        is_dir: the output is a directory (an existing one is replaced whole).
        overwrite_hint: see `check_destination`.
        durable: flush the output to disk (fsync) before the rename, so that
            after a power loss `path` is either the old or the whole new one.

    Yields:
        The temporary path to write.

    Example:
    >>> import os, tempfile
    >>> from keras_ltp.files import atomic_path
    >>> target = os.path.join(tempfile.mkdtemp(), "new", "notes.txt")
    >>> with atomic_path(target) as temporary:
    ...     _ = open(temporary, "w").write("done")
    >>> open(target).read()
    'done'
    """
    path = check_destination(path, overwrite, overwrite_hint)
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=f".{name}{_PARTIAL}", dir=parent)
    temporary = os.path.join(scratch, name)
    try:
        yield temporary
        if durable:
            _fsync_tree(temporary)
        if is_dir and os.path.isdir(path):
            previous = os.path.join(scratch, "previous")
            os.replace(path, previous)
            try:
                os.replace(temporary, path)
            except BaseException:
                os.replace(previous, path)
                raise
        else:
            os.replace(temporary, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fsync_tree(path):
    paths = [path] if os.path.isfile(path) else [os.path.join(d, f) for d, _, files in os.walk(path) for f in files]
    for name in paths:
        with open(name, "rb") as f:
            os.fsync(f.fileno())


def is_partial(name):
    """True for the scratch directory a killed `atomic_path` write leaves.

    Args:
        name: a file or directory name (not a path).

    Returns:
        bool.
    """
    return name.startswith(".") and _PARTIAL in name


def remove_partial(directory):
    """Deletes what killed `atomic_path` writes left in `directory`.

    Args:
        directory: a directory.

    Returns:
        The names removed.
    """
    names = [name for name in os.listdir(directory) if is_partial(name)]
    for name in names:
        shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    return names
