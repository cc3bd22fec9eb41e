"""Where the time goes in a shrunk small ResNet: LiteRT latency by layer widths.

At about the same multiply-adds, the coupled L1-filter models of
`latency_coupled_seeds.json` run faster in LiteRT than channel LTP's
(issue 12). This times the small ResNet's topology (`examples.common.
architectures.small_resnet`, one residual block per stage) at given widths,
with random weights (latency depends on the shapes, not on the values):

* `dense`, and the widths channel LTP and the matched L1 baseline reached in
  each seed of `results/latency_coupled_seeds.json`;
* each LTP seed with its last residual stream cut to the L1 model's width
  (LTP kept it whole, 64 of 64, in every seed);
* each LTP seed with every width rounded up to a multiple of 8, and with a
  width 1 or 2 over a multiple of 16 cut to it: XNNPack's float GEMM
  kernels compute output channels in tiles of `nr` (its
  `src/configs/gemm-config.c`: 8 on most ARM64 cores, 16 with FMA3, 32
  with AVX-512 on x86), so a width just over a tile may cost a whole tile;
* a pair that differs only in alignment: widths 7-15-31 against 8-16-32.

Widths are listed as the layers with weights, in order: stem, then per
block its first convolution, its second (the stream), its shortcut
convolution (blocks 2 and 3), then the classifier (10).

Each `.tflite` file (`keras_ltp.export.tflite_bytes`) runs in LiteRT with
its default options (XNNPack), 1 thread, batch 1: median over rounds that
take turns between files.

    python -m benchmarks.width_latency            # about 1 minute

Writes benchmarks/results/width_latency.json.
"""

import argparse
import json
import os
import sys
import warnings

if not __package__:  # run as `python benchmarks/width_latency.py`: the imports below need the repository root
    sys.exit("Run it from the repository root: python -m benchmarks.width_latency " + " ".join(sys.argv[1:]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import _common  # noqa: E402
from benchmarks.tflite_delegates import timer  # noqa: E402
from examples.common.measure import multiply_adds  # noqa: E402
from keras_ltp import export  # noqa: E402

SOURCE = os.path.join(_common.RESULTS, "latency_coupled_seeds.json")
DENSE = [16, 16, 16, 32, 32, 32, 64, 64, 64, 10]


def small_resnet(widths):
    """The small ResNet's graph at `widths` (the order of the module docstring)."""
    stem, c1, s1, c2, s2, p2, c3, s3, p3, classes = widths
    if (stem, s2, s3) != (s1, p2, p3):
        raise ValueError(f"the layers meeting at an Add must have one width: {widths}")
    L = keras.layers

    def conv_bn(x, filters, strides=1, relu=True, kernel=3):
        x = L.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        return L.ReLU()(x) if relu else x

    inputs = keras.Input((28, 28, 1))
    x = conv_bn(inputs, stem)
    x = L.ReLU()(L.Add()([conv_bn(conv_bn(x, c1), s1, relu=False), x]))
    for first, stream in ((c2, s2), (c3, s3)):
        y = conv_bn(conv_bn(x, first, 2), stream, relu=False)
        x = L.ReLU()(L.Add()([y, conv_bn(x, stream, 2, relu=False, kernel=1)]))
    return keras.Model(inputs, L.Dense(classes)(L.GlobalAveragePooling2D()(x)))


def variants(source):
    """`{name: widths}`: the models of the module docstring."""
    with open(source) as f:
        rows = json.load(f)["rows"]
    l1 = next(row["widths"] for row in rows if row["model"] == "l1_filters")  # one fraction for every seed
    l1_stream = l1[7]
    found = {"dense": DENSE, "l1_filters": l1}
    for row in rows:
        if row["model"] != "ltp_channel":
            continue
        seed, widths = row["seed"], row["widths"]
        found[f"ltp_channel seed {seed}"] = widths
        found[f"ltp_channel seed {seed}, last stream {l1_stream}"] = widths[:7] + [l1_stream, l1_stream, 10]
        found[f"ltp_channel seed {seed}, rounded up to 8"] = [-(-w // 8) * 8 for w in widths[:-1]] + [10]
        cut = [w - w % 16 if w % 16 in (1, 2) else w for w in widths[:-1]] + [10]
        if cut != widths:
            found[f"ltp_channel seed {seed}, 1-2 over 16 cut"] = cut
    found["odd widths 7-15-31"] = [7, 7, 7, 15, 15, 15, 31, 31, 31, 10]
    found["aligned widths 8-16-32"] = [8, 8, 8, 16, 16, 16, 32, 32, 32, 10]
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=SOURCE, help="the latency result whose widths are timed")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--per-round", type=int, default=30)
    _common.add_results_option(parser)
    args = parser.parse_args(argv)
    result = _common.record("width_latency", argv, source=os.path.basename(args.source))
    keras.utils.set_random_seed(0)
    models, runners = variants(args.source), {}
    rows = []
    for name, widths in models.items():
        model = small_resnet(widths)
        with warnings.catch_warnings():  # "nothing was pruned": these are plain models
            warnings.simplefilter("ignore", UserWarning)
            content = export.tflite_bytes(model)
        runners[name], error = timer(content, False, args.per_round, threads=1)
        if error:
            raise RuntimeError(f"{name}: {error}")
        rows.append({"model": name, "widths": widths, "multiply_adds": multiply_adds(model)})
    samples = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            samples[name] += run()
    dense_ms = float(np.median(samples["dense"]) * 1e3)
    for row in rows:
        row["tflite_default_1t_ms"] = float(np.median(samples[row["model"]]) * 1e3)
        row["speedup"] = dense_ms / row["tflite_default_1t_ms"]
        row["ns_per_multiply_add"] = row["tflite_default_1t_ms"] * 1e6 / row["multiply_adds"]
    header = ["model", "widths", "multiply-adds", "LiteRT default, 1 thread", "ns per multiply-add"]
    print(
        _common.table(
            header,
            [
                [
                    r["model"],
                    "-".join(map(str, r["widths"])),
                    f"{r['multiply_adds']:,}",
                    f"{r['tflite_default_1t_ms']:.4f} ms ({r['speedup']:.2f}x)",
                    f"{r['ns_per_multiply_add']:.4f}",
                ]
                for r in rows
            ],
        )
    )
    result["rows"] = rows
    _common.write(result, args.results_dir)
    return result


if __name__ == "__main__":
    main()
