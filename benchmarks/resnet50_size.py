"""ResNet50-sized network: training step time and peak memory, LTP vs dense.

`keras.applications.ResNet50(weights=None, input_shape=(S, S, 3), classes=10)`
(23.6M parameters, 23.5M of them in the 54 convolution/dense kernels that LTP
prunes) and `keras_ltp.prune()` of it, compiled alike (Adam or SGD, sparse
categorical cross-entropy on logits). The data is *generated*: uniform random
images and random labels of 10 classes (speed and memory do not depend on it).

Step time (this process): both models are built, then warmed up (the first
steps trace the graph), then timed in alternating chunks of `--steps`
`train_on_batch` steps, dense and LTP in turn (the order flips every repeat),
so machine noise hits both alike. Reports the median seconds per step of each
and their ratio, the median of the ratios of back-to-back chunks, and the
ratio of the fastest chunks (busy spells on a shared machine make chunk times
bimodal). Goal: LTP / dense <= 1.25.

Memory (one fresh subprocess per model, so the two share no allocator): the
same build, compile, warm-up and `--steps` training steps, recording

* process peak RSS (`VmHWM` of /proc/self/status on Linux, else `ru_maxrss`;
  whole process: import, build, tracing, steps);
* the RSS increment of training: that peak minus the RSS after build+compile,
  before the first step (optimizer slots, traced graph, step buffers);
* peak tensor memory of the TensorFlow allocator during the steady-state steps
  (`tf.config.experimental.get_memory_info(device)["peak"]`, reset after the
  warm-up), on `GPU:0` if a GPU is visible, else `CPU:0`, and the transient
  part of it (peak minus the bytes held before the steps: weights, optimizer
  slots), i.e. what one step allocates.

Goal: LTP / dense <= 1.3 in memory.

    python -m benchmarks.resnet50_size                  # 64x64, batches 32 and 8: 5-9 min on 2 cores
    python -m benchmarks.resnet50_size --batch-size 32 --repeats 5
    python -m benchmarks.resnet50_size --quick          # smoke test, ~2 min

Writes benchmarks/results/resnet50_size.json (machine, settings, raw numbers).
"""

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time

if not __package__:  # run as `python benchmarks/resnet50_size.py`: the imports below need the repository root
    sys.exit("Run it from the repository root: python -m benchmarks.resnet50_size " + " ".join(sys.argv[1:]))

from benchmarks import _common  # noqa: E402 - imports no Keras (the memory worker measures from the start)

TIME_GOAL, MEMORY_GOAL = 1.25, 1.3
MB = 2**20


def _rss_bytes(field="VmRSS"):
    """Current (`VmRSS`) or peak (`VmHWM`) resident set size, in bytes (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _maxrss_bytes():
    """Peak RSS of this process: `VmHWM` on Linux, else `ru_maxrss`.

    Not `ru_maxrss` on Linux: it keeps the peak of the image a process was
    exec'd from, so a worker spawned by a large parent would report the
    parent's peak.
    """
    peak = _rss_bytes("VmHWM")
    if peak is not None:
        return peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # kB on Linux


def _tf_device():
    import tensorflow as tf

    return "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"


def _tf_memory(device):
    import tensorflow as tf

    try:
        return tf.config.experimental.get_memory_info(device)
    except (ValueError, RuntimeError):
        return None


def _batches(input_size, batch_size, count=4, seed=0):
    """`count` batches of generated data: uniform images, random labels."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return [
        (
            rng.random((batch_size, input_size, input_size, 3), dtype=np.float32),
            rng.integers(0, 10, size=(batch_size,)).astype("int32"),
        )
        for _ in range(count)
    ]


def build(kind, input_size, optimizer, learning_rate, seed=0):
    """The dense ResNet50 or `keras_ltp.prune()` of it, compiled.

    For `kind="ltp"` the dense model it was pruned from is dropped, so the
    process holds only the model that trains.
    """
    import keras

    import keras_ltp

    keras.utils.set_random_seed(seed)
    model = keras.applications.ResNet50(
        weights=None, input_shape=(input_size, input_size, 3), classes=10, classifier_activation=None
    )
    if kind == "ltp":
        dense, model = model, keras_ltp.prune(model)
        del dense
        gc.collect()
    compile_model(model, optimizer, learning_rate)
    return model


def compile_model(model, optimizer, learning_rate):
    import keras

    opt = (
        keras.optimizers.Adam(learning_rate)
        if optimizer == "adam"
        else keras.optimizers.SGD(learning_rate, momentum=0.9)
    )
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))


def train_steps(model, batches, steps, start=0):
    for i in range(steps):
        x, y = batches[(start + i) % len(batches)]
        model.train_on_batch(x, y)  # returns the loss as a Python float: waits for the step


# -- memory: one fresh process per model ----------------------------------------


def memory_worker(kind, args):
    """Runs in its own process; prints one JSON line of memory figures."""
    rss_start = _rss_bytes()
    import keras  # noqa: F401  (imports TensorFlow)

    device = _tf_device()
    batches = _batches(args.input_size, args.batch_size)
    rss_import = _rss_bytes()
    model = build(kind, args.input_size, args.optimizer, args.lr)
    gc.collect()
    rss_base = _rss_bytes()
    tf_base = _tf_memory(device)
    start = time.perf_counter()
    train_steps(model, batches, args.warmup)  # traces the train step
    warmup_s = time.perf_counter() - start
    rss_after_warmup = _rss_bytes()
    peak_after_warmup = _maxrss_bytes()
    import tensorflow as tf

    try:
        tf.config.experimental.reset_memory_stats(device)
    except (ValueError, RuntimeError):
        pass
    tf_before_steps = _tf_memory(device)
    train_steps(model, batches, args.steps, start=args.warmup)
    tf_steps = _tf_memory(device)
    peak = _maxrss_bytes()
    row = {
        "kind": kind,
        "device": device,
        "rss_start_bytes": rss_start,
        "rss_after_import_bytes": rss_import,
        "rss_after_build_compile_bytes": rss_base,
        "rss_after_warmup_bytes": rss_after_warmup,
        "peak_rss_after_warmup_bytes": peak_after_warmup,
        "peak_rss_bytes": peak,
        "rss_end_bytes": _rss_bytes(),
        "train_rss_increment_bytes": peak - rss_base,
        "tf_allocator_after_build": tf_base,
        "tf_allocator_before_steps": tf_before_steps,
        "tf_allocator_steps": tf_steps,
        "warmup_s": warmup_s,
        "warmup_steps": args.warmup,
        "steps": args.steps,
    }
    if tf_steps is not None and tf_before_steps is not None:
        row["tensor_peak_bytes"] = tf_steps["peak"]
        row["tensor_step_transient_bytes"] = tf_steps["peak"] - tf_before_steps["current"]
    print("MEMORY_JSON " + json.dumps(row), flush=True)


def measure_memory(kind, args, batch_size):
    cmd = [
        sys.executable, "-m", "benchmarks.resnet50_size", "--memory-worker", kind,
        "--input-size", str(args.input_size), "--batch-size", str(batch_size),
        "--steps", str(args.steps), "--warmup", str(args.warmup),
        "--optimizer", args.optimizer, "--lr", str(args.lr),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=_common.ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("MEMORY_JSON "):
            return json.loads(line[len("MEMORY_JSON ") :])
    raise RuntimeError(f"memory worker for {kind!r} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")


# -- step time: both models in this process, interleaved ---------------------------


def measure_time(args, batch_size):
    import keras_ltp

    batches = _batches(args.input_size, batch_size)
    models = {kind: build(kind, args.input_size, args.optimizer, args.lr) for kind in ("dense", "ltp")}
    warmup_s = {}
    for kind, model in models.items():
        start = time.perf_counter()
        train_steps(model, batches, args.warmup)
        warmup_s[kind] = time.perf_counter() - start
    times = {"dense": [], "ltp": []}  # seconds per step, one value per chunk
    for repeat in range(args.repeats):
        order = ("dense", "ltp") if repeat % 2 == 0 else ("ltp", "dense")
        for kind in order:
            start = time.perf_counter()
            train_steps(models[kind], batches, args.steps, start=repeat)
            times[kind].append((time.perf_counter() - start) / args.steps)
    dense_s, ltp_s = statistics.median(times["dense"]), statistics.median(times["ltp"])
    # Shared machines switch between quiet and busy spells, so the chunk times
    # are bimodal; two estimators less sensitive to that than the medians:
    # chunks run back to back (one repeat) mostly share a spell; minima are
    # the quiet-machine times.
    paired = [ltp / dense for dense, ltp in zip(times["dense"], times["ltp"])]
    info = {
        "parameters": models["dense"].count_params(),
        "prunable_weights": keras_ltp.sparsity(models["ltp"])["total"],
        "pruned_tensors": len(keras_ltp.sparsity(models["ltp"])["weights"]),
        "jit_compile": bool(models["dense"].jit_compile),
    }
    del models
    gc.collect()
    return info, {
        "dense_step_s": dense_s,
        "ltp_step_s": ltp_s,
        "ratio": ltp_s / dense_s,
        "ratio_paired_median": statistics.median(paired),
        "ratio_of_minima": min(times["ltp"]) / min(times["dense"]),
        "warmup_s": warmup_s,
        "raw_step_seconds": times,
    }


def _ratio(mem, key):
    dense, ltp = mem["dense"].get(key), mem["ltp"].get(key)
    return ltp / dense if dense and ltp is not None else None


def run_config(args, batch_size):
    memory = {kind: measure_memory(kind, args, batch_size) for kind in ("dense", "ltp")}
    info, timing = measure_time(args, batch_size)
    ratios = {
        "time": timing["ratio"],
        "peak_rss": _ratio(memory, "peak_rss_bytes"),
        "train_rss_increment": _ratio(memory, "train_rss_increment_bytes"),
        "tensor_peak": _ratio(memory, "tensor_peak_bytes"),
        "tensor_step_transient": _ratio(memory, "tensor_step_transient_bytes"),
    }
    return {
        "input_size": args.input_size,
        "batch_size": batch_size,
        **info,
        **timing,
        "memory": memory,
        "ratios": ratios,
    }


def _mb(x):
    return f"{x / MB:,.0f}" if x is not None else "n/a"


def _x(r, goal=None):
    if r is None:
        return "n/a"
    return f"{r:.2f}x" + ("" if goal is None else (" ok" if r <= goal else " MISSED"))


def print_table(rows):
    for row in rows:
        m = row["memory"]
        print(f"\nResNet50 {row['input_size']}x{row['input_size']}x3, batch {row['batch_size']}, "
              f"{row['parameters']:,} parameters, {row['prunable_weights']:,} pruned weights in "
              f"{row['pruned_tensors']} tensors; memory device {m['dense']['device']}")  # fmt: skip
        lines = [
            (
                "median step time (s)",
                f"{row['dense_step_s']:.3f}",
                f"{row['ltp_step_s']:.3f}",
                _x(row["ratio"], TIME_GOAL),
            ),
            ("  median of back-to-back chunk ratios", "", "", _x(row["ratio_paired_median"], TIME_GOAL)),
            (
                "  fastest chunk (s)",
                f"{min(row['raw_step_seconds']['dense']):.3f}",
                f"{min(row['raw_step_seconds']['ltp']):.3f}",
                _x(row["ratio_of_minima"], TIME_GOAL),
            ),
            (
                "process peak RSS (MB)",
                _mb(m["dense"]["peak_rss_bytes"]),
                _mb(m["ltp"]["peak_rss_bytes"]),
                _x(row["ratios"]["peak_rss"], MEMORY_GOAL),
            ),
            (
                "RSS increment of training (MB)",
                _mb(m["dense"]["train_rss_increment_bytes"]),
                _mb(m["ltp"]["train_rss_increment_bytes"]),
                _x(row["ratios"]["train_rss_increment"], MEMORY_GOAL),
            ),
            (
                "peak tensor memory, steady step (MB)",
                _mb(m["dense"].get("tensor_peak_bytes")),
                _mb(m["ltp"].get("tensor_peak_bytes")),
                _x(row["ratios"]["tensor_peak"], MEMORY_GOAL),
            ),
            (
                "  of which allocated by the step (MB)",
                _mb(m["dense"].get("tensor_step_transient_bytes")),
                _mb(m["ltp"].get("tensor_step_transient_bytes")),
                _x(row["ratios"]["tensor_step_transient"]),
            ),
        ]
        print(_common.table(["measure", "dense", "LTP", "LTP/dense"], lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-size", type=int, default=64, help="S of the S x S x 3 input (>= 32)")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[32, 8], help="one configuration per value")
    parser.add_argument("--steps", type=int, default=5, help="train steps per timed chunk, and in each memory run")
    parser.add_argument("--repeats", type=int, default=11, help="timed chunks per model")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (the first one traces)")
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--quick", action="store_true", help="smoke test: 32x32, batch 8, 2 steps, 3 repeats")
    _common.add_results_option(parser)
    parser.add_argument("--memory-worker", choices=["dense", "ltp"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.input_size, args.batch_size, args.steps, args.repeats = 32, [8], 2, 3
    if args.memory_worker:
        args.batch_size = args.batch_size[0]
        return memory_worker(args.memory_worker, args)

    result = _common.record("resnet50_size", argv)  # at the start: the git state of what this run imports
    rows = [run_config(args, batch_size) for batch_size in args.batch_size]
    print_table(rows)
    result.update(
        goal=f"ltp / dense <= {TIME_GOAL} in step time, <= {MEMORY_GOAL} in memory",
        model=(
            "keras.applications.ResNet50(weights=None, input_shape=(S, S, 3), classes=10, classifier_activation=None)"
        ),
        data="generated: uniform random images in [0, 1), random labels of 10 classes (4 batches, cycled)",
        settings={
            "input_size": args.input_size,
            "batch_sizes": args.batch_size,
            "steps_per_chunk": args.steps,
            "repeats": args.repeats,
            "warmup_steps": args.warmup,
            "optimizer": args.optimizer,
            "learning_rate": args.lr,
            "loss": "SparseCategoricalCrossentropy(from_logits=True)",
            "prune_options": "keras_ltp.prune() defaults",
            "timing": "train_on_batch, alternating chunks, order flipped every repeat; medians of s/step per chunk",
            "memory": "one fresh subprocess per model; peak RSS = VmHWM; TF allocator peak reset after warm-up",
            "memory_device": rows[0]["memory"]["dense"]["device"],
        },
        load_average_end=os.getloadavg(),
        results=rows,
    )
    _common.write(result, args.results_dir)
    return result


if __name__ == "__main__":
    main()
