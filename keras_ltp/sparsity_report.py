"""Counting kept weights: `sparsity()` of a pruned model, `weight_sparsity()`
of any model, and the table both print as."""

import math

import keras
import numpy as np

from keras_ltp.registry import prunable_weights
from keras_ltp.walk import iter_layers, own_variables
from keras_ltp.wrapper import iter_wrappers

__all__ = ["SparsityReport", "sparsity", "weight_sparsity"]


class SparsityReport(dict):
    """The result of `keras_ltp.sparsity` and `keras_ltp.weight_sparsity`: a
    plain dict that prints as a table."""

    def __str__(self):
        bounded = any("bounds" in entry for entry in self["weights"])
        rows = [("weight", "kept", "total", "sparsity", "threshold") + (("bounds",) if bounded else ())]
        for entry in self["weights"]:
            threshold = entry.get("threshold")
            rows.append(
                (
                    entry["weight"],
                    str(entry["kept"]),
                    str(entry["total"]),
                    f"{entry['sparsity']:.2%}",
                    "-" if threshold is None else f"{threshold:.3g}",
                )
                + ((_bounds_cell(entry.get("bounds")),) if bounded else ())
            )
        rows.append(
            ("overall", str(self["kept"]), str(self["total"]), f"{self['sparsity']:.2%}", f"{self['compression']:.1f}x")
            + (("",) if bounded else ())
        )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            for row in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        lines += [f"left dense: {name} ({why})" for name, why in self.get("skipped", {}).items()]
        return "\n".join(lines)

    @classmethod
    def from_entries(cls, entries):
        """Totals per layer and overall from per-tensor entries (dicts with
        `layer`, `weight`, `kept`, `total`, optionally `threshold`)."""
        report = cls(kept=0, total=0, layers={}, weights=[])
        for entry in entries:
            entry = {
                **{k: entry[k] for k in ("layer", "weight", "kept", "total")},
                "sparsity": 1.0 - entry["kept"] / entry["total"],
                **{k: v for k, v in entry.items() if k not in ("layer", "weight", "kept", "total")},
            }
            report["weights"].append(entry)
            layer = report["layers"].setdefault(entry["layer"], {"kept": 0, "total": 0})
            if "bounds" in entry:
                layer["bounds"] = entry["bounds"]
            layer["kept"] += entry["kept"]
            layer["total"] += entry["total"]
            report["kept"] += entry["kept"]
            report["total"] += entry["total"]
        for layer in report["layers"].values():
            layer["sparsity"] = 1.0 - layer["kept"] / layer["total"]
        report["sparsity"] = 1.0 - report["kept"] / report["total"]
        report["compression"] = report["total"] / max(report["kept"], 1)
        return report


def sparsity(model_or_layer):
    """Hard sparsity of every pruned weight tensor and of the whole model.

    Counts what inference and `strip` use: a weight is kept iff `w^2 > tau`.
    Only the weights under a `PrunableWrapper` count; for a plain (e.g.
    stripped) model use `weight_sparsity`.

    Args:
        model_or_layer: a model or wrapper containing `PrunableWrapper`s.

    Returns:
        A `SparsityReport` (a dict; `print()` shows a table) with keys
        `kept`, `total`, `sparsity` (= 1 - kept / total), `compression`
        (= total / kept), `layers` (per wrapper: `kept`, `total`, `sparsity`,
        and `bounds` = `(min_sparsity, max_sparsity)` where the wrapper has
        them), `weights` (a list, per weight tensor: `layer`, `weight`,
        `kept`, `total`, `sparsity`, `threshold` = tau, `bounds`) and, for a
        model from `keras_ltp.prune`, `skipped` (its `ltp_skipped`: each
        layer with prunable weights left dense, and why).

    Example:
    >>> import keras, keras_ltp
    >>> layer = keras_ltp.prune(keras.layers.Dense(2))
    >>> layer.build((None, 3))
    >>> keras_ltp.sparsity(layer)["sparsity"]
    0.0
    """
    wrappers = list(iter_wrappers(model_or_layer))
    if not wrappers:
        raise ValueError(
            f"{getattr(model_or_layer, 'name', model_or_layer)!r} contains no "
            "PrunableWrapper; prune it first with keras_ltp.prune(), or count the "
            "zeros of a plain model with keras_ltp.weight_sparsity()."
        )
    entries = []
    for wrapper in wrappers:
        _check_built(wrapper)
        taus = wrapper.effective_thresholds()
        bounds = {"bounds": (wrapper.min_sparsity, wrapper.max_sparsity)} if wrapper.bounded else {}
        for w, tau, mask in zip(wrapper.pruned_weights, taus, wrapper.hard_masks(taus)):
            entries.append(
                {
                    "layer": wrapper.name,
                    "weight": w.path,
                    "kept": int(keras.ops.convert_to_numpy(keras.ops.sum(mask))),
                    "total": int(math.prod(w.shape)),
                    "threshold": float(keras.ops.convert_to_numpy(tau)),
                    **bounds,
                }
            )
    report = SparsityReport.from_entries(entries)
    skipped = getattr(model_or_layer, "ltp_skipped", None)
    if skipped:
        report["skipped"] = dict(skipped)
    return report


def _bounds_cell(bounds):
    """`"10%-50%"` for `(0.1, 0.5)`; `"-"` for an unbounded layer."""
    if bounds is None:
        return "-"
    return f"{bounds[0] * 100:g}%-{bounds[1] * 100:g}%"


def weight_sparsity(model_or_layer):
    """Fraction of the prunable weights that are zero as inference computes
    them, in any model: plain, stripped, pruned, or partly pruned.

    Counts every weight `keras_ltp.registry` calls prunable (kernels,
    embeddings, ...; biases and normalization parameters are never counted).
    Under a `PrunableWrapper` a weight counts as zero when its hard mask
    removes it or it is exactly zero, so a pruned model and its `strip()`
    give the same figures. Layers that `prune()` left dense count too.

    Args:
        model_or_layer: a built model or layer.

    Returns:
        A `SparsityReport` like `sparsity()`'s, without thresholds: `kept`
        counts the nonzero weights; `layers` is keyed by the layer (or
        wrapper) that owns each weight.

    Example:
    >>> import keras, numpy as np, keras_ltp
    >>> dense = keras.layers.Dense(2, use_bias=False)
    >>> dense.build((None, 2))
    >>> dense.set_weights([np.array([[0.0, 1.0], [0.0, 2.0]])])
    >>> keras_ltp.weight_sparsity(dense)["sparsity"]
    0.5
    """
    if not isinstance(model_or_layer, keras.layers.Layer):
        raise TypeError(f"weight_sparsity() expects a keras.Model or layer, got {type(model_or_layer).__name__}.")
    owners, inference = {}, {}
    for layer in iter_layers(model_or_layer):
        for variable in own_variables(layer):
            owners.setdefault(id(variable), layer.name)
    for wrapper in iter_wrappers(model_or_layer):
        _check_built(wrapper)
        for w, mask in zip(wrapper.pruned_weights, wrapper.hard_masks()):
            owners[id(w)] = wrapper.name
            inference[id(w)] = keras.ops.convert_to_numpy(w.value) * keras.ops.convert_to_numpy(mask)
    weights = prunable_weights(model_or_layer) if model_or_layer.built else []
    if not weights:
        raise ValueError(
            f"{model_or_layer.name!r} has no built layer with prunable weights; "
            "build the model (call it on data) first."
        )
    entries = []
    for w in weights:
        value = inference.get(id(w))
        if value is None:
            value = keras.ops.convert_to_numpy(w.value)
        entries.append(
            {
                "layer": owners.get(id(w), model_or_layer.name),
                "weight": w.path,
                "kept": int(np.count_nonzero(value)),
                "total": int(value.size),
            }
        )
    return SparsityReport.from_entries(entries)


def _check_built(wrapper):
    if not wrapper.built:
        raise ValueError(
            f"PrunableWrapper {wrapper.name!r} is not built yet; call the model "
            "on data (or build it) before asking for its sparsity."
        )
