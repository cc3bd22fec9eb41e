"""`round_channels()`: channel-pruned widths moved onto multiples of a tile.

Dense kernels compute output channels in tiles (XNNPack's float GEMM: 8
channels on most ARM64 cores, 16 on x86 with FMA3), so a layer that keeps
17 channels can cost as much as one that keeps 32
(`benchmarks/width_latency.py` measured it). Rounding moves each
channel-pruned layer's threshold so that it keeps a multiple of the tile:
the channels that go (or come back) are the ones nearest the threshold, by
the saliency the layer prunes by.
"""

import math
import warnings

import keras
import numpy as np

from keras_ltp import channels
from keras_ltp.wrapper import iter_wrappers

__all__ = ["MODES", "round_channels"]

MODES = ("down", "up", "nearest")


def round_channels(model, multiple=8, mode="down"):
    """Moves the thresholds of a channel-pruned model so that each layer
    keeps a multiple of `multiple` channels (in place).

    Call it after the last `fit` of the pruned model and before `shrink()`;
    then fine-tune the shrunk model (channels removed by rounding down
    change the output until then). With `k` channels kept of `C`:

        down:     m * floor(k / m), or k where that is 0 (one tile already)
        up:       min(m * ceil(k / m), C)
        nearest:  the closer of the two, down on a tie (k itself where
                  either is k)

    A layer pruned by attention head keeps its heads (a head is already a
    block of `head_dim` channels), and a layer already at a multiple keeps
    its learned threshold, as does one where channels of equal saliency
    straddle the rounded width (no threshold separates them; a warning
    says so). Save the model first to keep the learned thresholds of the
    others.

    Args:
        model: a model pruned with `keras_ltp.prune(..., granularity="channel")`.
        multiple: the tile, an int >= 1: 8 for ARM64 phones (XNNPack's
            NEON kernels), 16 for x86 with AVX2 or AVX-512 (measured here).
        mode: `"down"` (never slower), `"up"` (more accurate, wider) or
            `"nearest"`.

    Returns:
        A list with one dict per channel-pruned layer: `layer` (the
        wrapper's name), `channels`, `kept_before`, `kept_after`, and
        `note` (why it was not rounded, or None).

    Example:
    >>> import keras, numpy as np, keras_ltp
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(20, name="a"), keras.layers.Dense(2)])
    >>> pruned = keras_ltp.prune(model, granularity="channel", initial_threshold=0.5)
    >>> [row["kept_after"] % 8 for row in keras_ltp.round_channels(pruned, multiple=8)]
    [0]
    """
    multiple, mode = _checked(multiple, mode)
    wrappers = [w for w in iter_wrappers(model) if w.granularity == "channel"]
    if not wrappers:
        raise ValueError(
            f"round_channels({getattr(model, 'name', model)!r}): no layer is pruned by channel. "
            "Prune with keras_ltp.prune(model, granularity='channel') first."
        )
    rows = []
    for wrapper in wrappers:
        if not wrapper.built:
            raise ValueError(
                f"round_channels: {wrapper.name!r} is not built; call the model on data (or fit it) first."
            )
        rows.append(_round(wrapper, multiple, mode))
    return rows


def _checked(multiple, mode):
    if isinstance(multiple, bool) or not isinstance(multiple, (int, np.integer)) or multiple < 1:
        raise ValueError(
            f"round_channels: multiple must be an int >= 1 (the kernels' tile: 8 on ARM64, 16 on x86), "
            f"got {multiple!r}."
        )
    if mode not in MODES:
        raise ValueError(f"round_channels: mode must be one of {MODES}, got {mode!r}.")
    return int(multiple), mode


def rounded_width(kept, width, multiple, mode):
    """The width `round_channels` gives a layer that keeps `kept` of
    `width` channels (see there for the rule).

    Example:
    >>> [rounded_width(k, 64, 8, "down") for k in (5, 17, 24)]
    [5, 16, 24]
    >>> [rounded_width(k, 20, 8, mode) for k, mode in ((17, "up"), (12, "nearest"), (13, "nearest"))]
    [20, 8, 16]
    """
    if kept == 0:
        return 0
    down = multiple * (kept // multiple) or kept
    up = min(multiple * math.ceil(kept / multiple), width)
    if mode == "down":
        return down
    if mode == "up":
        return up
    if down == kept or up == kept:
        return kept
    return up if up - kept < kept - down else down


def _round(wrapper, multiple, mode):
    saliency = np.asarray(keras.ops.convert_to_numpy(wrapper.channel_saliency()), dtype="float64")
    width = saliency.size
    kept = int(np.sum(keras.ops.convert_to_numpy(wrapper.channel_mask())))
    row = {"layer": wrapper.name, "channels": width, "kept_before": kept, "kept_after": kept, "note": None}
    if any(channels.is_attention(layer) for layer in channels.producers(wrapper.layer)):
        row["note"] = "attention heads are not rounded"
        return row
    target = rounded_width(kept, width, multiple, mode)
    if target == kept:
        return row
    ranked = np.sort(saliency)[::-1]
    # The threshold halfway between the last channel kept and the first
    # pruned; below every saliency where all are kept (saliencies are >= 0).
    relative = -1.0 if target == width else 0.5 * (ranked[target - 1] + ranked[target])
    learned = wrapper.thresholds[0].numpy()
    wrapper.thresholds[0].assign(relative / wrapper.threshold_gain)
    row["kept_after"] = int(np.sum(keras.ops.convert_to_numpy(wrapper.channel_mask())))
    if row["kept_after"] != target:
        if wrapper.bounded:
            why = "its min_sparsity/max_sparsity bounds"
        else:  # no threshold separates them: keep what LTP learned rather than cut every tied channel
            why = "channels with equal saliency at the boundary"
            wrapper.thresholds[0].assign(learned)
            row["kept_after"] = kept
        row["note"] = f"kept {row['kept_after']}, not {target}: {why}"
        warnings.warn(
            f"round_channels: {wrapper.name!r} keeps {row['kept_after']} of {width} channels, not {target}, "
            f"because of {why}.",
            UserWarning,
            stacklevel=3,
        )
    return row
