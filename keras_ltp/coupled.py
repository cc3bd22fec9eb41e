"""`CoupledChannels`: channel groups whose outputs meet in a residual `Add`,
held as one layer so that one `PrunableWrapper` prunes them together.

In a residual network the stem and the last convolution of every block of a
stage write into the same channels: `x1 = x0 + f1(x0)`, `x2 = x1 + f2(x1)`.
A channel of that stream can only be removed when it is zero in every
producer that writes it, so the producers (each with its batch norms, a
*member*) share one mask: the saliency of channel `c` is the mean of the
members' relative saliencies (Torch-Pruning's group importance),

    s_c = mean_m s_c^(m),   mask_c = sigm((s_c - tau) / T),

and each member's call computes with its own weights times that mask. The
graph calls the one wrapper once per member (`wrapper(x, member=m)`), which
Keras stores and reloads like any shared layer.
"""

import keras

__all__ = ["CoupledChannels"]


@keras.saving.register_keras_serializable(package="keras_ltp")
class CoupledChannels(keras.layers.Layer):
    """Several channel groups that write the same channels; `call(x, member=m)`
    runs member `m`.

    `keras_ltp.prune(model, granularity="channel")` builds these for the
    producers that meet in an `Add` (or another merge); there is rarely a
    reason to build one by hand.

    Args:
        members: built layers (a producer, or a `keras.Sequential` of one and
            its batch norms / depthwise convolutions) with the same number of
            output channels.
        **kwargs: base layer arguments (`name`, ...).

    Example:
    >>> import keras, numpy as np
    >>> a = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    >>> b = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4)])
    >>> both = CoupledChannels([a, b])
    >>> tuple(both(np.ones((2, 5)), member=1).shape)
    (2, 4)
    """

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        members = list(members)
        if len(members) < 2:
            raise ValueError(f"CoupledChannels({self.name!r}) needs at least two members, got {len(members)}.")
        for member in members:
            if not isinstance(member, keras.layers.Layer) or not member.built:
                raise ValueError(
                    f"CoupledChannels({self.name!r}): every member must be a built Keras layer, got {member!r}."
                )
        self.members = members
        self.built = True

    def call(self, inputs, member=0):
        if not isinstance(member, int) or not 0 <= member < len(self.members):
            raise ValueError(
                f"CoupledChannels({self.name!r}): member must be an int in [0, {len(self.members)}), got {member!r}."
            )
        return self.members[member](inputs)

    def compute_output_spec(self, inputs, member=0):
        return self.members[member].compute_output_spec(inputs)

    def get_config(self):
        config = super().get_config()
        config["members"] = [keras.saving.serialize_keras_object(m) for m in self.members]
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["members"] = [keras.saving.deserialize_keras_object(m) for m in config["members"]]
        return cls(**config)
