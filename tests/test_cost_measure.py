"""The kept cost of a channel-pruned model, input channels included: equal
to the multiply-adds of the model shrink() makes, counted layer by layer."""

import keras
import numpy as np
import pytest
from test_coupled import _stream_model

import keras_ltp
from keras_ltp import cost_measure, steering

layers = keras.layers


def _multiply_adds(model):
    """Each kernel weight once per output position (Dense after Flatten: once)."""
    total = 0
    for layer in model.layers:
        if getattr(layer, "kernel", None) is not None:
            total += np.prod(layer.kernel.shape) * np.prod(layer.output.shape[1:-1])
    return int(total)


def _chain_model():
    x = keras.Input((6, 6, 2))
    h = layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv1")(x)
    h = layers.MaxPooling2D(2)(layers.ReLU()(layers.BatchNormalization(name="bn1")(h)))
    h = layers.Conv2D(4, 3, padding="same", name="conv2")(h)
    h = layers.Dense(16, activation="relu", name="fc")(layers.Flatten()(h))
    return keras.Model(x, layers.Dense(3, name="out")(h))


@pytest.mark.parametrize("build, couple", [(_chain_model, False), (_stream_model, True)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_kept_cost_is_the_shrunk_models_multiply_adds(build, couple, seed):
    keras.utils.set_random_seed(seed)
    model = build()
    pruned = keras_ltp.prune(
        model, granularity="channel", cost="flops", fallback="dense", couple=couple, initial_threshold=1.0
    )
    # (shrink() keeps one channel of a layer that loses all: not a case to measure)
    assert all(0 < keras.ops.convert_to_numpy(w.channel_mask()).sum() for w in keras_ltp.iter_wrappers(pruned))
    squares, taus, removed = cost_measure.from_wrappers(list(keras_ltp.iter_wrappers(pruned)))
    total = _multiply_adds(model)
    assert all(w.l0_normalizer == pytest.approx(total) for w in keras_ltp.iter_wrappers(pruned))
    shrunk = keras_ltp.shrink(pruned) if removed(1.0) > 0 else model
    assert total * (1 - removed(1.0)) == pytest.approx(_multiply_adds(shrunk))
    assert removed(-1.0) == 0.0 and removed(np.inf) == pytest.approx(1.0)


def test_removed_fraction_counts_input_slices_once_per_source():
    # P1, P2 (2 channels each, cost 5 of which kernel 2) are concatenated into
    # R's 4 input channels; R: 3 channels, cost 8, kernel 8.
    p1 = cost_measure.Part([0.5, 3.0], 5.0, [(2.0, 7, [])])
    p2 = cost_measure.Part([0.8, 0.9], 5.0, [(2.0, 7, [])])
    r = cost_measure.Part([2.0, 2.0, 0.1], 8.0, [(8.0, 4, [0, 1])])
    # cut 1: P1 keeps 1 (5), P2 none, R keeps 2 channels of 8 - 8 * 3/4 = 2.
    kept = 5.0 + 0.0 + 2 * 2.0
    assert cost_measure.removed_fraction([p1, p2, r], 1.0) == pytest.approx(1 - kept / (10 + 10 + 24))


@pytest.mark.parametrize("seed", range(5))
def test_cut_factor_prunes_the_fewest_entries_that_reach_the_goal(seed):
    rng = np.random.default_rng(seed)
    squares = [rng.uniform(0.1, 2.0, size=n) for n in (5, 3, 7)]
    taus = [0.5, 1.0, 2.0]
    weights = [rng.uniform(0.5, 2.0, size=s.size) for s in squares]

    def removed(cut):  # an additive measure: brute force is easy
        gone = sum(w[s / t <= cut].sum() for s, t, w in zip(squares, taus, weights))
        return gone / sum(w.sum() for w in weights)

    goal = 0.4
    factor = steering.cut_factor(squares, taus, removed, goal)
    ratios = np.sort(np.concatenate([s / t for s, t in zip(squares, taus)]))
    fewest = next(r for r in ratios if removed(r) >= goal)
    assert removed(factor) >= goal and not any(abs(factor - r) < 1e-12 for r in ratios)
    assert factor < ratios[ratios > fewest][0] and factor > fewest
    assert steering.cut_factor(squares, taus, removed, 1.0) is None  # only by pruning everything


def test_a_cost_target_on_a_coupled_network_removes_that_fraction_of_the_shrunk_multiply_adds():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 6, 6, 2)).astype("float32")
    y = rng.integers(0, 3, size=128)
    model = _stream_model()
    pruned = keras_ltp.prune(model, granularity="channel", cost="flops", fallback="dense", couple=True)
    assert pruned.get_layer("ltp_inner").channel_inputs == [
        {"kernel_cost": pytest.approx(3 * 3 * 4 * 36), "width": 4, "sources": ["ltp_stem_coupled"]}  # slice x positions
    ]
    pruned.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    target = keras_ltp.callbacks.SparsityTarget(0.5, check_every=2, measure="cost")
    pruned.fit(x, y, epochs=10, batch_size=16, verbose=0, callbacks=[target])
    removed = 1 - _multiply_adds(keras_ltp.shrink(pruned)) / _multiply_adds(model)
    assert removed == pytest.approx(0.5, abs=0.1)
