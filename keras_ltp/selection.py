"""Which layers `prune(..., include=..., exclude=...)` prunes, and how far
(`prune(..., sparsity_bounds=...)`).

A *selector* is a layer-name glob (`"block_*_attention*"`, matched with
`fnmatch` case-sensitively against `layer.name`), a layer class (matches its
instances, subclasses included), or a list of them. A layer is pruned when it
matches `include` (default: every layer) and does not match `exclude`.
"""

import fnmatch

import keras

__all__ = ["Selection", "SparsityBounds"]


def _entries(selector, what):
    if selector is None:
        return []
    items = list(selector) if isinstance(selector, (list, tuple, set, frozenset)) else [selector]
    for item in items:
        _check_entry(item, what)
    return items


def _check_entry(item, what):
    if not (isinstance(item, str) or (isinstance(item, type) and issubclass(item, keras.layers.Layer))):
        raise TypeError(
            f"prune({what}=...): each entry must be a layer-name glob (str) or a keras.layers.Layer "
            f"subclass, got {item!r}."
        )


def _check_matches(entry, layers, what):
    if not any(_matches(entry, layer) for layer in layers):
        names = ", ".join(layer.name for layer in layers)
        raise ValueError(f"prune({what}=...): {_label(entry)} matches no layer of the model. Its layers are: {names}.")


def _matches(entry, layer):
    if isinstance(entry, str):
        return fnmatch.fnmatchcase(layer.name, entry)
    return isinstance(layer, entry)


def _label(entry):
    return repr(entry) if isinstance(entry, str) else entry.__name__


class Selection:
    """`include` / `exclude` checked against a model's layers.

    Args:
        include: selector of the layers to prune, or None (all of them).
        exclude: selector of the layers to leave dense, or None.
        layers: the layers the selectors must match (a model's leaf layers).

    Raises:
        ValueError: an entry matches none of `layers`; the message lists
            their names.

    Example:
    >>> import keras
    >>> dense = keras.layers.Dense(2, name="head")
    >>> conv = keras.layers.Conv2D(2, 3, name="stem")
    >>> chosen = Selection(None, ["head"], [dense, conv])
    >>> chosen.reason(dense), chosen.reason(conv)
    ("excluded by 'head'", None)
    """

    def __init__(self, include, exclude, layers):
        self.include = _entries(include, "include")
        self.exclude = _entries(exclude, "exclude")
        layers = list(layers)
        for what, entries in (("include", self.include), ("exclude", self.exclude)):
            for entry in entries:
                _check_matches(entry, layers, what)

    def reason(self, layer):
        """Why `layer` is left dense by the selectors, or None when it is pruned."""
        if self.include and not any(_matches(e, layer) for e in self.include):
            return "not in include"
        for entry in self.exclude:
            if _matches(entry, layer):
                return f"excluded by {_label(entry)}"
        return None


class SparsityBounds:
    """`prune(..., sparsity_bounds=...)`: per-layer `min_sparsity` and
    `max_sparsity` (`keras_ltp.PrunableWrapper`) chosen by selector.

    Args:
        bounds: a dict `{selector: (min_sparsity, max_sparsity)}` with
            `0 <= min <= max <= 1`, a selector being a layer-name glob or a
            layer class; or None. A layer that several selectors match gets
            the intersection of their bounds.
        layers: the layers the selectors must match (a model's leaf layers).

    Raises:
        ValueError: a selector matches none of `layers` (the message lists
            their names), a pair is outside [0, 1] or has min > max, or the
            bounds that match one layer do not intersect.

    Example:
    >>> import keras
    >>> embed = keras.layers.Embedding(10, 4, name="embed")
    >>> head = keras.layers.Dense(2, name="head")
    >>> bounds = SparsityBounds({"embed": (0.0, 0.5), keras.layers.Dense: (0.0, 0.0)}, [embed, head])
    >>> bounds.for_layer(embed), bounds.for_layer(head)
    ({'min_sparsity': 0.0, 'max_sparsity': 0.5}, {'min_sparsity': 0.0, 'max_sparsity': 0.0})
    """

    def __init__(self, bounds, layers):
        if bounds is None:
            bounds = {}
        if not isinstance(bounds, dict):
            raise TypeError(
                "prune(sparsity_bounds=...): expected a dict {layer-name glob or layer class: "
                f"(min_sparsity, max_sparsity)}}, got {type(bounds).__name__}."
            )
        layers = list(layers)
        self.bounds = []
        for entry, pair in bounds.items():
            _check_entry(entry, "sparsity_bounds")
            ok = (
                isinstance(pair, (tuple, list))
                and len(pair) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0 for v in pair)
                and pair[0] <= pair[1]
            )
            if not ok:
                raise ValueError(
                    f"prune(sparsity_bounds=...): {_label(entry)} maps to {pair!r}; expected a pair "
                    "(min_sparsity, max_sparsity) of fractions with 0 <= min <= max <= 1, e.g. (0.0, 0.5)."
                )
            _check_matches(entry, layers, "sparsity_bounds")
            self.bounds.append((entry, float(pair[0]), float(pair[1])))

    def for_layer(self, layer):
        """`{"min_sparsity": ..., "max_sparsity": ...}` for `layer`, or
        None when no selector matches it."""
        matched = [(entry, lo, hi) for entry, lo, hi in self.bounds if _matches(entry, layer)]
        if not matched:
            return None
        lo = max(lo for _, lo, _ in matched)
        hi = min(hi for _, _, hi in matched)
        if lo > hi:
            pairs = ", ".join(f"{_label(e)}: ({a:g}, {b:g})" for e, a, b in matched)
            raise ValueError(
                f"prune(sparsity_bounds=...): the bounds that match {layer.name!r} do not intersect ({pairs}); "
                "make the selectors disjoint or the ranges overlap."
            )
        return {"min_sparsity": lo, "max_sparsity": hi}
