"""Prune a KerasHub BERT text classifier to a sparsity target, and export it.

Builds a small `keras_hub.models.BertTextClassifier` from a config (random
weights: no preset is downloaded), fine-tunes it dense, prunes it with LTP
inside `model.fit` steered by `SparsityTarget(--target)` (the embeddings
bounded to at most `--max-embedding-sparsity`), strips it (the result is a
`BertTextClassifier` again, which saves and loads as KerasHub's own), and
exports a SavedModel and a float32 `.tflite`.

Offline there is no text dataset shipped with a package we depend on, so by
default the data is GENERATED: token-id sequences whose label says whether
"positive" ids outnumber "negative" ones (a synthetic task, stated as such;
`examples/common/data.py`). With network access, `--tfds imdb_reviews`
trains on real movie reviews instead.

    python examples/text_bert.py
    python examples/text_bert.py --tfds imdb_reviews
"""

import argparse
import json
import os

from common import data
from common.options import HelpFormatter, add_tfds_option, add_verbose_option

from keras_ltp_cli import captured_native_output

VOCAB, LENGTH = 2000, 48


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    add_tfds_option(
        p, "the generated synthetic task described above (no text dataset is available offline)", "imdb_reviews"
    )
    p.add_argument("--dense-epochs", type=int, default=4, help="epochs of dense fine-tuning")
    p.add_argument("--prune-epochs", type=int, default=8, help="epochs of LTP pruning toward the target")
    p.add_argument("--target", type=float, default=0.8, help="fraction of the prunable weights to remove")
    p.add_argument(
        "--max-embedding-sparsity", type=float, default=0.75, help="never prune the token embeddings beyond this"
    )
    p.add_argument("--batch-size", type=int, default=64, help="batch size of both trainings")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of both trainings")
    p.add_argument("--out", default="runs/text_bert", help="folder for the models, exports and summary.json")
    p.add_argument("--seed", type=int, default=0, help="random seed of the weights and the shuffling")
    add_verbose_option(p)
    return p


def bert_classifier(classes):
    """A 2-layer BERT (hidden 64) with a classification head, from a config."""
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=64,
        intermediate_dim=128,
        max_sequence_length=LENGTH,
    )
    return keras_hub.models.BertTextClassifier(backbone, num_classes=classes, preprocessor=None, dropout=0.1)


def bert_inputs(token_ids):
    """BERT's input dict for token ids (0 pads)."""
    import numpy as np

    return {
        "token_ids": token_ids,
        "padding_mask": (token_ids != 0).astype("int32"),
        "segment_ids": np.zeros_like(token_ids),
    }


def run(args):
    import keras
    import numpy as np

    import keras_ltp

    progress = print if args.verbose else lambda *_: None
    fit_verbose = min(args.verbose, 2)
    keras.utils.set_random_seed(args.seed)
    if args.tfds:
        (x_train, y_train), (x_test, y_test) = data.tfds_text(args.tfds, VOCAB, LENGTH)
    else:
        print("Data: GENERATED token sequences (no text dataset is available offline); see --tfds.")
        (x_train, y_train), (x_test, y_test) = data.generated_sentiment(VOCAB, LENGTH)
    classes = int(y_train.max()) + 1
    train, test = bert_inputs(x_train), bert_inputs(x_test)
    os.makedirs(args.out, exist_ok=True)
    progress(f"Data: {len(x_train)} train / {len(x_test)} held-out sequences of {LENGTH} tokens, {classes} classes")

    def compiled(model):
        model.compile(
            keras.optimizers.Adam(args.lr),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        return model

    def accuracy(model):
        return float(model.evaluate(test, y_test, verbose=0, batch_size=256)[1])

    dense = compiled(bert_classifier(classes))
    progress(f"\n== Dense fine-tuning: {dense.count_params():,} parameters, {args.dense_epochs} epochs")
    dense.fit(train, y_train, batch_size=args.batch_size, epochs=args.dense_epochs, verbose=fit_verbose)
    dense_accuracy = accuracy(dense)

    pruned = compiled(keras_ltp.prune(dense, sparsity_bounds={"token_embedding": (0.0, args.max_embedding_sparsity)}))
    progress(f"\n== LTP toward {args.target:.0%} sparsity: {args.prune_epochs} epochs")
    pruned.fit(
        train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.prune_epochs,
        callbacks=[keras_ltp.callbacks.SparsityTarget(args.target), keras_ltp.callbacks.SparsityMonitor()],
        verbose=fit_verbose,
    )
    report = keras_ltp.sparsity(pruned)
    progress("\n" + str(report))
    pruned_accuracy = accuracy(pruned)

    stripped = keras_ltp.strip(pruned)
    stripped_path = os.path.join(args.out, "bert_stripped.keras")
    stripped.save(stripped_path)
    # Safe mode, keras_hub's own registration only; compile=False: a KerasHub task compiles itself.
    reloaded = keras.saving.load_model(stripped_path, compile=False)
    agreement = float(
        np.mean(np.argmax(reloaded.predict(test, verbose=0), 1) == np.argmax(pruned.predict(test, verbose=0), 1))
    )
    exports = {
        "SavedModel": keras_ltp.export.saved_model(stripped, os.path.join(args.out, "saved_model"), overwrite=True),
        "TFLite float32": keras_ltp.export.tflite(stripped, os.path.join(args.out, "model.tflite"), overwrite=True),
    }
    sample = {key: value[:200] for key, value in test.items()}
    tflite_error = float(
        np.abs(
            keras_ltp.export.run_tflite(exports["TFLite float32"], sample) - stripped.predict(sample, verbose=0)
        ).max()
    )
    print(
        f"\nDense accuracy {dense_accuracy:.4f} | pruned accuracy {pruned_accuracy:.4f} "
        f"({(pruned_accuracy - dense_accuracy) * 100:+.2f} points) | sparsity {report['sparsity']:.2%} | "
        f"embeddings {report['layers']['ltp_token_embedding']['sparsity']:.2%}"
    )
    print(
        f"Stripped: {type(stripped).__name__} in {stripped_path} (reloaded, same class for {agreement:.1%}); "
        f"float32 .tflite vs Keras on 200 held-out inputs: max |error| {tflite_error:.2e}"
    )
    for kind, path in exports.items():
        print(f"{kind:<16} {path}")
    summary = {
        "args": vars(args),
        "dense_accuracy": dense_accuracy,
        "pruned_accuracy": pruned_accuracy,
        "sparsity": report["sparsity"],
        "per_layer_sparsity": {name: row["sparsity"] for name, row in report["layers"].items()},
        "stripped_class": type(stripped).__name__,
        "reloaded_agreement": agreement,
        "tflite_float32_max_abs_error": tflite_error,
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"Saved {args.out}/summary.json")
    return summary


def main(argv=None):
    args = parser().parse_args(argv)
    with captured_native_output(enabled=args.verbose < 3):
        return run(args)


if __name__ == "__main__":
    main()
