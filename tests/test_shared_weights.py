"""Two different layers that share a weight (a composite layer holding a layer
used elsewhere in the model, as KerasHub's Gemma3n and SAM3 do): one
threshold and one mask for both uses, counted once, checked against numpy."""

import keras
import numpy as np
import pytest
from conftest import gradients
from keras import ops

import keras_ltp
from keras_ltp.copying import LayerCopyError
from tests.helpers import scalar

D, V, N = 6, 10, 4


@keras.saving.register_keras_serializable(package="test_shared_weights")
class TransposedHead(keras.layers.Layer):
    """`x @ dense.kernel^T`: reuses the kernel of a Dense used elsewhere."""

    def __init__(self, dense, features, **kwargs):
        super().__init__(**kwargs)
        self.dense = dense if isinstance(dense, keras.layers.Layer) else keras.saving.deserialize_keras_object(dense)
        self.features = features

    def build(self, input_shape):
        if not self.dense.built:
            self.dense.build((None, self.features))

    def call(self, x):
        return ops.matmul(x, ops.transpose(self.dense.kernel))

    def get_config(self):
        return {
            **super().get_config(),
            "dense": keras.saving.serialize_keras_object(self.dense),
            "features": self.features,
        }


def _layers():
    proj = keras.layers.Dense(V, use_bias=False, name="proj")
    return proj, TransposedHead(proj, D, name="head")


def functional(seed=0, head_first=False):
    """x -> proj (D -> V) -> head (V -> D, with proj's kernel transposed), or
    with `head_first` x -> head (V -> D) -> proj (D -> V)."""
    keras.utils.set_random_seed(seed)
    proj, head = _layers()
    if head_first:
        proj.build((None, D))
        inputs = keras.Input((V,))
        return keras.Model(inputs, proj(head(inputs)), name="tied")
    inputs = keras.Input((D,))
    return keras.Model(inputs, head(proj(inputs)), name="tied")


@keras.saving.register_keras_serializable(package="test_shared_weights")
class TiedModel(keras.Model):
    """The same graph as a model class with a config of its own (as a KerasHub
    backbone is): it rebuilds the sharing from its config."""

    def __init__(self, **kwargs):
        proj, head = _layers()
        inputs = keras.Input((D,))
        super().__init__(inputs, head(proj(inputs)), **kwargs)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable}


def _x(seed=1):
    return np.random.default_rng(seed).normal(size=(N, D)).astype("float32")


def _set_threshold(pruned, theta):
    (owner,) = [w for w in keras_ltp.iter_wrappers(pruned) if w.pruned_weights]
    owner.thresholds[0].assign(theta)
    return owner


def _numpy_masked(kernel, theta, gain, t0=None):
    """The hard mask `w^2 > tau`, or with `t0` the soft mask, applied to `kernel` (float64)."""
    w = kernel.astype("float64")
    tau = gain * theta * np.mean(w**2)
    if t0 is None:
        return w * (w**2 > tau)
    temp = t0 * (np.mean(w**2) - np.mean(np.abs(w)) ** 2)
    return w / (1.0 + np.exp(-(w**2 - tau) / temp))


def test_one_wrapper_prunes_the_shared_weight_and_the_other_follows_it():
    model = functional()
    pruned = keras_ltp.prune(model, in_place=True)
    owner, follower = pruned.get_layer("ltp_proj"), pruned.get_layer("ltp_head")
    assert [v.path for v in owner.pruned_weights] == ["proj/kernel"]
    assert follower.pruned_weights == [] and follower.thresholds == []
    # Counted once: the regularizer's normalizer and sparsity() see D * V weights.
    assert owner.l0_normalizer == follower.l0_normalizer == D * V
    assert keras_ltp.sparsity(pruned)["total"] == D * V


def test_inference_masks_both_uses_with_the_owners_threshold():
    model = functional()
    kernel = ops.convert_to_numpy(model.get_layer("proj").kernel.value)
    pruned = keras_ltp.prune(model, in_place=True)
    owner = _set_threshold(pruned, 0.03)
    masked = _numpy_masked(kernel, 0.03, owner.threshold_gain)
    assert 0.2 < np.mean(masked == 0) < 0.8  # the threshold prunes some, not all
    x = _x()
    expected = (x @ masked) @ masked.T
    np.testing.assert_allclose(ops.convert_to_numpy(pruned(x)), expected, rtol=1e-5, atol=1e-5)
    assert keras_ltp.sparsity(pruned)["sparsity"] == pytest.approx(np.mean(masked == 0))


def test_an_owner_given_to_the_constructor_is_followed_when_the_follower_builds():
    # PrunableWrapper(layer, follows=[owner]) does what follower.follow(owner) does.
    keras.utils.set_random_seed(0)
    proj, head = _layers()
    owner = keras_ltp.PrunableWrapper(proj)
    follower = keras_ltp.PrunableWrapper(head, follows=[owner])
    inputs = keras.Input((D,))
    model = keras.Model(inputs, follower(owner(inputs)))
    assert follower.pruned_weights == [] and follower.thresholds == []
    owner.thresholds[0].assign(0.03)
    masked = _numpy_masked(ops.convert_to_numpy(proj.kernel.value), 0.03, owner.threshold_gain)
    x = _x()
    np.testing.assert_allclose(ops.convert_to_numpy(model(x)), (x @ masked) @ masked.T, rtol=1e-5, atol=1e-5)


def test_training_soft_masks_both_uses_alike_and_the_threshold_gets_both_gradients():
    model = functional()
    kernel = ops.convert_to_numpy(model.get_layer("proj").kernel.value).astype("float64")
    pruned = keras_ltp.prune(model, in_place=True, l0_strength=0.0)
    owner = _set_threshold(pruned, 0.03)
    gain, t0 = owner.threshold_gain, scalar(owner.temperature)
    x = _x()
    soft = _numpy_masked(kernel, 0.03, gain, t0)
    np.testing.assert_allclose(
        ops.convert_to_numpy(pruned(x, training=True)), (x @ soft) @ soft.T, rtol=1e-4, atol=1e-5
    )
    # d sum(x M M^T) / d theta, with dM/dtau = -(w / T) sigm'(z) (paper eq. 14)
    # and dtau/dtheta = gain * mean(w^2): both uses of M contribute.
    (grad,) = gradients(lambda: ops.sum(pruned(x, training=True)), [owner.thresholds[0]])
    a, b = x.sum(axis=0), np.ones(D)
    d_loss_d_m = np.outer(a, soft.T @ b) + np.outer(b, soft.T @ a)
    w2 = kernel**2
    tau = gain * 0.03 * np.mean(w2)
    temp = t0 * (np.mean(w2) - np.mean(np.abs(kernel)) ** 2)
    sig = 1.0 / (1.0 + np.exp(-(w2 - tau) / temp))
    d_m_d_tau = -(kernel / temp) * sig * (1.0 - sig)
    expected = np.sum(d_loss_d_m * d_m_d_tau) * gain * np.mean(w2)
    np.testing.assert_allclose(float(grad), expected, rtol=1e-3)


def test_the_l0_term_counts_the_shared_weight_once():
    model = functional()
    kernel = ops.convert_to_numpy(model.get_layer("proj").kernel.value).astype("float64")
    pruned = keras_ltp.prune(model, in_place=True, l0_strength=2.0)
    owner = _set_threshold(pruned, 0.03)
    pruned(_x(), training=True)
    w2 = kernel**2
    temp = scalar(owner.temperature) * (np.mean(w2) - np.mean(np.abs(kernel)) ** 2)
    count = np.sum(1.0 / (1.0 + np.exp(-(w2 - owner.threshold_gain * 0.03 * np.mean(w2)) / temp)))
    total = sum(float(ops.convert_to_numpy(loss)) for loss in pruned.losses)
    np.testing.assert_allclose(total, 2.0 * count / (D * V), rtol=1e-4)


def test_strip_bakes_the_owners_mask_into_both_uses():
    model = functional()
    pruned = keras_ltp.prune(model, in_place=True)
    _set_threshold(pruned, 0.03)
    x = _x()
    stripped = keras_ltp.strip(pruned)
    assert not list(keras_ltp.iter_wrappers(stripped))
    np.testing.assert_allclose(ops.convert_to_numpy(stripped(x)), ops.convert_to_numpy(pruned(x)), atol=1e-6)


def test_a_plain_functional_model_that_cannot_rebuild_the_sharing_asks_for_in_place():
    with pytest.raises(
        LayerCopyError,
        match=r"'proj'.*shares variables with 'head'.*in_place=True.*without the variables its layers share",
    ):
        keras_ltp.prune(functional())


def test_leaving_one_holder_dense_is_refused_with_both_names():
    with pytest.raises(ValueError, match=r"'proj', 'head' share the weight 'proj/kernel'.*'head' would leave it dense"):
        keras_ltp.prune(functional(), in_place=True, exclude=["head"])


def test_channel_pruning_a_shared_weight_is_refused():
    with pytest.raises(ValueError, match="share the weight 'proj/kernel'; its channels cannot be removed"):
        keras_ltp.prune(functional(), in_place=True, layer_options=lambda layer: {"granularity": "channel"})


def test_a_model_class_with_its_own_config_is_copied_with_the_sharing_and_strips_to_its_class():
    keras.utils.set_random_seed(0)
    model = TiedModel(name="tied_model")
    x = _x()
    pruned = keras_ltp.prune(model)  # a copy, through the model's own config
    assert not {id(v) for v in model.weights} & {id(v) for v in pruned.weights}
    inner = pruned.get_layer("ltp_head").layer
    assert inner.dense is pruned.get_layer("ltp_proj").layer  # the copy shares as the original does
    owner = _set_threshold(pruned, 0.03)
    kernel = ops.convert_to_numpy(owner.layer.kernel.value)
    masked = _numpy_masked(kernel, 0.03, owner.threshold_gain)
    np.testing.assert_allclose(ops.convert_to_numpy(pruned(x)), (x @ masked) @ masked.T, rtol=1e-5, atol=1e-5)
    stripped = keras_ltp.strip(pruned)
    assert isinstance(stripped, TiedModel)
    assert stripped.get_layer("head").dense is stripped.get_layer("proj")
    np.testing.assert_allclose(ops.convert_to_numpy(stripped(x)), ops.convert_to_numpy(pruned(x)), atol=1e-6)


@pytest.mark.parametrize("head_first", [False, True], ids=["owner-first", "follower-first"])
def test_a_saved_pruned_model_reloads_with_the_sharing_and_one_threshold(tmp_path, head_first):
    pruned = keras_ltp.prune(functional(head_first=head_first), in_place=True)
    _set_threshold(pruned, 0.03)
    x = np.random.default_rng(1).normal(size=(N, V if head_first else D)).astype("float32")
    path = tmp_path / "tied.keras"
    pruned.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    # Saved again before its first call (when a loaded wrapper finds its
    # owner by name): the new file must restore the sharing too.
    loaded.save(tmp_path / "again.keras")
    again = keras.saving.load_model(tmp_path / "again.keras", safe_mode=True)
    for model in (loaded, again):
        owner, follower = model.get_layer("ltp_proj"), model.get_layer("ltp_head")
        assert follower.layer.dense is owner.layer
        assert follower.pruned_weights == [] and len(owner.thresholds) == 1
        assert scalar(owner.thresholds[0]) == pytest.approx(0.03)
        np.testing.assert_allclose(ops.convert_to_numpy(model(x)), ops.convert_to_numpy(pruned(x)), atol=1e-6)
        assert keras_ltp.sparsity(model)["total"] == D * V


@keras.saving.register_keras_serializable(package="test_shared_weights")
class BuildsItsDense(keras.layers.Layer):
    """`2 * dense(x)` with a Dense it makes itself from `units` (not written
    into its config), which the model also calls on its own."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units, use_bias=False, name="inner")

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, x):
        return 2.0 * self.dense(x)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def builds_its_dense(seed=0):
    keras.utils.set_random_seed(seed)
    outer = BuildsItsDense(V, name="outer")
    inputs = keras.Input((D,))
    doubled = outer(inputs)
    return keras.Model(inputs, keras.layers.Add()([doubled, outer.dense(inputs)]), name="builds")


def test_a_file_that_could_not_restore_the_sharing_is_refused_and_the_weights_route_works(tmp_path):
    pruned = keras_ltp.prune(builds_its_dense(), in_place=True)
    owner = _set_threshold(pruned, 0.03)
    assert owner.layer.name == "inner"  # the shared layer itself prunes its kernel
    with pytest.raises(ValueError, match=r"'outer' shares the layer 'inner'.*does not write that layer.*save_weights"):
        pruned.save(tmp_path / "builds.keras")
    # What the message offers: the weights, loaded into prune() of the original model.
    pruned.save_weights(tmp_path / "builds.weights.h5")
    again = keras_ltp.prune(builds_its_dense(seed=5), in_place=True)
    again.load_weights(tmp_path / "builds.weights.h5")
    x = _x()
    np.testing.assert_allclose(ops.convert_to_numpy(again(x)), ops.convert_to_numpy(pruned(x)), atol=1e-6)
    kernel = ops.convert_to_numpy(owner.layer.kernel.value)
    masked = _numpy_masked(kernel, 0.03, owner.threshold_gain)
    np.testing.assert_allclose(ops.convert_to_numpy(pruned(x)), 3.0 * x @ masked, rtol=1e-5, atol=1e-5)


def test_follow_refuses_a_channel_pruned_wrapper_on_either_side():
    dense = keras.layers.Dense(2, use_bias=False)
    dense.build((None, 3))
    for own, other in (("channel", "weight"), ("weight", "channel")):
        owner = keras_ltp.PrunableWrapper(dense, granularity=other)
        follower = keras_ltp.PrunableWrapper(keras.layers.Dense(2), granularity=own)
        with pytest.raises(ValueError, match="channels of a shared weight are not pruned.*granularity='weight'"):
            follower.follow(owner)


@keras.saving.register_keras_serializable(package="test_shared_weights")
class SumOfTransposed(keras.layers.Layer):
    """`x @ sum_i dense_i.kernel^T` over Dense layers used elsewhere, which
    its config writes as a list."""

    def __init__(self, denses, **kwargs):
        super().__init__(**kwargs)
        self.denses = [
            d if isinstance(d, keras.layers.Layer) else keras.saving.deserialize_keras_object(d) for d in denses
        ]

    def call(self, x):
        return ops.matmul(x, ops.transpose(sum(d.kernel for d in self.denses)))

    def get_config(self):
        return {**super().get_config(), "denses": [keras.saving.serialize_keras_object(d) for d in self.denses]}


def _two_owners(seed=0):
    keras.utils.set_random_seed(seed)
    a, b = (keras.layers.Dense(V, use_bias=False, name=name) for name in ("proj_a", "proj_b"))
    inputs = keras.Input((D,))
    h = keras.layers.Add()([a(inputs), b(inputs)])
    return keras.Model(inputs, SumOfTransposed([a, b], name="head")(h), name="two_owners")


def test_a_layer_sharing_two_layers_from_a_list_in_its_config_reloads_both_sharings(tmp_path):
    pruned = keras_ltp.prune(_two_owners(), in_place=True)
    owners = [pruned.get_layer(name) for name in ("ltp_proj_a", "ltp_proj_b")]
    for owner in owners:
        owner.thresholds[0].assign(0.03)
    x = _x()
    pruned.save(tmp_path / "two.keras")
    loaded = keras.saving.load_model(tmp_path / "two.keras", safe_mode=True)
    head = loaded.get_layer("ltp_head")
    assert head.pruned_weights == []
    assert all(d is loaded.get_layer(o.name).layer for d, o in zip(head.layer.denses, owners, strict=True))
    a, b = (_numpy_masked(ops.convert_to_numpy(o.layer.kernel.value), 0.03, o.threshold_gain) for o in owners)
    expected = (x @ a + x @ b) @ (a + b).T
    assert 0 < np.mean(a == 0) < 1
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), expected, rtol=1e-5, atol=1e-5)


def test_a_follower_restored_without_its_owner_writes_the_tie_it_was_given():
    # Outside its model the follower cannot find its owner (that happens at
    # its first call, or when a config is written): its config keeps the tie.
    pruned = keras_ltp.prune(functional(), in_place=True)
    config = keras.saving.serialize_keras_object(pruned.get_layer("ltp_head"))
    assert config["config"]["follows"] == [{"owner": "ltp_proj", "weights": [0]}]
    alone = keras.saving.deserialize_keras_object(config)
    assert alone.get_config()["follows"] == [{"owner": "ltp_proj", "weights": [0]}]
    with pytest.raises(ValueError, match="follows 'ltp_proj', but no wrapper of that name shares a layer"):
        alone(np.zeros((N, V), "float32"))


def test_a_follower_waiting_for_its_owner_does_not_stop_another_model_from_saving(tmp_path):
    # A wrapper restored outside its model keeps waiting for its owner; saving
    # an unrelated model must neither resolve nor trip over that wait.
    pruned = keras_ltp.prune(functional(), in_place=True)
    alone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(pruned.get_layer("ltp_head")))
    other = keras_ltp.prune(functional(seed=1), in_place=True)
    _set_threshold(other, 0.03)
    other.save(tmp_path / "other.keras")
    loaded = keras.saving.load_model(tmp_path / "other.keras", safe_mode=True)
    x = _x()
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(other(x)), atol=1e-6)
    assert alone.get_config()["follows"] == [{"owner": "ltp_proj", "weights": [0]}]
