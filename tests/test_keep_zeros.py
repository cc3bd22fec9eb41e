"""KeepZeros: fine-tuning a stripped model keeps its pruned weights at zero."""

import warnings

import keras
import numpy as np
import pytest

import keras_ltp
from keras_ltp.callbacks import KeepZeros

L = keras.layers


def sparse_model(constraint=None):
    """A small conv + dense model whose kernels are half zeros (numpy masks),
    its biases zero (not prunable: they must be free to train)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            L.Conv2D(4, 3, name="conv", kernel_constraint=constraint),
            L.Flatten(),
            L.Dense(3, name="out"),
        ]
    )
    rng = np.random.default_rng(1)
    masks = {}
    for layer in (model.get_layer("conv"), model.get_layer("out")):
        kernel = keras.ops.convert_to_numpy(layer.kernel.value)
        masks[layer.name] = rng.random(kernel.shape) < 0.5
        layer.kernel.assign(np.where(masks[layer.name], kernel, 0.0))
    return model, masks


def data(n=64):
    rng = np.random.default_rng(2)
    return rng.normal(size=(n, 6, 6, 2)).astype("float32"), rng.normal(size=(n, 3)).astype("float32")


def fit(model, callbacks, steps_per_execution=1, epochs=3):
    model.compile(keras.optimizers.Adam(0.05), "mse", steps_per_execution=steps_per_execution)
    model.fit(*data(), batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks)


def kernels(model):
    return {name: keras.ops.convert_to_numpy(model.get_layer(name).kernel.value) for name in ("conv", "out")}


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_the_zeros_stay_zero_and_the_other_weights_train(steps_per_execution):
    if steps_per_execution > 1 and keras.backend.backend() == "torch":
        pytest.skip("Keras on PyTorch takes steps_per_execution=1 only")
    model, masks = sparse_model()
    before = kernels(model)
    bias_before = keras.ops.convert_to_numpy(model.get_layer("out").bias.value).copy()
    fit(model, [KeepZeros()], steps_per_execution)
    after = kernels(model)
    for name, mask in masks.items():
        assert np.all(after[name][~mask] == 0.0), name
        assert np.all(after[name][mask] != before[name][mask]), name  # every kept weight trained
    assert np.all(keras.ops.convert_to_numpy(model.get_layer("out").bias.value) != bias_before)  # zero biases train


def test_without_it_the_zeros_come_back():
    # the control: the same fit without KeepZeros densifies the model
    model, masks = sparse_model()
    fit(model, [])
    after = kernels(model)
    assert all(np.all(after[name][~mask] != 0.0) for name, mask in masks.items())


def test_a_constraint_of_the_variable_still_applies_and_is_given_back():
    max_norm = keras.constraints.MaxNorm(0.05, axis=[0, 1, 2])
    model, masks = sparse_model(constraint=max_norm)
    variable = model.get_layer("conv").kernel
    assert variable.constraint is max_norm
    callback = KeepZeros()
    fit(model, [callback])
    kernel = kernels(model)["conv"]
    assert np.all(kernel[~masks["conv"]] == 0.0)
    norms = np.sqrt(np.sum(kernel**2, axis=(0, 1, 2)))
    assert np.all(norms <= 0.05 + 1e-6), norms
    assert variable.constraint is max_norm  # given back when fit ends
    assert callback._given == []


class _Interrupt(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        raise KeyboardInterrupt


def test_a_fit_that_raised_leaves_masks_that_the_next_keep_zeros_gives_back():
    max_norm = keras.constraints.MaxNorm(10.0, axis=[0, 1, 2])
    model, masks = sparse_model(constraint=max_norm)
    variable = model.get_layer("conv").kernel
    with pytest.raises(KeyboardInterrupt):
        fit(model, [KeepZeros(), _Interrupt()])
    assert variable.constraint is not max_norm  # Keras skipped on_train_end
    value = keras.ops.convert_to_numpy(variable.value)
    revived = np.argwhere(~masks["conv"])[0]
    value[tuple(revived)] = 0.5  # free in the next fit: its masks are taken anew
    variable.assign(value)
    fit(model, [KeepZeros()], epochs=1)
    after = keras.ops.convert_to_numpy(variable.value)
    assert after[tuple(revived)] != 0.0
    assert np.sum(after == 0.0) == np.sum(~masks["conv"]) - 1
    assert variable.constraint is max_norm  # the original, not the mask left by the fit that raised


def test_the_masks_are_taken_anew_at_each_fit():
    model, masks = sparse_model()
    callback = KeepZeros()
    fit(model, [callback], epochs=1)
    conv = model.get_layer("conv").kernel
    value = keras.ops.convert_to_numpy(conv.value)
    revived = np.argwhere(~masks["conv"])[0]
    value[tuple(revived)] = 0.5  # a weight set by hand between two fits is free in the next
    conv.assign(value)
    fit(model, [callback], epochs=1)
    assert keras.ops.convert_to_numpy(conv.value)[tuple(revived)] != 0.0


def test_a_model_that_still_learns_its_masks_is_refused():
    model, _ = sparse_model()
    pruned = keras_ltp.prune(model)
    pruned.compile("adam", "mse")
    with pytest.raises(ValueError, match=r"PrunableWrapper.*keras_ltp\.strip\(model\)"):
        pruned.fit(*data(), batch_size=8, epochs=1, verbose=0, callbacks=[KeepZeros()])


def test_a_model_without_zeros_warns_that_there_is_nothing_to_keep():
    model = keras.Sequential([keras.Input((6, 6, 2)), L.Flatten(), L.Dense(3, name="out")])
    model.compile("sgd", "mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(*data(), batch_size=8, epochs=1, verbose=0, callbacks=[KeepZeros()])
    assert any("nothing to keep" in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_a_stripped_ltp_model_fine_tunes_at_its_sparsity():
    model, _ = sparse_model()
    pruned = keras_ltp.prune(model, l0_strength=5.0)
    pruned.compile(keras.optimizers.Adam(0.02), "mse")
    pruned.fit(*data(), batch_size=8, epochs=3, verbose=0)
    plain = keras_ltp.strip(pruned)
    sparsity = keras_ltp.weight_sparsity(plain)["sparsity"]
    assert sparsity > 0.5
    fit(plain, [KeepZeros(verbose=1)])
    assert keras_ltp.weight_sparsity(plain)["sparsity"] == sparsity


def test_verbose_counts_the_zeros_it_keeps(capsys):
    model, masks = sparse_model()
    fit(model, [KeepZeros(verbose=1)], epochs=1)
    zeros = sum(int(np.sum(~mask)) for mask in masks.values())
    total = sum(mask.size for mask in masks.values())
    assert f"KeepZeros: keeping {zeros:,} of {total:,} prunable weights at zero." in capsys.readouterr().out
    fit(model, [KeepZeros()], epochs=1)
    assert "KeepZeros" not in capsys.readouterr().out  # silent by default


def test_a_weight_without_zeros_or_not_trained_does_not_stop_the_others():
    # the first kernel has no zero, the second is frozen (a LoRA base kernel:
    # prunable, not trainable); the third's zeros must still be kept
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            L.Dense(6, name="full"),
            L.Dense(6, name="lora"),
            L.Dense(3, name="out"),
        ]
    )
    model.get_layer("lora").enable_lora(2)
    out = model.get_layer("out").kernel
    mask = np.random.default_rng(3).random(out.shape) < 0.5
    out.assign(np.where(mask, keras.ops.convert_to_numpy(out.value), 0.0))
    model.compile(keras.optimizers.Adam(0.05), "mse")
    rng = np.random.default_rng(4)
    model.fit(rng.normal(size=(32, 5)), rng.normal(size=(32, 3)), epochs=2, verbose=0, callbacks=[KeepZeros()])
    kernel = keras.ops.convert_to_numpy(out.value)
    assert np.all(kernel[~mask] == 0.0) and np.all(kernel[mask] != 0.0)
