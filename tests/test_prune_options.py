"""What `prune()`'s options do, against numpy: a callable `cost` weighs each
layer's soft count in the regularizer, a bad cost is refused, a layer shared
between a nested model and the outer one counts once, and the options reach
a single pruned layer. Found by mutation testing (docs/testing.md)."""

import keras
import numpy as np
import pytest

import keras_ltp

L = keras.layers
T0, RELATIVE_TAU, LAMBDA = 0.1, 0.8, 2.0


def floats(*shape):
    return np.random.default_rng(5).normal(size=shape).astype("float32")


def soft_count(kernel):
    """sum_k sigm(z_k), z = (w^2 - tau) / T with tau, T from the weights (numpy)."""
    w = np.asarray(kernel, "float64")
    z = (w**2 - RELATIVE_TAU * np.mean(w**2)) / (T0 * np.var(np.abs(w)))
    return np.sum(1 / (1 + np.exp(-z)))


def _two_layer_model():
    inputs = keras.Input((4,))
    hidden = L.Dense(6, name="a")(inputs)
    return keras.Model(inputs, L.Dense(3, name="b")(hidden))


def test_a_callable_cost_weighs_each_layer_in_the_regularizer():
    model = _two_layer_model()
    costs = {"a": 2.0, "b": 5}  # an int is a number too
    seen = []

    def cost(layer):
        seen.append(layer.name)
        return costs[layer.name]

    pruned = keras_ltp.prune(model, cost=cost, l0_strength=LAMBDA, temperature=T0, initial_threshold=RELATIVE_TAU)
    assert sorted(seen) == ["a", "b"]
    pruned(floats(2, 4), training=True)
    kernels = {layer.name: layer.get_weights()[0] for layer in model.layers[1:]}
    expected = (
        LAMBDA
        * sum(costs[n] * soft_count(k) for n, k in kernels.items())
        / sum(costs[n] * k.size for n, k in kernels.items())
    )
    np.testing.assert_allclose(float(sum(pruned.losses)), expected, rtol=1e-5)


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, float("nan"), float("inf"), "1", None])
def test_a_bad_cost_is_refused_with_the_layer_name(bad):
    with pytest.raises(ValueError, match="'b'"):
        keras_ltp.prune(_two_layer_model(), cost=lambda layer: 1.0 if layer.name == "a" else bad)


def test_a_layer_shared_with_a_nested_model_counts_once():
    shared = L.Dense(5, name="shared")
    inner_in = keras.Input((5,))
    inner = keras.Model(inner_in, L.Dense(5, name="inner_fc")(shared(inner_in)), name="inner")
    inputs = keras.Input((5,))
    outputs = shared(inner(inputs))  # the same layer, inside and outside the nested model
    model = keras.Model(inputs, outputs)
    pruned = keras_ltp.prune(model, l0_strength=LAMBDA, temperature=T0, initial_threshold=RELATIVE_TAU)
    wrappers = list(keras_ltp.iter_wrappers(pruned))
    assert sorted(w.layer.name for w in wrappers) == ["inner_fc", "shared"]
    pruned(floats(3, 5), training=True)
    kernels = [
        keras.ops.convert_to_numpy(shared.kernel.value),
        keras.ops.convert_to_numpy(inner.get_layer("inner_fc").kernel.value),
    ]
    counts = [soft_count(k) for k in kernels]
    # The shared wrapper runs twice, each run adding its term; the normalizer
    # is the model's distinct weights (50), not 75.
    per_call = {"shared": counts[0], "inner_fc": counts[1]}
    total_terms = sum(per_call[w.layer.name] * (2 if w.layer.name == "shared" else 1) for w in wrappers)
    np.testing.assert_allclose(float(sum(pruned.losses)), LAMBDA * total_terms / 50, rtol=1e-5)


def test_options_reach_a_single_pruned_layer():
    dense = L.Dense(4, name="solo")
    dense.build((None, 6))
    kernel = keras.ops.convert_to_numpy(dense.kernel.value)
    wrapper = keras_ltp.prune(dense, l0_strength=0.5, temperature=0.2, initial_threshold=1.1)
    assert wrapper.get_config()["l0_strength"] == 0.5
    assert wrapper.get_config()["temperature"] == 0.2
    keep = kernel.astype("float64") ** 2 > 1.1 * np.mean(kernel.astype("float64") ** 2)
    x = floats(2, 6)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(wrapper(x, training=False)), x @ (kernel * keep), rtol=1e-5, atol=1e-6
    )
    (mask,) = wrapper.hard_masks()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(mask), keep)


def test_layer_options_are_asked_about_the_single_layer_itself():
    dense = L.Dense(4, name="solo")
    asked = []

    def options(layer):
        asked.append(layer.name)
        return {"l0_strength": 3.0}

    wrapper = keras_ltp.prune(dense, options, l0_strength=1.0)
    assert asked == ["solo"]
    assert wrapper.get_config()["l0_strength"] == 3.0
