"""keras_ltp.files: the one atomic writer, used by export, the CLI, the trail
and the plots."""

import os
import subprocess
import sys
import textwrap

import keras
import pytest

import keras_ltp
from keras_ltp import files, trail


def test_writes_into_missing_folders_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    with files.atomic_path(target) as temporary:
        assert not target.exists() and os.path.dirname(temporary) != str(target.parent)
        with open(temporary, "w") as f:
            f.write("whole")
    assert target.read_text() == "whole"
    assert os.listdir(target.parent) == ["out.txt"]


def test_a_failed_write_keeps_the_old_output(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with files.atomic_path(target, overwrite=True) as temporary:
            with open(temporary, "w") as f:
                f.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_an_existing_output_is_refused_before_any_work(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(FileExistsError, match="out.txt already exists; add --overwrite to replace it"):
        with files.atomic_path(target, overwrite_hint="add --overwrite"):
            pytest.fail("the body ran")


def test_a_directory_output_is_replaced_whole(tmp_path):
    target = tmp_path / "saved"
    target.mkdir()
    (target / "stale.pb").write_text("old")
    with files.atomic_path(target, overwrite=True, is_dir=True) as temporary:
        os.makedirs(temporary)
        open(os.path.join(temporary, "new.pb"), "w").close()
    assert os.listdir(target) == ["new.pb"]
    assert os.listdir(tmp_path) == ["saved"]


def test_durable_flushes_every_file_before_the_rename(tmp_path, monkeypatch):
    flushed = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: flushed.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd))
    with files.atomic_path(tmp_path / "d", is_dir=True, durable=True) as temporary:
        os.makedirs(os.path.join(temporary, "sub"))
        for name in ("x", os.path.join("sub", "y")):
            open(os.path.join(temporary, name), "w").close()
    assert sorted(os.path.basename(p) for p in flushed) == ["x", "y"]
    assert all(files.is_partial(os.path.relpath(p, tmp_path).split(os.sep)[0]) for p in flushed)  # before the rename
    assert sorted(os.listdir(tmp_path / "d")) == ["sub", "x"]
    flushed.clear()
    with files.atomic_path(tmp_path / "plain.txt") as temporary:
        open(temporary, "w").close()
    assert flushed == []  # not durable: no fsync


def _kill_while_writing(target):
    script = textwrap.dedent(
        f"""
        import os
        from keras_ltp.files import atomic_path
        with atomic_path({str(target)!r}) as temporary:
            with open(temporary, "w") as f:
                f.write("half")
            os._exit(1)  # killed mid-write: no clean-up runs
        """
    )
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    assert subprocess.run([sys.executable, "-c", script], env=env).returncode == 1


def _unfinished_write(target):
    """An `atomic_path` write entered and never left, in this process: what a
    killed process leaves on disk, without a process to kill. Returns the
    context; closing it would clean up, so the caller keeps it alive."""
    context = files.atomic_path(target)
    with open(context.__enter__(), "w") as f:
        f.write("half")
    return context


# How a write is cut short: a killed process (slow: a new Python), or an
# unfinished write in this process (the default run's version of the same check).
INTERRUPTED = [pytest.param(_kill_while_writing, marks=pytest.mark.slow, id="killed"), _unfinished_write]


@pytest.mark.parametrize("interrupt", INTERRUPTED)
def test_an_interrupted_write_leaves_only_a_recognisable_scratch_directory(tmp_path, interrupt):
    pending = interrupt(tmp_path / "index.json")
    left = os.listdir(tmp_path)
    assert len(left) == 1 and files.is_partial(left[0]) and trail.is_temporary(left[0])
    assert not files.is_partial("index.json") and not files.is_partial(".hidden")
    assert files.remove_partial(tmp_path) == left and os.listdir(tmp_path) == []
    del pending  # kept alive until here


@pytest.mark.parametrize("interrupt", INTERRUPTED)
def test_a_trail_removes_what_an_interrupted_save_left(tmp_path, interrupt):
    directory = tmp_path / "trail"
    directory.mkdir()
    pending = interrupt(directory / "epoch004_sparsity81.00.keras")
    (directory / ".epoch003_sparsity80.00.keras.tmp.keras").write_bytes(b"PK cut short")  # earlier versions' name
    assert len(os.listdir(directory)) == 2
    model = keras_ltp.prune(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
    callback = keras_ltp.callbacks.TrailCheckpoint(directory)
    callback.set_model(model)
    callback.on_train_begin()
    assert os.listdir(directory) == []
    del pending
