"""SparsityMonitor and TemperatureScheduler inside model.fit."""

import csv
import warnings

import helpers
import keras
import numpy as np
import pytest

import keras_ltp
from keras_ltp import iter_wrappers
from keras_ltp.callbacks import SparsityMonitor, SparsityTarget, TemperatureScheduler

L = keras.layers


def pruned_mlp():
    model = keras.Sequential([keras.Input((6,)), L.Dense(16, activation="relu", name="h"), L.Dense(3, name="out")])
    pruned = keras_ltp.prune(model, l0_strength=2.0, temperature=0.3, threshold_gain=10.0)
    pruned.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return pruned


def frozen_mlp(**options):
    """`pruned_mlp`'s network pruned with `options`, compiled with a learning
    rate of 0: nothing trains, so every change in a fit is a callback's."""
    model = keras.Sequential([keras.Input((6,)), L.Dense(16, activation="relu", name="h"), L.Dense(3, name="out")])
    pruned = keras_ltp.prune(model, **options)
    pruned.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return pruned


def xy(n=128):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 3, n)


def test_sparsity_monitor_logs_reach_history_and_csv(tmp_path):
    model = pruned_mlp()
    x, y = xy()
    path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[SparsityMonitor(), keras.callbacks.CSVLogger(str(path))])
    logs = history.history
    assert {"sparsity", "sparsity/ltp_h", "sparsity/ltp_out", "threshold/h/kernel", "threshold/out/kernel"} <= set(logs)
    assert logs["sparsity"][-1] == pytest.approx(_numpy_sparsity(model))  # independent count
    # Per layer: each layer's fraction of pruned weights and its tau = gain * theta * mean(w^2), in numpy.
    for wrapper in iter_wrappers(model):
        (keep,) = helpers.numpy_keep_masks(wrapper)
        assert logs[f"sparsity/{wrapper.name}"][-1] == pytest.approx(1 - keep.mean())
        kernel = keras.ops.convert_to_numpy(wrapper.pruned_weights[0].value).astype("float64")
        tau = wrapper.threshold_gain * helpers.scalar(wrapper.thresholds[0]) * np.mean(kernel**2)
        assert logs[f"threshold/{wrapper.layer.name}/kernel"][-1] == pytest.approx(tau, rel=1e-5)
    assert logs["sparsity"][-1] > logs["sparsity"][0]  # pruning progresses
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 3 and float(rows[-1]["sparsity"]) == pytest.approx(logs["sparsity"][-1])


def _numpy_sparsity(model):
    """Fraction of prunable weights with w^2 <= tau, tau = gain * theta * mean(w^2), in numpy."""
    keep = [mask for wrapper in iter_wrappers(model) for mask in helpers.numpy_keep_masks(wrapper)]
    return 1 - sum(int(np.sum(mask)) for mask in keep) / sum(mask.size for mask in keep)


def test_the_l0_term_is_what_prunes():
    # The same training with lambda = 0 (task loss only) and lambda = 2.
    x, y = xy()
    reached = {}
    for strength in (0.0, 2.0):
        keras.utils.set_random_seed(0)
        model = pruned_mlp()
        for wrapper in iter_wrappers(model):
            wrapper.l0_strength.assign(strength)
        model.fit(x, y, epochs=6, verbose=0)
        reached[strength] = _numpy_sparsity(model)
    # measured: 0.46 / 0.19 / 0.15 without the L0 term, 0.80 / 0.75 / 0.78 with it (TF / JAX / torch)
    assert reached[2.0] > reached[0.0] + 0.15, reached


@pytest.mark.parametrize("name", ["SparsityMonitor", "TemperatureScheduler", "SparsityTarget", "TrailCheckpoint"])
def test_each_callback_without_wrappers_names_itself_and_says_what_to_do(name, tmp_path):
    model = keras.Sequential([keras.Input((6,)), L.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = {
        "SparsityMonitor": lambda: SparsityMonitor(),
        "TemperatureScheduler": lambda: TemperatureScheduler(lambda epoch, t0: t0),
        "SparsityTarget": lambda: SparsityTarget(0.5),
        "TrailCheckpoint": lambda: keras_ltp.callbacks.TrailCheckpoint(str(tmp_path / "trail")),
    }[name]()
    with pytest.raises(ValueError, match=f"^{name}: the model .* contains no PrunableWrapper.*keras_ltp.prune"):
        model.fit(*xy(8), epochs=1, verbose=0, callbacks=[callback])


def test_temperature_scheduler_sets_variables_and_logs():
    model = pruned_mlp()
    x, y = xy()
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append([float(w.temperature.numpy()) for w in iter_wrappers(self.model)])

    scheduler = TemperatureScheduler.exponential(start=0.4, end=0.1, epochs=3)
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[scheduler, Spy()])
    expected = [0.4, 0.2, 0.1, 0.1]
    np.testing.assert_allclose([s[0] for s in seen], expected, rtol=1e-6)
    np.testing.assert_allclose([s[1] for s in seen], expected, rtol=1e-6)
    np.testing.assert_allclose(history.history["temperature"], expected, rtol=1e-6)


@pytest.mark.parametrize("bad", [lambda e, t: 0.0, lambda e, t: float("nan")])
def test_temperature_scheduler_rejects_bad_values(bad):
    model = pruned_mlp()
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        model.fit(*xy(8), epochs=1, verbose=0, callbacks=[TemperatureScheduler(bad)])
    with pytest.raises(TypeError, match="schedule must be callable"):
        TemperatureScheduler(0.1)
    with pytest.raises(ValueError, match="end must be > 0"):
        TemperatureScheduler.exponential(0.1, -1.0, 3)


def _state(model):
    """{wrapper name: its thresholds, then its temperature}."""
    temperatures = {w.name: helpers.scalar(w.temperature) for w in iter_wrappers(model)}
    return {name: values + [temperatures[name]] for name, values in helpers.thresholds(model, by_layer=True).items()}


def test_backup_and_restore_resumes_thresholds_and_temperature(tmp_path):
    x, y = xy()
    schedule = TemperatureScheduler.exponential(start=0.4, end=0.05, epochs=4)

    keras.utils.set_random_seed(1)
    reference = pruned_mlp()
    reference.fit(x, y, epochs=4, shuffle=False, verbose=0, callbacks=[schedule])

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("simulated preemption")

    keras.utils.set_random_seed(1)
    interrupted = pruned_mlp()
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="preemption"):
        interrupted.fit(x, y, epochs=4, shuffle=False, verbose=0, callbacks=[schedule, backup, Crash()])
    keras.utils.set_random_seed(1)
    resumed = pruned_mlp()  # a fresh process would rebuild the model the same way
    resumed.fit(x, y, epochs=4, shuffle=False, verbose=0, callbacks=[schedule, backup])
    ref, got = _state(reference), _state(resumed)
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-4, atol=1e-6)


def _mnist_mlp():
    """784-64-10 trained dense for 2 epochs on 2,000 MNIST digits (all ten, balanced), then pruned."""
    x, y = helpers.mnist(2000)
    return helpers.pruned_mnist_mlp(x, y, hidden=(64,), temperature=1.0), x, y


def test_sparsity_target_reaches_and_holds():
    model, x, y = _mnist_mlp()
    history = model.fit(
        x,
        y,
        epochs=6,
        batch_size=64,
        verbose=0,
        # A short run: a faster ramp (lambda, then the thresholds) than the
        # default reaches the target by epoch 3.
        callbacks=[SparsityTarget(0.9, rate=0.3, catch_up=0.3), SparsityMonitor(per_layer=False)],
    )
    per_epoch = history.history["sparsity"]
    assert all(abs(s - 0.9) <= 0.02 for s in per_epoch[2:]), per_epoch  # reached early, then held
    final = keras_ltp.sparsity(model)["sparsity"]
    # Within a point in this 6-epoch run on a 51k-weight MLP (TF 89.55%, JAX
    # 89.48%); compare.py's models end within 0.2 points (benchmarks/README.md).
    assert abs(final - 0.9) <= 0.01
    assert "l0_strength" in history.history


def test_sparsity_target_state_survives_save_and_load(tmp_path):
    model, x, y = _mnist_mlp()
    model.fit(x, y, epochs=2, batch_size=64, verbose=0, callbacks=[SparsityTarget(0.8)])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    before = [float(w.l0_strength.numpy()) for w in iter_wrappers(model)]
    after = [float(w.l0_strength.numpy()) for w in iter_wrappers(loaded)]
    assert before == after
    assert keras_ltp.sparsity(loaded)["sparsity"] == keras_ltp.sparsity(model)["sparsity"]
    # Training goes on from the loaded state and keeps the target.
    loaded.fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[SparsityTarget(0.8)])
    assert abs(keras_ltp.sparsity(loaded)["sparsity"] - 0.8) <= 0.005


def _pruned_count(model):
    return sum(int(np.sum(keras.ops.convert_to_numpy(m) == 0)) for w in iter_wrappers(model) for m in w.hard_masks())


def test_sparsity_target_at_max_strength_raises_all_thresholds_by_one_factor():
    model = pruned_mlp()
    for i, w in enumerate(iter_wrappers(model)):  # different relative thresholds per layer
        w.thresholds[0].assign((0.2 + 0.3 * i) / w.threshold_gain)
        w.l0_strength.assign(5.0)
    before_thetas, before_pruned = helpers.thresholds(model), _pruned_count(model)
    total = keras_ltp.sparsity(model)["total"]
    # Independent expectation (numpy): with every tau scaled by c, weight k is
    # pruned iff w_k^2 / tau_k <= c, so the new count is a rank of w^2 / tau.
    ratios = np.sort(
        np.concatenate(
            [
                np.square(keras.ops.convert_to_numpy(w.pruned_weights[0].value)).ravel()
                / float(keras.ops.convert_to_numpy(w.effective_thresholds()[0]))
                for w in iter_wrappers(model)
            ]
        )
    )
    target, catch_up = 0.9, 0.25
    current = before_pruned / total
    expected = int(np.ceil((current + catch_up * (target - current)) * total - 1e-9))
    callback = SparsityTarget(target, check_every=5, max_strength=5.0, catch_up=catch_up)
    callback.set_model(model)
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(5)  # a check is due before this batch
    callback.on_train_begin()
    callback.on_train_batch_begin(0)
    after_thetas = helpers.thresholds(model)
    factor = after_thetas / before_thetas
    np.testing.assert_allclose(factor, factor[0], rtol=1e-6)  # one common factor: allocation kept
    assert ratios[expected - 1] < factor[0] < ratios[expected]
    assert _pruned_count(model) == expected > before_pruned
    assert [float(w.l0_strength.numpy()) for w in iter_wrappers(model)] == [5.0, 5.0]  # lambda not raised


def _set_sparsity(model, level):
    """Sets every threshold so that `level` of all weights are pruned (one
    common relative threshold)."""
    squares = np.concatenate(
        [
            np.square(keras.ops.convert_to_numpy(w.pruned_weights[0].value)).ravel()
            / np.mean(np.square(keras.ops.convert_to_numpy(w.pruned_weights[0].value)))
            for w in iter_wrappers(model)
        ]
    )
    theta = np.quantile(squares, level)
    for w in iter_wrappers(model):
        w.thresholds[0].assign(theta / w.threshold_gain)


@pytest.mark.parametrize("short_by, warns", [(0.5, False), (14.5, True)])
def test_sparsity_target_end_of_fit_prunes_no_more_and_reports_a_shortfall(short_by, warns):
    model = pruned_mlp()
    _set_sparsity(model, 0.6)
    total = keras_ltp.sparsity(model)["total"]
    before, thetas = _pruned_count(model), helpers.thresholds(model)
    target = (before + short_by) / total  # 0.35 or 10 points above (144 weights)
    callback = SparsityTarget(target)
    callback.set_model(model)
    if warns:
        with pytest.warns(UserWarning, match="short of the"):
            callback.on_train_end()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            callback.on_train_end()
    assert _pruned_count(model) == before
    np.testing.assert_array_equal(helpers.thresholds(model), thetas)


@pytest.mark.parametrize("emptied", [False, True])
def test_sparsity_target_warns_at_the_end_of_fit_about_a_layer_with_every_weight_pruned(emptied):
    model = frozen_mlp()
    _set_sparsity(model, 0.5)
    if emptied:  # every weight of "h" under its threshold
        hidden = next(w for w in iter_wrappers(model) if w.layer.name == "h")
        kernel = keras.ops.convert_to_numpy(hidden.pruned_weights[0].value)
        relative = np.max(np.square(kernel)) / np.mean(np.square(kernel))
        hidden.thresholds[0].assign(2 * relative / hidden.threshold_gain)
    before = _pruned_count(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(*xy(), epochs=1, verbose=0, callbacks=[SparsityTarget(before / 144, check_every=10**6)])
    collapse = [str(w.message) for w in caught if "layer collapse" in str(w.message)]
    assert _pruned_count(model) == before  # the warning changes nothing
    if emptied:
        assert (
            len(collapse) == 1 and "every weight of ltp_h pruned" in collapse[0] and "max_sparsity=0.99" in collapse[0]
        )
    else:
        assert collapse == []


def test_sparsity_target_reaches_target_with_lambda_clamped():
    # lambda starts at max_strength: the thresholds' common factor alone
    # reaches the target.
    model, x, y = _mnist_mlp()
    history = model.fit(
        x,
        y,
        epochs=3,
        batch_size=64,
        verbose=0,
        callbacks=[SparsityTarget(0.9, min_strength=1e-3, max_strength=keras_ltp.wrapper.DEFAULT_L0_STRENGTH)],
    )
    assert abs(keras_ltp.sparsity(model)["sparsity"] - 0.9) <= 0.005
    assert max(history.history["l0_strength"]) <= keras_ltp.wrapper.DEFAULT_L0_STRENGTH


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"target": 90}, "target must be a fraction in \\(0, 1\\)"),
        ({"target": 0.0}, "target must be a fraction"),
        ({"target": 0.9, "check_every": 0}, "check_every must be an int >= 1"),
        ({"target": 0.9, "rate": -1}, "rate must be a finite number > 0"),
        ({"target": 0.9, "min_strength": 5.0, "max_strength": 1.0}, "min_strength < max_strength"),
        ({"target": 0.9, "catch_up": 0.0}, "catch_up must be a fraction in \\(0, 1\\]"),
        ({"target": 0.9, "catch_up": 1.5}, "catch_up must be a fraction"),
        # the edges of each range
        ({"target": 1.0}, "target must be a fraction"),
        ({"target": 1.5}, "target must be a fraction"),
        ({"target": 0.9, "rate": 0}, "rate must be a finite number > 0"),
        ({"target": 0.9, "min_strength": 0}, "0 < min_strength < max_strength"),
        ({"target": 0.9, "min_strength": 2.0, "max_strength": 2.0}, "min_strength < max_strength"),
        ({"target": 0.9, "measure": "flops"}, "measure must be one of"),
    ],
)
def test_sparsity_target_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SparsityTarget(**kwargs)


def test_sparsity_target_accepts_the_edges_of_its_ranges():
    edges = SparsityTarget(0.999, check_every=1, catch_up=1.0, measure="cost")
    assert (edges.target, edges.check_every, edges.catch_up, edges.measure) == (0.999, 1, 1.0, "cost")


def test_temperature_schedules_at_their_edges():
    """exponential() over 1 and 2 epochs, values checked by hand; a schedule
    gets the current T0; verbose prints each change (and only changes)."""
    halve = TemperatureScheduler.exponential(start=0.4, end=0.1, epochs=2)
    assert [halve.schedule(e, None) for e in range(4)] == pytest.approx([0.4, 0.1, 0.1, 0.1])
    hold = TemperatureScheduler.exponential(start=0.3, end=0.05, epochs=1)
    assert [hold.schedule(e, None) for e in range(3)] == pytest.approx([0.3, 0.3, 0.3])
    for bad in ((0.0, 0.1, 3), (0.1, 0.1, 0), (0.1, 0.1, 2.0)):
        with pytest.raises(ValueError, match="TemperatureScheduler.exponential: (start|epochs)"):
            TemperatureScheduler.exponential(*bad)


def test_a_schedule_receives_the_current_temperature_and_verbose_prints_changes(capsys):
    model = pruned_mlp()  # T0 = 0.3
    scheduler = TemperatureScheduler(lambda epoch, t0: t0 * 0.5 if epoch in (1, 2) else t0, verbose=1)
    history = model.fit(*xy(32), epochs=4, verbose=0, callbacks=[scheduler])
    np.testing.assert_allclose(history.history["temperature"], [0.3, 0.15, 0.075, 0.075], rtol=1e-6)
    printed = [line for line in capsys.readouterr().out.splitlines() if "TemperatureScheduler" in line]
    assert printed == [
        "Epoch 2: TemperatureScheduler set T0 to 0.15.",
        "Epoch 3: TemperatureScheduler set T0 to 0.075.",
    ]
    assert TemperatureScheduler.exponential(start=0.4, end=0.1, epochs=3, verbose=1).verbose == 1


def _steering_steps(monkeypatch, model, x, y, callback, **fit):
    """The optimizer step at which `callback` steered, and whether it was the
    end-of-fit call, in order."""
    from keras_ltp import steering

    calls, decide = [], steering.decide

    def recording(*args, **kwargs):
        calls.append((int(keras.ops.convert_to_numpy(model.optimizer.iterations)), kwargs.get("final", False)))
        return decide(*args, **kwargs)

    monkeypatch.setattr(steering, "decide", recording)
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[callback], **fit)
    return calls


def _expected_checks(begins, check_every):
    """Each multiple m * check_every (m >= 1) is checked once, before the first
    batch that begins at or after it; `begins` are the steps at which Keras
    calls on_train_batch_begin."""
    multiples = range(check_every, begins[-1] + 1, check_every)
    return sorted({min(b for b in begins if b >= m) for m in multiples})


@pytest.mark.parametrize(
    "steps_per_execution, check_every, epochs",
    [(1, 1, 1), (1, 3, 1), (1, 3, 2), (4, 7, 2), (4, 4, 2), (4, 6, 2)],
)
def test_sparsity_target_checks_on_its_schedule_of_optimizer_steps(
    monkeypatch, steps_per_execution, check_every, epochs
):
    if steps_per_execution > 1 and keras.backend.backend() == "torch":
        pytest.skip("Keras's torch trainer runs one step per execution")
    # 10 samples, batch 1: 10 steps per epoch; with 4 steps per execution Keras
    # calls on_train_batch_begin at steps 0, 4, 8 (a 2-step execution ends the
    # epoch), 10, 14, 18.
    x, y = xy(10)
    model = pruned_mlp()
    model.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=steps_per_execution,
    )
    calls = _steering_steps(monkeypatch, model, x, y, SparsityTarget(0.5, check_every=check_every), epochs=epochs)
    begins = [e * 10 + b for e in range(epochs) for b in range(0, 10, steps_per_execution)]
    assert calls[:-1] == [(step, False) for step in _expected_checks(begins, check_every)]
    assert calls[-1] == (epochs * 10, True)  # and once at the end of fit

    # A new callback on a model trained on (a resumed run): its first batch
    # checks a multiple it passed within the execution that led there.
    calls = _steering_steps(monkeypatch, model, x, y, SparsityTarget(0.5, check_every=check_every), epochs=1)
    start = epochs * 10
    begins = [start + b for b in range(0, 10, steps_per_execution)]
    first = [begins[0]] if (start - steps_per_execution) // check_every < start // check_every else []
    later = [b for b in _expected_checks(begins, check_every) if b > begins[0]]
    assert calls[:-1] == [(step, False) for step in first + later]
    assert calls[-1] == (start + 10, True)


@pytest.mark.parametrize("below", [True, False])
def test_sparsity_target_moves_lambda_and_thresholds_by_the_control_law(below):
    # With a learning rate of 0 nothing trains, so every change is the
    # callback's. Below the target each check multiplies lambda by 1 + rate;
    # above it the first check halves lambda and scales the thresholds so
    # that exactly the target is pruned (36 of the 144 weights at 0.25), after
    # which nothing moves.
    x, y = xy(10)
    pruned = frozen_mlp(l0_strength=2.0, threshold_gain=10.0, initial_threshold=0.0 if below else 1.5)
    target = 0.9 if below else 0.25
    start = _numpy_sparsity(pruned)
    assert (start < target) if below else (start > 0.5)
    callback = SparsityTarget(target, check_every=2)  # rate 0.1 and min_strength 1e-3 by default
    history = pruned.fit(x, y, batch_size=1, epochs=1, verbose=0, callbacks=[callback])  # checks at steps 2, 4, 6, 8
    strengths = [helpers.scalar(w.l0_strength) for w in iter_wrappers(pruned)]
    expected = 2.0 * 1.1**4 if below else 1.0
    assert strengths == [pytest.approx(expected)] * 2
    assert history.history["l0_strength"] == [pytest.approx(expected)]
    assert _numpy_sparsity(pruned) == (start if below else 36 / 144)


def test_sparsity_target_steers_once_per_optimizer_step_across_fits():
    x, y = xy(10)
    pruned = frozen_mlp(l0_strength=2.0, threshold_gain=10.0)

    def fit(callback):
        pruned.fit(x, y, batch_size=1, epochs=1, verbose=0, callbacks=[callback])

    def strengths():
        return [helpers.scalar(w.l0_strength) for w in iter_wrappers(pruned)]

    # Checks at steps 2, 4, 6, 8, then the end of fit at step 10, where the
    # next fit's first check falls: it is not made twice.
    steer = SparsityTarget(0.9, check_every=2, rate=0.1, max_strength=100.0)
    with pytest.warns(UserWarning, match="short of the 90.00% target"):
        fit(steer)
        fit(steer)
    assert strengths() == [pytest.approx(2.0 * 1.1**8)] * 2  # checks at 12, 14, 16, 18

    # A new optimizer restarts the steps: its step 10 is another step, and
    # the end of that fit warns again.
    late = SparsityTarget(0.9, check_every=100)
    for _ in range(2):
        pruned.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        with pytest.warns(UserWarning, match="short of the 90.00% target"):
            fit(late)


@pytest.mark.parametrize("measure", ["weights", "cost"])
def test_sparsity_target_measure_cost_counts_multiply_adds_of_per_weight_pruning(measure):
    # Per-weight pruning with cost="flops": a weight of the first conv does 64
    # multiply-adds (8x8 outputs), one of the second 4 (2x2), one of the head 1.
    # With a learning rate of 0 the first check, above the target, scales the
    # thresholds to it: the fraction of weights, or of multiply-adds, removed.
    inputs = keras.Input((8, 8, 2))
    x = L.Conv2D(3, 3, padding="same", name="big")(inputs)
    x = L.Conv2D(4, 3, strides=4, name="small")(x)
    model = keras.Model(inputs, L.Dense(3, name="head")(L.Flatten()(x)))
    pruned = keras_ltp.prune(model, cost="flops", threshold_gain=10.0, initial_threshold=1.5)
    for wrapper in iter_wrappers(pruned):  # the big conv pruned more than the rest, so the measures differ
        theta = wrapper.thresholds[0]
        theta.assign(helpers.scalar(theta) * (2.0 if wrapper.name == "ltp_big" else 0.3))
    pruned.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, 8, 8, 2)).astype("float32"), rng.integers(0, 3, 10)
    pruned.fit(x, y, batch_size=1, verbose=0, callbacks=[SparsityTarget(0.3, check_every=2, measure=measure)])
    multiply_adds = {"ltp_big": 64.0, "ltp_small": 4.0, "ltp_head": 1.0}
    pruned_count, weights, cost_removed, total_cost = 0, 0, 0.0, 0.0
    for wrapper in iter_wrappers(pruned):
        (keep,) = helpers.numpy_keep_masks(wrapper)
        pruned_count += int(np.sum(~keep))
        weights += keep.size
        cost_removed += multiply_adds[wrapper.name] * np.sum(~keep)
        total_cost += multiply_adds[wrapper.name] * keep.size
    fractions = {"weights": pruned_count / weights, "cost": cost_removed / total_cost}
    assert fractions[measure] == pytest.approx(0.3, abs=64.0 / total_cost if measure == "cost" else 1.0 / weights)
    other = "cost" if measure == "weights" else "weights"
    assert abs(fractions[other] - 0.3) > 0.02  # the two measures differ on this model


def test_sparsity_target_by_default_stops_raising_lambda_at_30_and_prints_nothing(capsys):
    # Below the target, with nothing training (learning rate 0): 39 checks
    # (steps 1-39) would take lambda from 2 to 2 * 1.1**39 = 82; the default cap is 30.
    x, y = xy(40)
    pruned = frozen_mlp(l0_strength=2.0)
    capsys.readouterr()
    with pytest.warns(UserWarning, match="short of the 90.00% target"):
        pruned.fit(x, y, batch_size=1, verbose=0, callbacks=[SparsityTarget(0.9, check_every=1)])
    assert [helpers.scalar(w.l0_strength) for w in iter_wrappers(pruned)] == [30.0, 30.0]
    assert capsys.readouterr().out == ""
