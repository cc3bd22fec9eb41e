"""prune(include=..., exclude=...): which layers are pruned, by name glob and class."""

import keras
import pytest

import keras_ltp

layers = keras.layers


def _model():
    inner = keras.Sequential([keras.Input((8,)), layers.Dense(8, name="block_1_ffn")], name="block_1")
    x = keras.Input((4,))
    h = layers.Dense(8, name="embed")(x)
    h = inner(h)
    h = layers.Dense(8, name="block_2_ffn")(h)
    h = layers.LayerNormalization(name="norm")(h)
    return keras.Model(x, layers.Dense(3, name="head")(h))


def _wrapped(model):
    return sorted(w.layer.name for w in keras_ltp.iter_wrappers(model))


def test_include_and_exclude_choose_layers_by_glob_and_class():
    assert _wrapped(keras_ltp.prune(_model(), include="block_*")) == ["block_1_ffn", "block_2_ffn"]
    pruned = keras_ltp.prune(_model(), exclude=["embed", "head"])
    assert _wrapped(pruned) == ["block_1_ffn", "block_2_ffn"]
    assert pruned.ltp_skipped == {"embed": "excluded by 'embed'", "head": "excluded by 'head'"}
    both = keras_ltp.prune(_model(), include=layers.Dense, exclude="*_2_*")
    assert _wrapped(both) == ["block_1_ffn", "embed", "head"]
    assert both.ltp_skipped == {"block_2_ffn": "excluded by '*_2_*'"}
    only = keras_ltp.prune(_model(), include=["head"], layer_options=lambda layer: {"l0_strength": 3.0})
    assert (
        _wrapped(only) == ["head"] and float(keras.ops.convert_to_numpy(only.get_layer("ltp_head").l0_strength)) == 3.0
    )
    assert only.ltp_skipped["embed"] == "not in include"


def test_the_normalizer_counts_only_the_pruned_layers():
    pruned = keras_ltp.prune(_model(), exclude="embed")
    # block_1_ffn 64 + block_2_ffn 64 + head 24 kernel weights; embed's 32 left out.
    assert {w.l0_normalizer for w in keras_ltp.iter_wrappers(pruned)} == {152.0}


def test_selectors_that_match_nothing_or_are_not_globs_or_classes_are_refused():
    with pytest.raises(ValueError, match=r"'encoder_\*' matches no layer.*embed, block_1_ffn, block_2_ffn, norm, head"):
        keras_ltp.prune(_model(), include="encoder_*")
    with pytest.raises(ValueError, match="exclude=.*Conv2D matches no layer"):
        keras_ltp.prune(_model(), exclude=layers.Conv2D)
    with pytest.raises(TypeError, match="layer-name glob .* or a keras.layers.Layer subclass, got 3"):
        keras_ltp.prune(_model(), exclude=[3])
    with pytest.raises(ValueError, match="include, exclude and layer_options left none"):
        keras_ltp.prune(_model(), include="norm")
    with pytest.raises(ValueError, match="'fc', the only layer given to prune\\(\\), is excluded by 'fc'"):
        keras_ltp.prune(layers.Dense(2, name="fc"), exclude="fc")
