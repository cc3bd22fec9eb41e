"""Pictures of a pruning run (matplotlib, an optional dependency).

pip install "keras-ltp[plot]"
"""

import csv
import os

from keras_ltp import files
from keras_ltp import trail as trail_lib

__all__ = ["diagnostics", "layer_sparsity", "trail"]


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError("keras_ltp.plot needs matplotlib: pip install matplotlib (or keras-ltp[plot]).") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    with files.atomic_path(path, overwrite=True) as temporary:
        fig.savefig(temporary, dpi=120, bbox_inches="tight", format="png")
    return os.path.abspath(os.fspath(path))


def trail(directory, path, metric="val_accuracy"):
    """Plots `metric` against sparsity along a trail written by `TrailCheckpoint`.

    Points are coloured by epoch (a single epoch is written next to its
    points instead); the final model of `fit` is marked with a star.

    Args:
        directory: the trail directory.
        path: PNG file to write.
        metric: a metric recorded in the trail's index.

    Returns:
        The absolute path of the PNG.

    Example:
    >>> import keras_ltp.plot
    >>> # keras_ltp.plot.trail("runs/trail", "trail.png")
    """
    entries = [e for e in trail_lib.read_index(directory) if metric in e["metrics"]]
    if not entries:
        raise ValueError(f"No checkpoint in {directory} recorded {metric!r}; nothing to plot.")
    entries.sort(key=lambda e: e["epoch"])
    xs = [e["sparsity"] * 100 for e in entries]
    ys = [e["metrics"][metric] for e in entries]
    epochs = [e["epoch"] for e in entries]
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, ys, color="0.7", linewidth=1, zorder=1)  # in training order
    if len(set(epochs)) > 1:
        points = ax.scatter(xs, ys, c=epochs, cmap="viridis", zorder=2)
        colour_bar = fig.colorbar(points, ax=ax, label="epoch")
        colour_bar.locator = MaxNLocator(integer=True)
        colour_bar.update_ticks()
    else:  # a colour bar of one value means nothing
        ax.scatter(xs, ys, zorder=2)
        for x, y, epoch in zip(xs, ys, epochs):
            ax.annotate(f"epoch {epoch}", (x, y), xytext=(6, 6), textcoords="offset points")
    final = [(x, y) for x, y, e in zip(xs, ys, entries) if e["final"]]
    if final:
        ax.scatter(*zip(*final), s=300, marker="*", facecolors="none", edgecolors="crimson", zorder=3, label="final")
        ax.legend(loc="best")
    ax.set_xlabel("sparsity (%)")
    ax.set_ylabel(metric)
    ax.set_title(f"LTP trail: {metric} vs sparsity")
    ax.grid(alpha=0.3)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def _history_dict(history):
    if hasattr(history, "history"):
        return history.history
    if isinstance(history, dict):
        return history
    with open(os.fspath(history)) as f:  # a CSVLogger file
        rows = list(csv.DictReader(f))
    return {key: [float(row[key]) for row in rows] for key in rows[0]} if rows else {}


def layer_sparsity(history, path):
    """Plots per-layer (and overall) sparsity over epochs.

    Args:
        history: a `keras.callbacks.History`, its `.history` dict, or a
            `CSVLogger` file, from a run with `SparsityMonitor(per_layer=True)`.
        path: PNG file to write.

    Returns:
        The absolute path of the PNG.
    """
    logs = _history_dict(history)
    layers = sorted(k for k in logs if k.startswith("sparsity/"))
    if not layers:
        raise ValueError(
            "No per-layer sparsity in this history: train with keras_ltp.callbacks.SparsityMonitor(per_layer=True)."
        )
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in layers:
        ax.plot(range(1, len(logs[key]) + 1), [v * 100 for v in logs[key]], label=key.split("/", 1)[1])
    if "sparsity" in logs:
        ax.plot(range(1, len(logs["sparsity"]) + 1), [v * 100 for v in logs["sparsity"]], "k--", label="overall")
    ax.set_xlabel("epoch")
    ax.set_ylabel("sparsity (%)")
    ax.set_title("Per-layer sparsity learned by LTP")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def diagnostics(history, path):
    """Plots what tells "too fast" from "too far" over epochs: the fraction
    of weights whose soft mask is still undecided (`transition`) beside the
    sparsity, and, where logged, the loss with hard masks against the loss
    with training's masks (`mask_loss_gap`).

    Args:
        history: a `keras.callbacks.History`, its `.history` dict, or a
            `CSVLogger` file, from a run with `SparsityMonitor` (with
            `gap_data` for the second panel).
        path: PNG file to write.

    Returns:
        The absolute path of the PNG.

    Example:
    >>> import keras_ltp.plot
    >>> # keras_ltp.plot.diagnostics(history, "diagnostics.png")
    """
    logs = _history_dict(history)
    if "transition" not in logs:
        raise ValueError(
            "No transition fraction in this history: train with keras_ltp.callbacks.SparsityMonitor() "
            "(transition_band not None)."
        )
    has_gap = "mask_loss_gap" in logs
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2 if has_gap else 1, figsize=(11 if has_gap else 6, 4), squeeze=False)
    epochs = range(1, len(logs["transition"]) + 1)
    ax = axes[0][0]
    ax.plot(epochs, [v * 100 for v in logs["transition"]], "o-", label="weights in transition")
    if "sparsity" in logs:
        ax.plot(epochs, [v * 100 for v in logs["sparsity"]], "k--", label="sparsity")
    ax.set_xlabel("epoch")
    ax.set_ylabel("% of pruned weights")
    ax.set_title("Masks still undecided")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    if has_gap:
        ax = axes[0][1]
        for key, style in (("hard_mask_loss", "o-"), ("soft_mask_loss", "s--")):
            ax.plot(epochs, logs[key], style, label=key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_title("Hard (exported) vs training masks")
        ax.legend(fontsize=8, loc="best")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)
