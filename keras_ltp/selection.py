"""Which layers `prune(..., include=..., exclude=...)` prunes.

A *selector* is a layer-name glob (`"block_*_attention*"`, matched with
`fnmatch` case-sensitively against `layer.name`), a layer class (matches its
instances, subclasses included), or a list of them. A layer is pruned when it
matches `include` (default: every layer) and does not match `exclude`.
"""

import fnmatch

import keras

__all__ = ["Selection"]


def _entries(selector, what):
    if selector is None:
        return []
    items = list(selector) if isinstance(selector, (list, tuple, set, frozenset)) else [selector]
    for item in items:
        if not (isinstance(item, str) or (isinstance(item, type) and issubclass(item, keras.layers.Layer))):
            raise TypeError(
                f"prune({what}=...): each entry must be a layer-name glob (str) or a keras.layers.Layer "
                f"subclass, got {item!r}."
            )
    return items


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
                if not any(_matches(entry, layer) for layer in layers):
                    names = ", ".join(layer.name for layer in layers)
                    raise ValueError(
                        f"prune({what}=...): {_label(entry)} matches no layer of the model. Its layers are: {names}."
                    )

    def reason(self, layer):
        """Why `layer` is left dense by the selectors, or None when it is pruned."""
        if self.include and not any(_matches(e, layer) for e in self.include):
            return "not in include"
        for entry in self.exclude:
            if _matches(entry, layer):
                return f"excluded by {_label(entry)}"
        return None
