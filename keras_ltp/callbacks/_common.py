"""What the callbacks share: finding the wrappers they manage."""

from keras_ltp.wrapper import iter_wrappers


def wrappers_of(model, owner):
    wrappers = list(iter_wrappers(model))
    if not wrappers:
        raise ValueError(
            f"{owner}: the model {model.name!r} contains no PrunableWrapper. "
            "Prune it with keras_ltp.prune() (or wrap its layers) before fit()."
        )
    return wrappers
