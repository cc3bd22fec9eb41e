"""Every `keras.applications` family (its smallest member), random weights at
a small input size, through prune -> fit -> strip -> .keras (safe mode) ->
SavedModel. The whole sweep is marked `sweep` (run with `--sweep`; CI
does); MobileNetV3Small is marked `slow` (run with `--slow`; CI does), and
the default run takes test_models.py's nested functional model instead."""

import keras
import numpy as np
import pytest
from hub_sweep import check_against_known, run_stages

A = keras.applications

# family -> (constructor, smallest input side it accepts)
FAMILIES = {
    "ConvNeXt": (A.ConvNeXtTiny, 32),
    "DenseNet": (A.DenseNet121, 32),
    "EfficientNet": (A.EfficientNetB0, 32),
    "EfficientNetV2": (A.EfficientNetV2B0, 32),
    "InceptionResNetV2": (A.InceptionResNetV2, 75),
    "InceptionV3": (A.InceptionV3, 75),
    "MobileNet": (A.MobileNet, 32),
    "MobileNetV2": (A.MobileNetV2, 32),
    "MobileNetV3": (A.MobileNetV3Small, 32),
    "NASNet": (A.NASNetMobile, 32),
    "ResNet": (A.ResNet50, 32),
    "ResNetV2": (A.ResNet50V2, 32),
    "VGG": (A.VGG16, 32),
    "Xception": (A.Xception, 71),
}
KNOWN = {}


def _check(family, tmp_path):
    make, side = FAMILIES[family]
    keras.utils.set_random_seed(0)
    model = make(input_shape=(side, side, 3), include_top=False, weights=None, pooling="avg")
    inputs = np.random.default_rng(0).uniform(0, 255, (2, side, side, 3)).astype("float32")
    results, _, stripped = run_stages(model, inputs, tmp_path)
    check_against_known(family, results, KNOWN.get(family, {}))
    return model, stripped


@pytest.mark.slow
def test_mobilenet_v3_prunes_trains_strips_saves_and_exports(tmp_path):
    model, stripped = _check("MobileNetV3", tmp_path)
    assert [type(layer) for layer in stripped.layers] == [type(layer) for layer in model.layers]


@pytest.mark.sweep
@pytest.mark.parametrize("family", sorted(set(FAMILIES) - {"MobileNetV3"}))
def test_every_application_prunes_trains_strips_saves_and_exports(family, tmp_path):
    _check(family, tmp_path)
