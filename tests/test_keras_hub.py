"""KerasHub backbones and tasks, built offline from small configs, through
prune -> fit -> strip -> .keras (safe mode) -> SavedModel.

The sweep over every family (`tests/hub_text_families.py`,
`tests/hub_vision_families.py`) is marked `sweep`: run with `--sweep`
(CI does). The families that exercise each copying route are marked
`slow` (run with `--slow`; CI does): a repaired config (ViT), a build
replayed from the first call (DebertaV3), a keyword argument mixing tensors
and None (T5), a layer whose get_config() raises, copied from the whole
model (Llama), and a sparse-marked input spec (Gemma). The default run takes
those routes on plain Keras models (test_copying.py) and the tied-embedding
GPT-2 here.
"""

import hub_text_families
import hub_vision_families
import keras
import numpy as np
import pytest
from hub_sweep import assert_same_outputs, check_against_known, run_stages

import keras_ltp

keras_hub = pytest.importorskip("keras_hub")

FAMILIES = {**hub_text_families.CONFIGS, **hub_vision_families.CONFIGS}

# What fails, at which stage, and why: each is a bug in keras-hub 0.32 or
# keras 3.15, not in keras_ltp. The sweep fails if one of these starts to
# work, so the table (and the README's) stays true.
_GET_CONFIG_RAISES = "has no attribute"  # the layer's get_config() reads an attribute it never sets
_NOT_DESERIALIZED = "could not be deserialized"  # a layer's config does not rebuild it in a plain Functional
KNOWN = {
    "Llama": {"save_pruned": f"{_GET_CONFIG_RAISES} 'rope_scaling_factor'"},
    "Llama3": {"save_pruned": f"{_GET_CONFIG_RAISES} 'rope_scaling_factor'"},
    "DeiT": {"save_pruned": f"{_GET_CONFIG_RAISES} 'key_dim'"},
    # RelativeEmbedding (left dense) does not build its layer norm from its build config.
    "DebertaV3": {"save_pruned": "rel_embeddings_layer_norm"},
    # Neither its encoder blocks' build config nor a replay of their first call
    # (what keras_ltp saves for such layers) builds the attention's spatial-reduction conv.
    "MiT": {"save_pruned": "expected 9 variables, but received 10"},
    # Gemma3VisionOutput.get_config() returns None.
    "T5Gemma2": {"save_pruned": "should return a dict"},
    # SwinTransformer blocks keep the LayerNormalization class, not an instance, in their config.
    "SwinTransformer": {"save_pruned": "missing 1 required positional argument"},
    "Flux": {"save_pruned": "non-serializable"},
    "StableDiffusion3": {"save_pruned": _NOT_DESERIALIZED},
    # A constant tensor argument in the graph is not deserialized on load (keras).
    "DFine": {"save_pruned": "unsupported type", "saved_model": "non-Tensor value"},
    "RWKV7": {"saved_model": "Could not export"},
    # Gated delta-net layers do not trace into a SavedModel (their own code).
    "Qwen3_5": {"saved_model": "Could not export"},
    "Qwen3_5Moe": {"saved_model": "Could not export"},
    # FeaturePyramidBackbone is a base class; a bare one does not rebuild from its config.
    "FeaturePyramid": {
        "save_pruned": _NOT_DESERIALIZED,
        "save_stripped": _NOT_DESERIALIZED,
        "shrink": _NOT_DESERIALIZED,  # nothing to remove: the stripped backbone, which does not reload
    },
    # keras.layers.Resizing (call default training=True) leaks training=True to the
    # layers after it in inference (keras-team/keras#23166, fixed after keras 3.15):
    # the wrappers then apply soft masks in inference.
    "DeepLabV3": {"prune": "pruned copy before training"},
    "SegFormer": {"prune": "pruned copy before training"},
    # Not diagnosed (a plain Functional of its layers does not reload).
    "Gemma3n": {"save_pruned": _NOT_DESERIALIZED},
    # Its logits compare every image with every text of the batch; run_tflite runs one example at a time.
    "SigLIP": {"tflite": "the .tflite output differs"},
    # The sweep's own training head: an output's symbolic rank (3) is not its rank when run (2).
    # Its DETR decoder holds the box head that the backbone's graph also calls, but builds it from its
    # own arguments (its config does not write it out): a plain Functional file cannot restore the
    # sharing, and keras_ltp refuses to write one that would untie it (the stripped model saves).
    "SAM3PromptableConcept": {"fit": "Invalid reduction dimension", "save_pruned": "does not write that layer"},
}

# TensorFlow 2.21 aborts the whole process (memory corruption in the gradient)
# training even the unpruned model: its thresholds are set instead of trained.
NOT_TRAINED = {"Gemma3n"}

FAST = ("Bert", "Gemma", "ViT", "Llama", "T5", "DebertaV3")


def _check(family, tmp_path):
    model, inputs = FAMILIES[family]()
    results, _, stripped = run_stages(model, inputs, tmp_path, train=family not in NOT_TRAINED)
    check_against_known(family, results, KNOWN.get(family, {}))
    return model, stripped


@pytest.mark.slow
@pytest.mark.parametrize("family", FAST)
def test_family_prunes_trains_strips_saves_and_exports(family, tmp_path):
    model, stripped = _check(family, tmp_path)
    # A backbone comes back from strip() as its own class, usable as before.
    assert type(stripped) is type(model)


@pytest.mark.sweep
@pytest.mark.parametrize("family", sorted(set(FAMILIES) - set(FAST)))
def test_every_family_prunes_trains_strips_saves_and_exports(family, tmp_path):
    _check(family, tmp_path)


def _tiny_gpt2():
    return keras_hub.models.GPT2Backbone(
        vocabulary_size=64, num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=16
    )


def _token_inputs(vocabulary=64, length=8):
    rng = np.random.default_rng(0)
    return {
        "token_ids": rng.integers(1, vocabulary, (2, length)).astype("int32"),
        "padding_mask": np.ones((2, length), "int32"),
    }


def test_tied_embeddings_get_one_threshold_and_one_mask_for_both_uses(tmp_path):
    lm = keras_hub.models.GPT2CausalLM(backbone=_tiny_gpt2(), preprocessor=None)
    inputs = _token_inputs()
    pruned = keras_ltp.prune(lm, l0_strength=5.0)
    embedding = [w for w in keras_ltp.iter_wrappers(pruned) if w.layer.name == "token_embedding"]
    assert len(embedding) == 1  # the input lookup and the output projection share it
    (wrapper,) = embedding
    assert len(wrapper.thresholds) == 1 and len(wrapper.pruned_weights) == 1
    assert_same_outputs(pruned(inputs), lm(inputs), "pruned causal LM")
    wrapper.thresholds[0].assign(0.02)
    table = keras.ops.convert_to_numpy(wrapper.pruned_weights[0].value)
    mask = table**2 > 0.02 * wrapper.threshold_gain * np.mean(table**2)
    assert 0.0 < mask.mean() < 1.0
    # Both uses see the masked table: logits = hidden @ (table * mask).T (numpy).
    hidden = pruned.get_layer("gpt2_backbone")(inputs)
    expected = keras.ops.convert_to_numpy(hidden) @ (table * mask).T
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pruned(inputs)), expected, atol=1e-4)
    stripped = keras_ltp.strip(pruned)
    assert type(stripped) is keras_hub.models.GPT2CausalLM
    np.testing.assert_array_equal(
        stripped.backbone.token_embedding.embeddings.numpy(), table * mask
    )  # one table, so the projection is masked too
    assert_same_outputs(stripped(inputs), pruned(inputs), "stripped causal LM")


def test_a_task_s_preprocessor_and_its_vocabulary_survive_strip():
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox"]
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.models.BertTokenizer(vocabulary=vocabulary), sequence_length=8
    )
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary),
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=8,
    )
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=preprocessor)
    stripped = keras_ltp.strip(keras_ltp.prune(classifier))
    assert type(stripped) is keras_hub.models.BertTextClassifier
    assert stripped.preprocessor.tokenizer.get_vocabulary() == vocabulary
    features = preprocessor(["the quick brown fox"])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(stripped(features)), keras.ops.convert_to_numpy(classifier(features)), atol=1e-5
    )
    assert stripped.predict(["the quick brown fox"], verbose=0).shape == (1, 2)


@pytest.mark.slow
def test_a_classifier_task_prunes_and_strips_to_its_class(tmp_path):
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=64, num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=16
    )
    classifier = keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=3, preprocessor=None)
    inputs = dict(_token_inputs(), segment_ids=np.zeros((2, 8), "int32"))
    results, pruned, stripped = run_stages(classifier, inputs, tmp_path)
    check_against_known("BertTextClassifier", results, {})
    assert type(stripped) is keras_hub.models.BertTextClassifier
    assert "ltp_logits" in [layer.name for layer in pruned.layers]


def test_lora_factors_keep_training_while_the_base_kernel_is_pruned():
    backbone = _tiny_gpt2()
    backbone.enable_lora(rank=2)
    inputs = _token_inputs()
    pruned = keras_ltp.prune(backbone, l0_strength=5.0)
    lora = [v for v in pruned.trainable_weights if "lora" in v.path]
    assert lora, "the LoRA factors are trainable in the pruned model"
    pruned_names = {w.path for wrapper in keras_ltp.iter_wrappers(pruned) for w in wrapper.pruned_weights}
    assert not any("lora" in name for name in pruned_names)  # the factors stay dense
    assert any(name.endswith("query/kernel") for name in pruned_names)  # the frozen base kernel is pruned
    before = [keras.ops.convert_to_numpy(v) for v in lora]
    head = keras.Model(pruned.inputs, keras.ops.mean(keras.ops.square(pruned.outputs[0]), axis=(1, 2)))
    head.compile(keras.optimizers.Adam(0.05), "mse", run_eagerly=True)
    head.fit(inputs, np.ones((2,), "float32"), epochs=2, batch_size=2, verbose=0)
    assert any(not np.array_equal(b, keras.ops.convert_to_numpy(v)) for b, v in zip(before, lora))
    stripped = keras_ltp.strip(pruned)
    assert type(stripped) is keras_hub.models.GPT2Backbone
    assert any("lora" in v.path for v in stripped.weights)
    assert_same_outputs(stripped(inputs), pruned(inputs), "stripped LoRA backbone")
