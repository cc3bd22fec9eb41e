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

from common import data, launch, options
from common.architectures import text_transformer

# Keras is imported inside the functions, not at the top: --help must not wait for it.
VOCAB, LENGTH = 2000, 48


def load_data(args):
    """`--tfds NAME` when given, else the generated task (said so on stdout)."""
    if args.tfds:
        return data.tfds_text(args.tfds, VOCAB, LENGTH)
    print("Data: GENERATED token sequences (no text dataset is available offline); see --tfds.")
    return data.generated_sentiment(VOCAB, LENGTH)


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
