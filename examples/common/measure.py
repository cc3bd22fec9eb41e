"""What the speed tables count: multiply-adds per example.

Imports keras_ltp (and with it Keras) only when called, so the examples'
`--help` stays fast.
"""

import math


def multiply_adds(model):
    """Multiply-adds per example of a flat model's layers with prunable
    weights: each weight once per output position."""
    from keras_ltp.registry import prunable_count

    total = 0
    for layer in model.layers:
        count = prunable_count(layer)
        if count:
            total += count * math.prod(d for d in layer.output.shape[1:-1] if d is not None)
    return int(total)
