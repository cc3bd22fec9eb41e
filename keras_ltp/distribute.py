"""tf.distribute helpers (TensorFlow only): a workaround for Keras 3's
`fit` under `MultiWorkerMirroredStrategy`."""

__all__ = ["fix_multiworker_reduce"]


def fix_multiworker_reduce(strategy):
    """Works around two Keras 3 bugs with MultiWorkerMirroredStrategy (MWMS).

    Both are in keras/src/backend/tensorflow/trainer.py and break `fit` for
    every Keras model, pruned or not (checked with a plain Dense model on
    Keras 3.15.1 / TF 2.21):

    1. `_maybe_symbolic_build` calls `strategy.reduce("MEAN", (x, y),
       axis=None)` on the whole first batch. MirroredStrategy maps its
       reduction over the structure; MWMS (`CollectiveAllReduceExtended.
       _reduce_to`) does not, and `fit` fails before the first step with
       "Attempt to convert a value (PerReplica:{...}) with an unsupported
       type (...PerReplica) to a Tensor".
    2. In multi-worker mode `reduce_per_replica` reduces the logged metrics,
       scalars, with `strategy.reduce("MEAN", v, axis=0)`, and a scalar has
       no axis 0: "Invalid reduction dimension 0 for input with 0
       dimensions".

    The fix reduces leaf by leaf (what MirroredStrategy does) and averages a
    scalar across replicas (what `axis=0` does for the single-machine
    strategies, which stack the replicas' values first). Upstream:
    keras-team/keras#20585, tensorflow/tensorflow#72388. Call it once, on
    every worker, before `fit`; a second call does nothing.

    Args:
        strategy: a `tf.distribute.Strategy` (its `reduce` is replaced).

    Returns:
        `strategy`.

    Example:
    >>> import tensorflow as tf
    >>> from keras_ltp.distribute import fix_multiworker_reduce
    >>> strategy = fix_multiworker_reduce(tf.distribute.get_strategy())
    >>> float(strategy.reduce("MEAN", (tf.constant(2.0),), axis=None)[0])
    2.0
    """
    import tensorflow as tf

    reduce = strategy.reduce
    if getattr(reduce, "_keras_ltp_fixed", False):
        return strategy

    def one(reduce_op, value, axis):
        if axis is not None:
            # With one device per worker, `value` is a plain tensor here.
            local = strategy.experimental_local_results(value)[0]
            if tf.TensorShape(getattr(local, "shape", None)).rank == 0:
                axis = None
        return reduce(reduce_op, value, axis=axis)

    def reduce_each(reduce_op, value, axis=None):
        return tf.nest.map_structure(lambda v: one(reduce_op, v, axis), value)

    reduce_each._keras_ltp_fixed = True
    strategy.reduce = reduce_each
    return strategy
