"""`PrunableWrapper`: learned-threshold pruning around any Keras layer."""

import contextlib
import functools
import inspect
import math
import weakref

import keras
from keras import ops

from keras_ltp import channels, masks
from keras_ltp.copying import build_config_rebuilds, loadable_config
from keras_ltp.coupled import CoupledChannels
from keras_ltp.registry import prunable_weights
from keras_ltp.walk import iter_layers

__all__ = ["PrunableWrapper", "iter_wrappers", "training_masks"]

DEFAULT_TEMPERATURE = 0.7
DEFAULT_THRESHOLD_GAIN = 30.0
DEFAULT_L0_STRENGTH = 20.0
GRANULARITIES = ("weight", "channel")


_TRAINING_MASKS = []  # non-empty inside `training_masks()`


@contextlib.contextmanager
def training_masks():
    """Inside this context, `PrunableWrapper`s called in inference mode mask
    their weights as training does (the soft mask, or the hard one where
    `hard_forward`), and add no L0 term; the other layers still run in
    inference mode (batch-norm moving statistics, no dropout). Comparing a
    loss computed inside it with the same loss outside shows what the hard
    mask changes (`keras_ltp.diagnostics.mask_loss_gap`).

    Read when a call is traced: call the model eagerly (`model(x)`), not
    through an already compiled `predict`.

    Example:
    >>> import keras, numpy as np, keras_ltp
    >>> layer = keras_ltp.PrunableWrapper(keras.layers.Dense(2), initial_threshold=1.0)
    >>> x = np.ones((1, 3))
    >>> hard = keras.ops.convert_to_numpy(layer(x))
    >>> with keras_ltp.wrapper.training_masks():
    ...     soft = keras.ops.convert_to_numpy(layer(x))
    >>> bool(np.allclose(hard, soft))
    False
    """
    _TRAINING_MASKS.append(True)
    try:
        yield
    finally:
        _TRAINING_MASKS.pop()


class _MaskedScope(keras.StatelessScope):
    """Reads the given variables as masked tensors, and nothing else.

    Unlike a bare `StatelessScope`, every variable not in the mapping is read
    from the enclosing scope (so this nests inside JAX's stateless training
    step), and assignments made inside (RNG seeds, RNN states) are handed on
    when the scope exits instead of being dropped.
    """

    def __init__(self, mapping):
        super().__init__(mapping, collect_losses=True, initialize_variables=False)
        self._masked_ids = set(self.state_mapping)
        self._updates = []

    def get_current_value(self, variable):
        value = self.state_mapping.get(id(variable))
        if value is None and self.original_scope is not None:
            return self.original_scope.get_current_value(variable)
        return value

    def add_update(self, update):
        variable, value = update
        if id(variable) in self._masked_ids:
            raise RuntimeError(
                f"Layer code assigned to the pruned weight '{variable.path}' inside "
                "its call(); PrunableWrapper cannot prune a weight the layer rewrites."
            )
        super().add_update(update)
        self._updates.append(update)

    def apply_updates(self):
        for variable, value in self._updates:
            variable.assign(value)


def _check_positive_finite(value, what, layer_name):
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"PrunableWrapper({layer_name!r}): {what} must be a finite number > 0, got {value!r}.")


def _check_strength(value, layer_name):
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"PrunableWrapper({layer_name!r}): l0_strength (lambda) must be a finite "
            f"number >= 0, got {value!r}. Use 0 to train thresholds on the task "
            "loss alone."
        )


def _as_symbolic(x):
    if hasattr(x, "shape") and hasattr(x, "dtype") and len(x.shape) > 0:
        shape = (None,) + tuple(x.shape[1:])
        return keras.KerasTensor(shape, dtype=keras.backend.standardize_dtype(x.dtype))
    return x


class _Ties:
    """A wrapper's links to the wrappers whose layers share weights with its
    layer (`PrunableWrapper.follow`), kept out of Keras' layer tracking: a
    wrapper held in a list or dict attribute would become a sublayer."""

    def __init__(self, pending):
        self.owners = {}  # id(variable) -> the wrapper whose threshold masks it
        # To follow: wrappers (once built), or from a file `{"owner": name,
        # "weights": [indices in prunable_weights(layer)]}` (found by name at
        # the first call, once the model that holds both exists).
        self.pending = list(pending)
        self.followers = []  # the wrappers that follow this one

    def pending_indices(self):
        return {i for entry in self.pending if isinstance(entry, dict) for i in entry["weights"]}


@keras.saving.register_keras_serializable(package="keras_ltp")
class PrunableWrapper(keras.layers.Wrapper):
    """Prunes the weights of `layer` with a learned threshold per weight tensor.

    For each prunable weight `w` (see `keras_ltp.registry`) the wrapper holds a
    trainable threshold `theta` and computes with `w * mask`, where, with
    `tau = theta * mean(w^2)` and `T = temperature * Var(|w|)` (paper eq. 15):

    * training: `mask = sigm((w^2 - tau) / T)`, gradient as in paper eq. 14;
    * inference (`training=False` or unset): `mask = (w^2 > tau)`, the hard
      mask that `keras_ltp.strip` bakes in, so `evaluate()` measures the
      model you will export.

    In training it adds the soft-L0 regularizer with `add_loss`:

        l0_strength * l0_weight * sum_i sum_k sigm(z_ik) / l0_normalizer

    (with channel granularity, `l0_strength * channel_cost * sum_c
    sigm(z_c) / l0_normalizer` over the channels `c`).

    With the defaults set by `keras_ltp.prune` (`l0_weight = 1`,
    `l0_normalizer` = number of prunable weights in the model), this is
    `lambda` times the fraction of weights kept, so `lambda` is the task loss
    you would trade for pruning every weight. With FLOP weighting
    (`prune(..., cost="flops")`) it is `lambda` times the fraction of
    multiply-adds kept.

    The temperature and lambda live in (non-trainable) variables, so callbacks
    can anneal them and they are saved with the model. Mask math runs in
    float32 under any dtype policy.

    Args:
        layer: the `keras.layers.Layer` to prune (built or not).
        initial_threshold: starting `tau / mean(w^2)` (0 prunes nothing).
        temperature: relative temperature `T0 > 0` of paper eq. 15.
        l0_strength: `lambda >= 0`, weight of the soft-L0 regularizer.
        l0_weight: cost per kept weight of this layer (e.g. FLOPs per weight).
        l0_normalizer: divisor of the regularizer; default: this layer's
            number of prunable weights times `l0_weight` (with channel
            granularity: its channels times `own_channel_cost`).
        threshold_gain: `tau = threshold_gain * theta * mean(w^2)`. Adam-type
            optimizers move a variable by about one learning rate per step
            whatever its gradient, so the gain sets how fast thresholds can
            travel across the weight distribution (in units of `mean(w^2)`
            per step: about `threshold_gain * learning_rate`).
        hard_forward: train with the hard mask in the forward pass and the
            soft mask's gradients (straight-through), so layers after this
            one, batch-norm statistics included, see in training what they
            will see in inference. Default (None): on with channel
            granularity (a channel half-on in training would give the next
            batch norm statistics inference never sees), off per weight.
        granularity: `"weight"` (one mask entry per weight) or `"channel"`
            (one per output channel: `layer` is a Dense, Conv, ConvTranspose
            or SeparableConv layer, or a `keras.Sequential` chain of one
            followed by channel-wise layers such as BatchNormalization, or a
            `keras_ltp.CoupledChannels` of such groups that meet in an `Add`;
            or one per head of a MultiHeadAttention; see
            `keras_ltp.channels`). A channel's saliency is its relative mean
            square weight `s_c` (`keras_ltp.masks.channel_saliency`), the mask
            `sigm((s_c - tau) / T)` multiplies every parameter of the channel
            (kernel slice, bias, batch-norm scale and shift), so a pruned
            channel outputs exactly zero and `keras_ltp.shrink` removes it.
            One threshold per wrapper; the L0 term counts `channel_cost`
            per kept channel.
        channel_cost: with channel granularity, the regularizer's cost of
            one kept channel, in the units of `l0_weight` (what removing the
            channel saves). Default (None): `l0_weight` times the group's
            pruned weights per channel; `keras_ltp.prune` adds the input
            slices of the layers that read the channel, each weighted by its
            own cost, since `keras_ltp.shrink` removes those too.
        own_channel_cost: the part of `channel_cost` that no other wrapper
            counts (readers that are wrapped count their weights
            themselves): what the default `l0_normalizer` and
            `cost_per_weight()` count per channel, so that totals count each
            weight once. Default (None): `channel_cost`.
        channel_inputs: with channel granularity, which other
            channel-pruned wrappers write this layer's input channels, so
            `SparsityTarget(measure="cost")` counts the kernel slices their
            removed channels take from it (`keras_ltp.cost_measure`): one
            dict per member (one, or one per group of a `CoupledChannels`),
            `{"kernel_cost": cost of one output channel's kernel slice,
            "width": input channels, "sources": [wrapper names]}`. Set by
            `keras_ltp.prune`; default None (no such inputs).
        min_sparsity, max_sparsity: bounds on the fraction of each pruned
            tensor's weights (with channel granularity: of the channels)
            that the hard mask prunes, `0 <= min_sparsity <= max_sparsity
            <= 1`. The threshold is clamped so the sparsity stays inside
            them in training and inference (`keras_ltp.masks.sparsity_bounds`;
            where scores tie across a bound, the tied ones are kept at
            `max_sparsity` and pruned at `min_sparsity`), and
            `SparsityTarget` steers with them. A bounded layer finds its
            bounds with a few passes over its scores each step (a radix
            selection). Default: no bounds.
        follows: wrappers whose thresholds mask the variables this layer
            shares with theirs, as `follow()` sets (how a saved model
            records it). Default: none.
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).

    A variable that the wrapped layer shares with another wrapper's layer
    (a composite layer that holds a layer used elsewhere in the model) is
    pruned by one of them only: `follow(owner)` makes this wrapper mask it
    with the owner's threshold, so both uses see one mask and the L0 term
    and `sparsity()` count it once (`keras_ltp.prune` sets this up).

    Example:
    >>> import keras, numpy as np, keras_ltp
    >>> layer = keras_ltp.PrunableWrapper(keras.layers.Dense(4), l0_strength=1.0)
    >>> tuple(layer(np.ones((2, 3))).shape)
    (2, 4)
    """

    def __init__(
        self,
        layer,
        initial_threshold=0.0,
        temperature=DEFAULT_TEMPERATURE,
        l0_strength=DEFAULT_L0_STRENGTH,
        l0_weight=1.0,
        l0_normalizer=None,
        threshold_gain=DEFAULT_THRESHOLD_GAIN,
        hard_forward=None,
        granularity="weight",
        channel_cost=None,
        own_channel_cost=None,
        channel_inputs=None,
        min_sparsity=0.0,
        max_sparsity=1.0,
        follows=None,
        **kwargs,
    ):
        if isinstance(layer, PrunableWrapper):
            raise ValueError(
                f"Layer {layer.name!r} is already a PrunableWrapper; wrap the "
                "original layer once (use `layer.layer` to get it back)."
            )
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(f"PrunableWrapper expects a keras.layers.Layer, got {type(layer).__name__}: {layer!r}.")
        name = layer.name
        _check_positive_finite(temperature, "temperature", name)
        _check_strength(l0_strength, name)
        _check_positive_finite(l0_weight, "l0_weight", name)
        _check_positive_finite(threshold_gain, "threshold_gain", name)
        if l0_normalizer is not None:
            _check_positive_finite(l0_normalizer, "l0_normalizer", name)
        for what, value in (("channel_cost", channel_cost), ("own_channel_cost", own_channel_cost)):
            if value is None:
                continue
            _check_positive_finite(value, what, name)
            if granularity != "channel":
                raise ValueError(
                    f"PrunableWrapper({name!r}): {what} applies to granularity='channel' only; "
                    "remove it, or set granularity='channel'."
                )
        channel_inputs = _checked_channel_inputs(channel_inputs, granularity, name)
        _check_bounds(min_sparsity, max_sparsity, name)
        if not isinstance(initial_threshold, (int, float)) or not math.isfinite(initial_threshold):
            raise ValueError(
                f"PrunableWrapper({name!r}): initial_threshold must be a finite number, got {initial_threshold!r}."
            )
        if granularity not in GRANULARITIES:
            raise ValueError(
                f"PrunableWrapper({name!r}): granularity must be one of {GRANULARITIES}, got {granularity!r}."
            )
        if layer.built and not prunable_weights(layer):
            raise ValueError(_nothing_to_prune_message(layer))
        if layer.built and granularity == "channel":
            _check_channel_support(layer)
        kwargs.pop("autocast", None)
        kwargs.setdefault("dtype", layer.dtype_policy)
        kwargs.setdefault("name", f"ltp_{name}")
        # The wrapper reads raw float32 weights; the inner layer autocasts.
        super().__init__(layer, autocast=False, **kwargs)
        self._adopt_call_signature(layer)
        # The shapes and arguments of the first call: a saved wrapper rebuilds
        # its layer by calling it so where the layer's own build config leaves
        # part of it unbuilt (layers built from several inputs).
        self._call_spec = None
        self._replays = None  # whether the file replays the call: decided at the first save
        self.initial_threshold = float(initial_threshold)
        self.initial_temperature = float(temperature)
        self.initial_l0_strength = float(l0_strength)
        self.l0_weight = float(l0_weight)
        self.threshold_gain = float(threshold_gain)
        self.l0_normalizer = None if l0_normalizer is None else float(l0_normalizer)
        if hard_forward is None:
            hard_forward = granularity == "channel"
        if not isinstance(hard_forward, bool):
            raise TypeError(f"PrunableWrapper({name!r}): hard_forward must be True or False, got {hard_forward!r}.")
        self.hard_forward = hard_forward
        self.granularity = granularity
        self.channel_cost = None if channel_cost is None else float(channel_cost)
        self.own_channel_cost = None if own_channel_cost is None else float(own_channel_cost)
        self.channel_inputs = channel_inputs
        self.min_sparsity = float(min_sparsity)
        self.max_sparsity = float(max_sparsity)
        self.supports_masking = layer.supports_masking
        for owner in follows or []:
            if not isinstance(owner, PrunableWrapper) and not (
                isinstance(owner, dict) and set(owner) == {"owner", "weights"}
            ):
                raise TypeError(
                    f"PrunableWrapper({name!r}): follows takes PrunableWrappers (or, from a saved config, "
                    f"{{'owner': name, 'weights': [indices]}}), got {owner!r}."
                )
        self._ties = _Ties(follows or [])
        _LIVE_WRAPPERS.add(self)

    # -- building -----------------------------------------------------------

    def __call__(self, *args, **kwargs):
        spec = None if self._call_spec is not None else _encode_call(args, _without_training(kwargs))
        if not self.layer.built:
            # Let the inner layer build itself from its real call signature
            # (several inputs, keyword inputs), on symbolic copies of the inputs.
            self.layer(
                *keras.tree.map_structure(_as_symbolic, args),
                **keras.tree.map_structure(_as_symbolic, kwargs),
            )
        outputs = super().__call__(*args, **kwargs)
        if spec is not None:  # recorded once the call has worked
            self._call_spec = spec
        return outputs

    def _adopt_call_signature(self, layer):
        """Makes Keras bind this wrapper's call arguments as it binds the
        inner layer's: by name (so a keyword argument that mixes tensors and
        None, as KerasHub blocks take, is accepted as it is by the layer),
        with `training` added where the layer has none. `mask` is left to
        the inner layer (Keras fills it in when the wrapper calls it), so
        that the graph records no `mask` argument for the wrapper that the
        layers replacing it in `strip()` may not take."""
        signature = inspect.signature(layer.call)
        # A `training=True` default (some preprocessing layers have one) would
        # make the wrapper apply soft masks in inference: the wrapper's is None.
        params = [
            p.replace(default=None) if p.name == "training" and p.default not in (None, p.empty) else p
            for p in signature.parameters.values()
            if p.name != "mask"
        ]
        kinds = [p.kind for p in params]
        if "training" not in signature.parameters:
            at = kinds.index(inspect.Parameter.VAR_KEYWORD) if inspect.Parameter.VAR_KEYWORD in kinds else len(params)
            params.insert(at, inspect.Parameter("training", inspect.Parameter.KEYWORD_ONLY, default=None))
        if "mask" in signature.parameters and inspect.Parameter.VAR_KEYWORD not in kinds:
            params.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))  # an explicit mask= goes here
        self._call_signature = signature.replace(parameters=params)
        self.call_signature_parameters = [p.name for p in params]
        self._call_has_training_arg = True
        self._call_has_mask_arg = False
        self._call_has_context_arg = {arg: arg in self.call_signature_parameters for arg in self._call_context_args}

    def build(self, input_shape=None):
        if not self.layer.built:
            if input_shape is None:
                raise ValueError(
                    f"PrunableWrapper({self.layer.name!r}): cannot build the wrapped "
                    "layer without an input shape; call the wrapper on inputs."
                )
            self.layer.build(input_shape)
        self._follow_pending(by_name=False)
        weights = self.pruned_weights
        if not weights and not (self._ties.owners or self._ties.pending):
            raise ValueError(_nothing_to_prune_message(self.layer))
        self._layout = None
        if self.granularity == "channel":
            _check_channel_support(self.layer)
            self._layout = channels.channel_layout(self.layer)
            weights = weights[:1]  # one threshold for the whole channel group
        self.thresholds = [
            self._scalar(f"threshold_{i}", self.initial_threshold / self.threshold_gain, True)
            for i in range(len(weights))
        ]
        self.temperature = self._scalar("temperature", self.initial_temperature, False)
        self.l0_strength = self._scalar("l0_strength", self.initial_l0_strength, False)
        self.built = True

    def _scalar(self, name, value, trainable):
        """A float32 scalar variable that is never autocast."""
        return self.add_weight(
            shape=(),
            name=name,
            initializer=keras.initializers.Constant(value),
            dtype="float32",
            autocast=False,
            trainable=trainable,
        )

    def get_build_config(self):
        # The inner layer is rebuilt by replaying its first call where that
        # is known, else from its own build config; ours only says "built".
        if not self.built:
            return None
        return {"input_shape": None, "call_spec": self._call_spec} if self._replays_call() else {"input_shape": None}

    def _replays_call(self):
        """Whether a saved file rebuilds the inner layer by replaying its first
        call: only where its own build config does not rebuild its weights."""
        if self._replays is None and self._call_spec:
            self._replays = not build_config_rebuilds(self.layer)
        return bool(self._replays)

    def build_from_config(self, config):
        if not config:
            return
        if config.get("call_spec") and not self.layer.built:
            self._call_spec, self._replays = config["call_spec"], True
            args, kwargs = _decode_call(self._call_spec)
            self.layer(*args, **kwargs)
        self.build(config.get("input_shape"))

    # -- the pruning math -----------------------------------------------------

    @property
    def pruned_weights(self):
        """The wrapped layer's variables this wrapper prunes, in threshold
        order (not those it masks with another wrapper's threshold, see
        `follow`)."""
        pending = self._ties.pending_indices()
        return [
            v for i, v in enumerate(prunable_weights(self.layer)) if id(v) not in self._ties.owners and i not in pending
        ]

    def num_prunable(self):
        """Total number of weights (elements) this wrapper prunes."""
        return int(sum(math.prod(w.shape) for w in self.pruned_weights))

    def follow(self, owner):
        """Masks the variables this wrapper's layer shares with `owner`'s
        pruned weights with `owner`'s thresholds instead of its own: one
        threshold and one mask for both uses, counted once (by the owner).

        Call it before this wrapper is built (before its first call).

        Args:
            owner: a `PrunableWrapper` (per-weight granularity) whose layer
                holds some of this wrapper's prunable variables.

        Example:
        >>> import keras, keras_ltp
        >>> class Head(keras.layers.Layer):  # reuses another layer's kernel
        ...     def __init__(self, dense, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.dense = dense
        ...     def call(self, x):
        ...         return keras.ops.matmul(x, keras.ops.transpose(self.dense.kernel))
        >>> dense = keras.layers.Dense(2, use_bias=False)
        >>> dense.build((None, 3))
        >>> owner = keras_ltp.PrunableWrapper(dense)
        >>> follower = keras_ltp.PrunableWrapper(Head(dense))
        >>> follower.follow(owner)
        >>> follower.pruned_weights, len(owner.pruned_weights)
        ([], 1)
        """
        if not isinstance(owner, PrunableWrapper):
            raise TypeError(f"{self.name!r}.follow() expects a PrunableWrapper, got {type(owner).__name__}.")
        if self.built:
            raise ValueError(f"{self.name!r}.follow({owner.name!r}): call follow() before the wrapper is built.")
        if "channel" in (self.granularity, owner.granularity):
            raise ValueError(
                f"{self.name!r} and {owner.name!r} share weights; channels of a shared weight are not pruned "
                "(a channel is removed from one layer's view only). Use granularity='weight' for both."
            )
        self._tie(owner, None)

    def _tie(self, owner, indices):
        """Masks the prunable variables of this layer that `owner` prunes
        (those at `indices` in `prunable_weights(self.layer)`, if given)
        with `owner`'s thresholds."""
        owner._follow_pending()
        owned = {id(v) for v in owner.pruned_weights}
        weights = prunable_weights(self.layer)
        shared = [v for v in weights if id(v) in owned]
        if indices is not None and [id(v) for v in shared] != [id(weights[i]) for i in indices]:
            raise ValueError(
                f"{self.name!r} follows {owner.name!r} for its prunable weights {indices}, but they share "
                f"{[v.path for v in shared]}: the file did not restore the layers they share as one."
            )
        if not shared:
            raise ValueError(f"{self.name!r} shares no prunable weight with {owner.name!r}; nothing to follow.")
        for variable in shared:
            self._ties.owners[id(variable)] = owner
        if self not in owner._ties.followers:
            owner._ties.followers.append(self)

    def _follow_pending(self, by_name=True):
        """Follows the owners given to the constructor now: the wrappers,
        and with `by_name` those a file names (at the first call, when the
        model that holds both exists)."""
        for entry in list(self._ties.pending):
            if isinstance(entry, PrunableWrapper):
                self._ties.pending.remove(entry)
                self.follow(entry)
            elif by_name:
                owner = self._wrapper_named(entry["owner"])
                self._ties.pending.remove(entry)
                self._tie(owner, entry["weights"])

    def _resolve_loaded_ties(self):
        """Resolves now, on both sides, the ties that a loaded wrapper holds
        by name until its first call: a config written before that call (a
        model loaded and saved again) would otherwise not mark the layers
        the two share, and its file would restore them as two."""
        try:
            self._follow_pending()
        except ValueError:
            pass  # no owner of that name here (a wrapper outside its model): the entry is written as it came
        for wrapper in list(_LIVE_WRAPPERS):
            names = {entry["owner"] for entry in wrapper._ties.pending if isinstance(entry, dict)}
            if wrapper is not self and self.name in names and _common_layers(wrapper.layer, self.layer):
                wrapper._follow_pending()

    def _wrapper_named(self, name):
        """The wrapper named `name` whose layer shares a layer with this one's."""
        for wrapper in list(_LIVE_WRAPPERS):
            if wrapper is not self and wrapper.name == name and _common_layers(self.layer, wrapper.layer):
                return wrapper
        raise ValueError(
            f"{self.name!r} follows {name!r}, but no wrapper of that name shares a layer with its layer "
            f"{self.layer.name!r}: the file did not restore the layer they share. Load the model with "
            "keras.saving.load_model, which restores shared layers."
        )

    def _follows_config(self):
        """What this wrapper follows, for its config: `[{"owner": name,
        "weights": [indices in prunable_weights(layer)]}]`."""
        entries = {}
        for i, v in enumerate(prunable_weights(self.layer)):
            owner = self._ties.owners.get(id(v))
            if owner is not None:
                entries.setdefault(owner.name, []).append(i)
        for entry in self._ties.pending:
            if isinstance(entry, dict):
                entries.setdefault(entry["owner"], []).extend(entry["weights"])
        return [{"owner": name, "weights": sorted(indices)} for name, indices in entries.items()]

    def _threshold_of(self, w):
        """The threshold variable of the pruned weight `w`."""
        return next(theta for v, theta in zip(self.pruned_weights, self.thresholds) if v is w)

    def _masked_weight(self, w, theta, training):
        """`(w masked by the threshold theta, its soft-L0 count or None)`:
        the training (soft) or inference (hard) masked value."""
        value = w.value
        relative = self._relative_threshold(theta, self._square(value))
        if training:
            return masks.relative_soft_prune(value, relative, self.temperature, self.hard_forward)
        return masks.masked_weight(value, masks.threshold(value, relative), None, False), None

    @property
    def bounded(self):
        """Whether `min_sparsity` or `max_sparsity` bounds the sparsity."""
        return self.min_sparsity > 0.0 or self.max_sparsity < 1.0

    def _relative_threshold(self, theta, score):
        """`gain * theta`, clamped into the sparsity bounds of `score`
        (`w^2`, or the channel saliencies), in units of its mean."""
        relative = ops.cast(theta, "float32") * self.threshold_gain
        if self.granularity == "channel":
            # A layer keeps its most salient channel: shrink() keeps a width
            # of one anyway, so that channel should compute something (an
            # attention layer with every head pruned kept a dead head).
            relative = ops.minimum(relative, masks.sparsity_bounds(score, 0.0, 1.0 - 1.0 / score.shape[0])[1])
        if not self.bounded:
            return relative
        lo, hi = self._relative_bounds(score)
        return ops.minimum(ops.maximum(relative, lo), hi)

    def _relative_bounds(self, score):
        lo, hi = masks.sparsity_bounds(score, self.min_sparsity, self.max_sparsity)
        if self.granularity == "channel":
            return lo, hi  # saliencies have mean 1: tau = gain * theta
        scale = ops.maximum(ops.mean(ops.stop_gradient(ops.cast(score, "float32"))), 1e-30)
        return lo / scale, hi / scale

    def _square(self, w):
        """`w^2` where the bounds need it, else None (not computed)."""
        return ops.square(ops.cast(w, "float32")) if self.bounded else None

    def effective_thresholds(self):
        """Returns the absolute thresholds, one per pruned weight tensor:
        `tau_i = gain * theta_i * mean(w_i^2)`, or with channel granularity
        the group's `tau = gain * theta` (in units of the mean saliency) for
        every tensor; clamped into the sparsity bounds, if any."""
        if self.granularity == "channel":
            tau = self._relative_threshold(self.thresholds[0].value, self._saliency())
            return [tau for _ in self.pruned_weights]
        return [
            masks.threshold(w.value, self._relative_threshold(theta.value, self._square(w.value)))
            for w, theta in zip(self.pruned_weights, self.thresholds)
        ]

    def threshold_bounds(self):
        """The `(lo, hi)` absolute thresholds (floats) that `min_sparsity`
        and `max_sparsity` clamp each of `effective_thresholds()` into
        (`-inf` / `inf` where one does not bind), or None for an unbounded
        layer."""
        if not self.bounded:
            return None
        bounds = [
            tuple(
                float(ops.convert_to_numpy(b))
                for b in masks.sparsity_bounds(score, self.min_sparsity, self.max_sparsity)
            )
            for score in self._threshold_scores()
        ]
        return bounds * len(self.pruned_weights) if self.granularity == "channel" else bounds

    def _threshold_scores(self):
        """What each threshold is compared with: the channel saliencies (one
        threshold), or `w^2` of each pruned tensor."""
        if self.granularity == "channel":
            return [self._saliency()]
        return [ops.square(ops.cast(w.value, "float32")) for w in self.pruned_weights]

    def scale_thresholds(self, factor):
        """Multiplies each threshold by `factor`, starting from its value
        inside the sparsity bounds (a threshold clamped by a bound first
        moves onto it, so `factor` acts on the threshold in effect).

        Args:
            factor: a float > 0.
        """
        if not self.bounded:
            for theta in self.thresholds:
                theta.assign(float(ops.convert_to_numpy(theta.value)) * factor)
            return
        for theta, score in zip(self.thresholds, self._threshold_scores()):
            relative = float(ops.convert_to_numpy(self._relative_threshold(theta.value, score)))
            theta.assign(relative / self.threshold_gain * factor)

    def scores(self):
        """What each pruned weight is compared with its threshold: one tensor
        per pruned weight, shaped like it, kept where `score > tau`: `w^2`,
        or with channel granularity the channel saliency `s_c` broadcast
        over the channel's weights."""
        if self.granularity != "channel":
            return [ops.square(ops.cast(w.value, "float32")) for w in self.pruned_weights]
        return self._over_pruned_weights(self._saliency())

    def channel_saliency(self):
        """The float32 `(C,)` saliency of each channel, `s_c` with mean 1,
        compared with `effective_thresholds()[0]` (channel granularity only)."""
        if self.granularity != "channel":
            raise ValueError(f"{self.name!r} prunes single weights (granularity='weight'); it has no channel saliency.")
        return self._saliency()

    def channel_mask(self):
        """The float32 0/1 `(C,)` hard mask of the output channels (channel
        granularity only)."""
        if self.granularity != "channel":
            raise ValueError(f"{self.name!r} prunes single weights (granularity='weight'); it has no channel mask.")
        saliency = self._saliency()
        mask, _ = masks.relative_channel_prune(
            saliency, self._relative_threshold(self.thresholds[0].value, saliency), None, training=False
        )
        return mask

    def soft_mask_temperatures(self):
        """The temperature `T` of each pruned weight's soft mask, as training
        uses it: `temperature * Var(|w|)` (paper eq. 15), or with channel
        granularity the channel mask's (`keras_ltp.masks.channel_temperature`)
        for every tensor."""
        if self.granularity == "channel":
            temp = self._channel_temperature()
            return [temp for _ in self.pruned_weights]
        return [masks.temperature(w.value, self.temperature) for w in self.pruned_weights]

    def transition_masks(self, band=0.05):
        """The float32 0/1 masks of the weights whose soft mask is still in
        `(band, 1 - band)` (`keras_ltp.masks.in_transition`), one per pruned
        weight; with channel granularity a channel's weights share its value.

        Args:
            band: in `(0, 0.5)`.
        """
        return [
            masks.in_transition(score, tau, temp, band)
            for score, tau, temp in zip(self.scores(), self.effective_thresholds(), self.soft_mask_temperatures())
        ]

    def hard_masks(self, thresholds=None):
        """Returns the float32 0/1 masks that inference and `strip` apply.

        Args:
            thresholds: optional `effective_thresholds()`, if already computed.
        """
        if self.granularity == "channel":
            return self._over_pruned_weights(self.channel_mask())
        if thresholds is None:
            thresholds = self.effective_thresholds()
        return [masks.hard_mask(w.value, tau) for w, tau in zip(self.pruned_weights, thresholds)]

    def hard_masked_values(self):
        """`{id(variable): masked float32 value}` for every variable the
        masks multiply, as inference computes them (what `strip` bakes in):
        the pruned weights and, with channel granularity, the biases and
        normalization parameters of pruned channels."""
        return {id(v): value for v, value in self._masked_mapping(training=False)[0]}

    def _over_pruned_weights(self, per_channel):
        """A `(C,)` vector broadcast to the shape of each pruned weight along
        its channel axis; where a weight holds channels on several axes (a
        recurrent kernel's columns and rows), the smallest of them (a weight
        stays only while every channel it belongs to stays)."""
        result = []
        for w in self.pruned_weights:
            spread = [
                ops.broadcast_to(masks.broadcast_channels(per_channel, len(w.shape), axis, tiles), w.shape)
                for v, axis, tiles in self._layout.masked
                if v is w
            ]
            result.append(functools.reduce(ops.minimum, spread))
        return result

    def _channel_temperature(self):
        return masks.channel_temperature([v.value for v, _, _ in self._layout.scores], self.temperature)

    def _saliency(self):
        return masks.channel_saliency([(v.value, axis, tiles) for v, axis, tiles in self._layout.scores])

    def _masked_mapping(self, training):
        """`([(variable, masked value)], [soft-L0 term])` for one call."""
        mapping, l0_terms = [], []
        if self.granularity == "channel":
            temp = self._channel_temperature() if training else None
            saliency = self._saliency()
            mask, count = masks.relative_channel_prune(
                saliency, self._relative_threshold(self.thresholds[0], saliency), temp, training, self.hard_forward
            )
            values = {}
            for v, axis, tiles in self._layout.masked:  # a variable may hold channels on several axes
                value = values[id(v)][1] if id(v) in values else ops.cast(v.value, "float32")
                values[id(v)] = (v, value * masks.broadcast_channels(mask, len(v.shape), axis, tiles))
            mapping.extend(values.values())
            if training:
                l0_terms.append(ops.sum(count) * self._cost_per_channel())
            return mapping, l0_terms
        self._follow_pending()
        own = {id(w): theta for w, theta in zip(self.pruned_weights, self.thresholds)}
        for w in prunable_weights(self.layer):
            if id(w) in own:
                pruned, count = self._masked_weight(w, own[id(w)], training)
                if training:
                    l0_terms.append(count * self.l0_weight)
            else:  # masked with its owner's threshold, and counted by it
                owner = self._ties.owners[id(w)]
                pruned, _ = owner._masked_weight(w, owner._threshold_of(w), training)
            mapping.append((w, pruned))
        return mapping, l0_terms

    def cost_per_weight(self):
        """What one pruned weight of this layer counts for in the model's
        total cost: `l0_weight`, or with channel granularity its share of
        its channel's `own_channel_cost` (the layer must be built).
        `SparsityTarget(..., measure="cost")` weighs each weight by it."""
        if self.granularity == "channel":
            return self._own_cost_per_channel() * self._layout.channels / self.num_prunable()
        return self.l0_weight

    def cost_per_channel(self):
        """What one channel counts for in the model's total cost (channel
        granularity; the layer must be built): `own_channel_cost`, or by
        default its weights times `l0_weight`."""
        return self._own_cost_per_channel()

    def _cost_per_channel(self):
        return self.channel_cost or self.l0_weight * self.num_prunable() / self._layout.channels

    def _own_cost_per_channel(self):
        return self.own_channel_cost or self._cost_per_channel()

    def _l0_normalizer(self):
        """The regularizer's divisor: given, or this layer's whole cost."""
        if self.l0_normalizer:
            return self.l0_normalizer
        if self.granularity == "channel":
            return self._own_cost_per_channel() * self._layout.channels
        return self.l0_weight * self.num_prunable()

    def call(self, *args, training=None, **kwargs):
        if self.granularity == "channel" and channels.has_units(self.layer):
            if len(args) > 1 or kwargs.get("initial_state") is not None:
                raise ValueError(
                    f"{self.name!r} prunes the units of {self.layer.name!r}, which is only sound from the zero "
                    "state: a pruned unit given an initial state would not stay zero. Call it without "
                    "initial_state, or prune it with granularity='weight'."
                )
        training = bool(training)
        mapping, l0_terms = self._masked_mapping(training or bool(_TRAINING_MASKS))
        if training and l0_terms:
            # Coupled channel groups call this wrapper once per member and
            # step, with one mask: each call adds its share of the one term.
            calls = len(self.layer.members) if isinstance(self.layer, CoupledChannels) else 1
            scale = ops.cast(self.l0_strength, "float32") / (self._l0_normalizer() * calls)
            self.add_loss(scale * ops.sum(ops.stack(l0_terms)))
        with _MaskedScope(mapping) as scope:
            outputs = self.layer(*args, **kwargs)
        scope.apply_updates()
        for loss in scope.losses:
            self.add_loss(loss)
        return outputs

    def compute_output_spec(self, *args, training=None, **kwargs):
        # Masks change values, not shapes: the inner layer's own spec is the
        # wrapper's. Tracing call() instead would ignore the inner layer's
        # compute_output_shape(), which some layers need (KerasHub blocks fed
        # a KerasTensor that `x * python_scalar` marked sparse).
        if "training" in self.layer.call_signature_parameters and _takes(self.layer.compute_output_spec, "training"):
            kwargs["training"] = training
        return self.layer.compute_output_spec(*args, **kwargs)

    def compute_mask(self, *args, **kwargs):
        return self.layer.compute_mask(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("autocast", None)
        # An inner config that the layer's own from_config rejects would make
        # the saved file unloadable (see keras_ltp.copying.repaired_config).
        config["layer"]["config"] = loadable_config(self.layer, config["layer"]["config"])
        if self._replays_call():
            config["layer"].pop("build_config", None)  # build_from_config() replays the call instead
        # Layers that this wrapper's layer and another's both hold (the other
        # follows this one, or this one the other) are one object in the file:
        # Keras restores objects that carry the same `shared_object_id` as one
        # (it marks them itself only where no copy of a config is made in
        # between, and a Wrapper's config is copied).
        self._resolve_loaded_ties()
        others = self._ties.followers + list({id(o): o for o in self._ties.owners.values()}.values())
        for other in others:
            for shared in _common_layers(self.layer, other.layer):
                if shared is self.layer:
                    config["layer"]["shared_object_id"] = id(shared)
                elif not _mark_shared(config["layer"], shared):
                    raise ValueError(
                        f"Cannot save {self.name!r}: its layer {self.layer.name!r} shares the layer "
                        f"{shared.name!r} with {other.name!r}, but does not write that layer into its config "
                        "(it builds it from its own arguments), so a file would restore two layers that do not "
                        "share their weights. Save the stripped model (keras_ltp.strip: a model whose class has "
                        "its own config, as KerasHub's do, comes back as that class, which rebuilds the sharing), "
                        "or save the weights (model.save_weights) and load them into keras_ltp.prune() of the "
                        "original model."
                    )
        follows = self._follows_config()
        if follows:
            config["follows"] = follows
        config.update(
            {
                "initial_threshold": self.initial_threshold,
                "temperature": self.initial_temperature,
                "l0_strength": self.initial_l0_strength,
                "l0_weight": self.l0_weight,
                "l0_normalizer": self.l0_normalizer,
                "threshold_gain": self.threshold_gain,
                "hard_forward": self.hard_forward,
                "granularity": self.granularity,
                "channel_cost": self.channel_cost,
                "own_channel_cost": self.own_channel_cost,
                "channel_inputs": self.channel_inputs,
                "min_sparsity": self.min_sparsity,
                "max_sparsity": self.max_sparsity,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # keras.layers.Wrapper.from_config pops "layer" from the caller's dict.
        return super().from_config(dict(config), custom_objects=custom_objects)


# Every wrapper alive, for a loaded follower to find its owner.
_LIVE_WRAPPERS = weakref.WeakSet()


def _common_layers(a, b):
    """The outermost layers that `a` and `b` (or what they hold) both are."""
    in_b = {id(layer) for layer in iter_layers(b)}
    common = []
    for layer in iter_layers(a, descend=lambda layer: id(layer) not in in_b):
        if id(layer) in in_b:
            common.append(layer)
    return common


def _without_ids(value):
    """A serialized config without Keras' `shared_object_id` marks."""
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, (list, tuple)):
        return [_without_ids(v) for v in value]
    return value


def _mark_shared(config, layer):
    """Marks each serialized `layer` inside `config` (a serialized layer that
    holds it) with its `shared_object_id`, so that a file restores it as the
    one object the other holder's config (marked alike) restores.

    Returns:
        How many were found (0: `config` does not write `layer` out).
    """
    expected = _without_ids(keras.saving.serialize_keras_object(layer))
    expected.pop("build_config", None)
    found = []

    def visit(value):
        if isinstance(value, dict):
            if value.get("class_name") == expected["class_name"] and value.get("config", {}).get("name") == layer.name:
                candidate = _without_ids(value)
                candidate.pop("build_config", None)
                if candidate == expected:
                    found.append(value)
                    return
            for v in value.values():
                visit(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                visit(v)

    visit(config)
    for value in found:
        value["shared_object_id"] = id(layer)
    return len(found)


def iter_wrappers(model_or_layer):
    """Yields every `PrunableWrapper` in `model_or_layer`, however deeply nested.

    Works for Sequential, Functional and subclassed models (wrappers held as
    attributes, in lists or in nested models), and for a bare wrapper. A shared
    wrapper is yielded once.

    Args:
        model_or_layer: a model or layer.

    Yields:
        `PrunableWrapper` layers, outermost first.

    Example:
    >>> import keras, keras_ltp
    >>> model = keras_ltp.prune(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="fc")]))
    >>> [w.layer.name for w in keras_ltp.iter_wrappers(model)]
    ['fc']
    """
    not_a_wrapper = lambda layer: not isinstance(layer, PrunableWrapper)  # noqa: E731
    for layer in iter_layers(model_or_layer, descend=not_a_wrapper):
        if isinstance(layer, PrunableWrapper):
            yield layer


class _NotEncodable(Exception):
    pass


def _without_training(kwargs):
    return {k: v for k, v in kwargs.items() if k != "training"}


def _encode_call(args, kwargs):
    """`{"args": ..., "kwargs": ...}` of a call, as JSON: tensors as their
    shape (batch free), dtype and sparseness; False where an argument is
    neither a tensor nor a plain value."""
    try:
        return {"args": _encode(list(args)), "kwargs": _encode(dict(kwargs))}
    except _NotEncodable:
        return False


def _encode(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _encode(v) for k, v in value.items()}
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        shape = [None if d is None else int(d) for d in value.shape]
        return {
            "__tensor__": {
                "shape": [None] + shape[1:] if shape else [],
                "dtype": keras.backend.standardize_dtype(value.dtype),
                "sparse": bool(getattr(value, "sparse", False)),
            }
        }
    raise _NotEncodable(type(value).__name__)


def _decode_call(spec):
    return _decode(spec["args"]), _decode(spec["kwargs"])


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            tensor = value["__tensor__"]
            return keras.KerasTensor(tuple(tensor["shape"]), tensor["dtype"], sparse=tensor["sparse"])
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        return {k: _decode(v) for k, v in value.items()}
    return value


def _takes(function, name):
    """Whether `function` takes the keyword argument `name`."""
    params = inspect.signature(function).parameters.values()
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


def _checked_channel_inputs(value, granularity, name):
    if value is None:
        return None
    if granularity != "channel":
        raise ValueError(
            f"PrunableWrapper({name!r}): channel_inputs applies to granularity='channel' only; remove it, "
            "or set granularity='channel'."
        )
    checked = []
    for entry in value if isinstance(value, (list, tuple)) else [value]:
        ok = (
            isinstance(entry, dict)
            and set(entry) == {"kernel_cost", "width", "sources"}
            and isinstance(entry["kernel_cost"], (int, float))
            and entry["kernel_cost"] >= 0
            and isinstance(entry["width"], int)
            and entry["width"] >= 1
            and isinstance(entry["sources"], (list, tuple))
            and all(isinstance(n, str) for n in entry["sources"])
        )
        if not ok:
            raise ValueError(
                f"PrunableWrapper({name!r}): channel_inputs must be a list of dicts "
                "{'kernel_cost': float >= 0, 'width': int >= 1, 'sources': [wrapper names]}, got "
                f"{entry!r}."
            )
        checked.append(
            {"kernel_cost": float(entry["kernel_cost"]), "width": entry["width"], "sources": list(entry["sources"])}
        )
    return checked


def _check_bounds(min_sparsity, max_sparsity, name):
    for what, value in (("min_sparsity", min_sparsity), ("max_sparsity", max_sparsity)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"PrunableWrapper({name!r}): {what} must be a fraction in [0, 1], got {value!r}.")
    if min_sparsity > max_sparsity:
        raise ValueError(
            f"PrunableWrapper({name!r}): min_sparsity ({min_sparsity!r}) is above max_sparsity ({max_sparsity!r}); "
            "swap them, or drop one."
        )


def _check_channel_support(layer):
    reason = channels.unsupported_reason(layer)
    if reason:
        raise ValueError(
            f"PrunableWrapper({layer.name!r}, granularity='channel'): {reason}. Use "
            "granularity='weight' for this layer (keras_ltp.prune(..., granularity='channel') "
            "does so by itself)."
        )


def _nothing_to_prune_message(layer):
    return (
        f"Layer {layer.name!r} ({type(layer).__name__}) has no prunable weights. "
        "Leave it unwrapped (keras_ltp.prune() does this by itself), or declare "
        "its weights with a `prunable_weight_names` class attribute, a "
        "`get_prunable_weights()` method, or keras_ltp.register_prunable()."
    )
