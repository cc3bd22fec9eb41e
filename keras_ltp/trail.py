"""The trail of progressively sparser checkpoints: its files, reading, choosing.

`keras_ltp.callbacks.TrailCheckpoint` writes `DIRECTORY/index.json`, a list
of entries `{"file", "epoch", "sparsity", "compression", "metrics", "step",
"final"}`, one per saved `.keras` model: the best model of each sparsity
`step` and the final model of `fit` (`"final": true`). The functions here
read it; indexes written before `step` and `final` existed read as
`step=None`, `final=False`.
"""

import json
import os
import shutil

from keras_ltp import files

__all__ = [
    "INDEX_NAME",
    "checkpoint_name",
    "is_temporary",
    "is_trail_file",
    "read_index",
    "remove",
    "save_checkpoint",
    "select",
    "write_index",
]

INDEX_NAME = "index.json"


def read_index(directory):
    """Returns the trail's entries (oldest first), each with an absolute `path`.

    Args:
        directory: a directory written by `TrailCheckpoint`.

    Returns:
        A list of dicts; empty if the directory holds no index yet. Entries
        of an older index get `step=None` and `final=False`.
    """
    path = os.path.join(os.fspath(directory), INDEX_NAME)
    if not os.path.exists(path):
        return []
    try:
        with open(path) as f:
            entries = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a readable trail index: {error}") from error
    for entry in entries:
        entry.setdefault("step", None)
        entry.setdefault("final", False)
        entry["path"] = os.path.join(os.path.abspath(os.fspath(directory)), entry["file"])
    return entries


def write_index(directory, entries):
    """Writes `index.json` atomically and durably (`files.atomic_path`), so a
    reader never sees a half-written index."""
    with files.atomic_path(os.path.join(os.fspath(directory), INDEX_NAME), overwrite=True, durable=True) as temporary:
        with open(temporary, "w") as f:
            json.dump([{k: v for k, v in e.items() if k != "path"} for e in entries], f, indent=2)


def checkpoint_name(epoch, sparsity):
    """The file name of a trail checkpoint: `epochEEE_sparsitySS.SS.keras`."""
    return f"epoch{epoch:03d}_sparsity{sparsity * 100:.2f}.keras"


def is_trail_file(name):
    """True for the index and the checkpoints a trail directory holds."""
    checkpoint = name.startswith("epoch") and "_sparsity" in name and name.endswith(".keras")
    return checkpoint or name == INDEX_NAME


def is_temporary(name):
    """True for what a save or index write leaves if it is killed: the
    scratch directory of `files.atomic_path`, and the temporary files of
    earlier keras-ltp versions (`.NAME.tmp.keras`, `index.json.tmp`)."""
    earlier = (name.startswith(".") and name.endswith(".tmp.keras")) or name == INDEX_NAME + ".tmp"
    return earlier or files.is_partial(name)


def save_checkpoint(model, directory, name):
    """Saves `model` as `directory/name` atomically and durably
    (`files.atomic_path`), so a killed save never leaves half a checkpoint."""
    with files.atomic_path(os.path.join(directory, name), overwrite=True, durable=True) as temporary:
        model.save(temporary)


def remove(directory, names):
    """Deletes `names` (files, or the scratch directories of killed writes)
    from `directory`; one already gone is fine."""
    for name in names:
        path = os.path.join(directory, name)
        if os.path.isdir(path) and is_temporary(name):
            shutil.rmtree(path, ignore_errors=True)
            continue
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def select(directory, min_sparsity=None, metric="val_accuracy", mode="max"):
    """Picks one checkpoint of the trail: the best `metric` at a sparsity of at
    least `min_sparsity`.

    The final model of `fit` (the entry with `"final": True`) competes like
    any other checkpoint; its metrics are those of the last epoch. To take
    it whatever its metric, use
    `next(e for e in read_index(directory) if e["final"])`. On a tie in
    `metric` the sparser checkpoint wins.

    Args:
        directory: a directory written by `TrailCheckpoint`.
        min_sparsity: lowest acceptable hard sparsity (fraction), or None.
        metric: a key of the epoch logs recorded with each checkpoint, or
            "sparsity" (with `mode="max"`: the sparsest checkpoint).
        mode: "max" or "min": whether a larger `metric` is better.

    Returns:
        The chosen entry (dict with `path`, `epoch`, `sparsity`, `metrics`,
        `step`, `final`).
        Load it with `keras.saving.load_model(entry["path"])`.

    Example:
    >>> from keras_ltp import trail
    >>> # best = trail.select("runs/trail", min_sparsity=0.9, metric="val_accuracy")
    """
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}.")
    entries = read_index(directory)
    if not entries:
        raise ValueError(f"{directory} holds no trail checkpoint (no {INDEX_NAME}).")
    candidates = [e for e in entries if min_sparsity is None or e["sparsity"] >= min_sparsity]
    if not candidates:
        best = max(e["sparsity"] for e in entries)
        raise ValueError(
            f"No checkpoint in {directory} reaches sparsity {min_sparsity:.2%}; "
            f"the sparsest is {best:.2%}. Lower min_sparsity or train longer."
        )

    def value(entry):
        if metric == "sparsity":
            return entry["sparsity"]
        if metric not in entry["metrics"]:
            known = sorted({k for e in entries for k in e["metrics"]} | {"sparsity"})
            raise ValueError(f"Metric {metric!r} was not recorded in the trail; known: {known}.")
        return entry["metrics"][metric]

    sign = 1 if mode == "max" else -1
    return max(candidates, key=lambda e: (sign * value(e), e["sparsity"]))
