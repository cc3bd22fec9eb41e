"""Prune a small text classifier: Embedding + a Transformer block (MultiHeadAttention).

Offline there is no text dataset shipped with a package we depend on, so by
default this example GENERATES its data: sequences of random token ids whose
label says whether "positive" tokens (ids 2-41) outnumber "negative" ones (ids
42-81). It is a synthetic task, stated as such; it exercises the Embedding,
attention projections and Dense layers of a real text model. With network
access, `--tfds imdb_reviews` trains on real movie reviews instead.

    python examples/text_transformer.py
    python examples/text_transformer.py --tfds imdb_reviews
"""

import functools

import numpy as np
from common import launch, options
from common.architectures import text_transformer

# Keras is imported inside the functions, not at the top: --help must not wait for it.
VOCAB, LENGTH = 2000, 48


def generated_sentiment(n=6000, seed=0):
    """The synthetic task described in the module docstring, int32 tokens."""
    rng = np.random.default_rng(seed)
    x = rng.integers(2, VOCAB, size=(n, LENGTH), dtype="int32")
    sentiment = rng.integers(0, 2, size=n)
    for row, positive in zip(x, sentiment):
        marked = rng.choice(LENGTH, size=rng.integers(3, 8), replace=False)
        row[marked] = rng.integers(2, 42, size=len(marked)) if positive else rng.integers(42, 82, size=len(marked))
    positives = ((x >= 2) & (x < 42)).sum(1)
    negatives = ((x >= 42) & (x < 82)).sum(1)
    keep = positives != negatives
    x, y = x[keep], (positives > negatives)[keep].astype("int64")
    split = int(0.8 * len(x))
    return (x[:split], y[:split]), (x[split:], y[split:])


def tfds_text(name, limit=20000):
    """A tensorflow-datasets text dataset, vectorized to `LENGTH` token ids."""
    import keras
    import tensorflow_datasets as tfds

    (train_text, y_train), (test_text, y_test) = (
        tfds.as_numpy(tfds.load(name, split=split, batch_size=-1, as_supervised=True)) for split in ("train", "test")
    )
    vectorize = keras.layers.TextVectorization(max_tokens=VOCAB, output_sequence_length=LENGTH)
    vectorize.adapt(train_text[:limit])
    to_ids = lambda text: np.asarray(vectorize(text), dtype="int32")  # noqa: E731
    return (to_ids(train_text[:limit]), y_train[:limit]), (to_ids(test_text[:limit]), y_test[:limit])


def load_data(args):
    """`--tfds NAME` when given, else the generated task (said so on stdout)."""
    if args.tfds:
        return tfds_text(args.tfds)
    print("Data: GENERATED token sequences (no text dataset is available offline); see --tfds.")
    return generated_sentiment()


def main(argv=None):
    args = options.parser(
        __doc__,
        data="the generated synthetic task described above (no text dataset is available offline)",
        tfds_example="imdb_reviews",
        out="runs/text_transformer",
        dense_epochs=8,
        prune_epochs=15,
    ).parse_args(argv)
    return launch.run(functools.partial(text_transformer, vocab=VOCAB), args, load_data=load_data)


if __name__ == "__main__":
    main()
