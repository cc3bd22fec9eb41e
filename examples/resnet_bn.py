"""Prune a small ResNet with BatchNorm after every convolution.

The case L1/L2 pruning cannot handle (batch-norm makes the layer's output
invariant to the scale of its weights) and LTP's soft L0 can. Prints the
sparsity of the convolutions and the held-out accuracy before and after.

    python examples/resnet_bn.py
    python examples/resnet_bn.py --tfds mnist
"""

from common import launch, options

# Keras is imported inside the functions, not at the top: --help must not wait for it.


def conv_bn(x, filters, strides=1, relu=True):
    from keras import layers as L

    x = L.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    return L.ReLU()(x) if relu else x


def residual_block(x, filters, strides=1):
    from keras import layers as L

    shortcut = x
    y = conv_bn(x, filters, strides)
    y = conv_bn(y, filters, relu=False)
    if strides != 1 or shortcut.shape[-1] != filters:
        shortcut = L.Conv2D(filters, 1, strides=strides, use_bias=False)(shortcut)
        shortcut = L.BatchNormalization()(shortcut)
    return L.ReLU()(L.Add()([y, shortcut]))


def small_resnet(input_shape, classes, widths=(16, 32, 64)):
    import keras

    L = keras.layers
    inputs = keras.Input(input_shape)
    x = conv_bn(inputs, widths[0])
    for i, width in enumerate(widths):
        x = residual_block(x, width, strides=1 if i == 0 else 2)
    x = L.GlobalAveragePooling2D()(x)
    outputs = L.Dense(classes)(x)
    return keras.Model(inputs, outputs, name="small_resnet")


def conv_sparsity(report):
    kept = sum(w["kept"] for w in report["weights"] if "conv2d" in w["weight"])
    total = sum(w["total"] for w in report["weights"] if "conv2d" in w["weight"])
    return "conv_sparsity", 1.0 - kept / total


def main(argv=None):
    # Cooler than the LeNet default: with batch-norm after every convolution a
    # hot soft mask trains statistics the hard-masked network does not match.
    args = options.parser(__doc__, out="runs/resnet", dense_epochs=12, t_start=0.6, t_end=0.1).parse_args(argv)
    return launch.run(small_resnet, args, sparsity_of=conv_sparsity)


if __name__ == "__main__":
    main()
