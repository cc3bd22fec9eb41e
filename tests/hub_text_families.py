"""Tiny, offline-buildable KerasHub text/sequence backbones for tests.

``CONFIGS[family]()`` returns ``(backbone, inputs)``: a freshly built,
randomly initialised KerasHub backbone (constructed from arguments only, no
preset / tokenizer download) and a dict of numpy inputs of batch 2 that
``backbone(inputs)`` accepts.

``UNAVAILABLE`` maps family -> one-line reason for families that could not
be built offline.  ``NOTES`` maps family -> (seconds for build + one eager
forward on CPU with the TensorFlow backend, parameter count), measured on a
2-core CPU machine (keras 3.15, keras-hub 0.32, tensorflow 2.21).
"""

import keras_hub
import numpy as np

BATCH = 2
SEQ = 16
VOCAB = 128


def _ids(length=SEQ, vocab=VOCAB, seed=0):
    # Avoid id 0 (pad id for several models, e.g. ESM builds its attention
    # mask from token_ids != pad_token_id).
    rng = np.random.default_rng(seed)
    return rng.integers(1, vocab, size=(BATCH, length)).astype("int32")


def _ones(length=SEQ, dtype="int32"):
    return np.ones((BATCH, length), dtype=dtype)


def _zeros(length=SEQ):
    return np.zeros((BATCH, length), dtype="int32")


def _lm(length=SEQ):
    """token_ids + padding_mask (the common decoder/encoder input dict)."""
    return {"token_ids": _ids(length), "padding_mask": _ones(length)}


def _lm_seg(length=SEQ):
    d = _lm(length)
    d["segment_ids"] = _zeros(length)
    return d


def _enc_dec(enc_len=SEQ, dec_len=SEQ // 2, mask_dtype="int32"):
    return {
        "encoder_token_ids": _ids(enc_len, seed=1),
        "encoder_padding_mask": _ones(enc_len, mask_dtype),
        "decoder_token_ids": _ids(dec_len, seed=2),
        "decoder_padding_mask": _ones(dec_len, mask_dtype),
    }


# --------------------------------------------------------------------------
# Encoders
# --------------------------------------------------------------------------


def albert():
    m = keras_hub.models.AlbertBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        embedding_dim=16,
        hidden_dim=32,
        intermediate_dim=64,
        num_groups=1,
        num_inner_repetitions=1,
        max_sequence_length=32,
    )
    return m, _lm_seg()


def bert():
    m = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=32,
    )
    return m, _lm_seg()


def deberta_v3():
    m = keras_hub.models.DebertaV3Backbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=32,
        bucket_size=16,
    )
    return m, _lm()


def distil_bert():
    m = keras_hub.models.DistilBertBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=32,
    )
    return m, _lm()


def electra():
    # NB: Electra uses `vocab_size` (not `vocabulary_size`) and has a
    # separate embedding_dim (projected to hidden_dim when they differ).
    m = keras_hub.models.ElectraBackbone(
        vocab_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        embedding_dim=16,
        intermediate_dim=64,
        max_sequence_length=32,
    )
    return m, _lm_seg()


def esm():
    # ESM-1 style: absolute (learned) position embeddings, pre-LN.
    m = keras_hub.models.ESMBackbone(
        vocabulary_size=33,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=32,
        position_embedding_type="absolute",
        use_pre_layer_norm=True,
    )
    # Only `token_ids`; the mask is derived from token_ids != pad_token_id.
    return m, {"token_ids": _ids(vocab=33)}


def esm2():
    # ESM2Backbone is the same class as ESMBackbone (alias); default rotary.
    m = keras_hub.models.ESM2Backbone(
        vocabulary_size=33,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=32,
    )
    return m, {"token_ids": _ids(vocab=33)}


def fnet():
    m = keras_hub.models.FNetBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=32,
    )
    # No padding_mask input: token_ids + segment_ids only.
    return m, {"token_ids": _ids(), "segment_ids": _zeros()}


def roberta():
    m = keras_hub.models.RobertaBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=32,
    )
    return m, _lm()


def roformer_v2():
    m = keras_hub.models.RoformerV2Backbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        head_size=16,
    )
    # No padding_mask input: the mask is derived from token_ids != 0.
    return m, {"token_ids": _ids(), "segment_ids": _zeros()}


def xlm_roberta():
    m = keras_hub.models.XLMRobertaBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=32,
    )
    return m, _lm()


def xlnet():
    m = keras_hub.models.XLNetBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
    )
    return m, _lm_seg()


# --------------------------------------------------------------------------
# Encoder-decoders
# --------------------------------------------------------------------------


def bart():
    m = keras_hub.models.BartBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=32,
    )
    return m, _enc_dec()


def t5():
    m = keras_hub.models.T5Backbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        key_value_dim=16,
    )
    return m, _enc_dec()


def t5gemma():
    m = keras_hub.models.T5GemmaBackbone(
        vocabulary_size=VOCAB,
        encoder_hidden_dim=32,
        encoder_intermediate_dim=64,
        encoder_num_layers=2,
        encoder_num_attention_heads=2,
        encoder_num_key_value_heads=1,
        encoder_head_dim=16,
        encoder_layer_types=["sliding_attention", "full_attention"],
        decoder_hidden_dim=32,
        decoder_intermediate_dim=64,
        decoder_num_layers=2,
        decoder_num_attention_heads=2,
        decoder_num_key_value_heads=1,
        decoder_head_dim=16,
        decoder_layer_types=["sliding_attention", "full_attention"],
        sliding_window=8,
        cross_attention_hidden_size=32,
    )
    return m, _enc_dec()


def edrec():
    # NB: `vocab_size`, `num_layers_enc` / `num_layers_dec`; padding masks
    # are declared as bool Inputs.
    m = keras_hub.models.EdRecBackbone(
        vocab_size=VOCAB,
        num_layers_enc=1,
        num_layers_dec=1,
        hidden_dim=32,
        intermediate_dim=64,
        num_heads=2,
    )
    return m, _enc_dec(mask_dtype="bool")


# --------------------------------------------------------------------------
# Decoders
# --------------------------------------------------------------------------


def bloom():
    m = keras_hub.models.BloomBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
    )
    return m, _lm()


def falcon():
    m = keras_hub.models.FalconBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_attention_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
    )
    return m, _lm()


def gpt2():
    m = keras_hub.models.GPT2Backbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=32,
    )
    return m, _lm()


def gpt_neo_x():
    m = keras_hub.models.GPTNeoXBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=32,
    )
    return m, _lm()


def gemma():
    m = keras_hub.models.GemmaBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=32,
        intermediate_dim=64,
        head_dim=16,
    )
    return m, _lm()


def gemma3():
    m = keras_hub.models.Gemma3Backbone(
        vocabulary_size=VOCAB,
        image_size=16,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=32,
        intermediate_dim=64,
        head_dim=16,
        use_post_ffw_norm=True,
        use_post_attention_norm=True,
        use_sliding_window_attention=True,
        sliding_window_size=8,
        vision_encoder=None,
    )
    return m, _lm()


def gemma4():
    m = keras_hub.models.Gemma4Backbone(
        vocabulary_size=VOCAB,
        image_size=16,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=32,
        intermediate_dim=64,
        head_dim=16,
        sliding_window_size=8,
        layer_types=["sliding_attention", "full_attention"],
        vision_encoder=None,
        audio_encoder=None,
    )
    # Text-only Gemma4 also requires explicit `position_ids`.
    inputs = _lm()
    inputs["position_ids"] = np.tile(np.arange(SEQ, dtype="int32")[None], (BATCH, 1))
    return m, inputs


def gpt_oss():
    m = keras_hub.models.GptOssBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_query_heads=2,
        hidden_dim=32,
        intermediate_dim=32,
        num_key_value_heads=1,
        num_experts=4,
        top_k=2,
        sliding_window=8,
        head_dim=16,
    )
    return m, _lm()


def llama():
    m = keras_hub.models.LlamaBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_query_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        num_key_value_heads=1,
    )
    return m, _lm()


def llama3():
    m = keras_hub.models.Llama3Backbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_query_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        num_key_value_heads=1,
    )
    return m, _lm()


def mistral():
    m = keras_hub.models.MistralBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_query_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        num_key_value_heads=1,
        sliding_window=8,
    )
    return m, _lm()


def mixtral():
    m = keras_hub.models.MixtralBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_query_heads=2,
        hidden_dim=32,
        intermediate_dim=32,
        num_key_value_heads=1,
        num_experts=4,
        top_k=2,
        sliding_window=8,
    )
    return m, _lm()


def opt():
    m = keras_hub.models.OPTBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=32,
    )
    return m, _lm()


def phi3():
    m = keras_hub.models.Phi3Backbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        hidden_dim=32,
        intermediate_dim=64,
        num_query_heads=2,
        num_key_value_heads=1,
        max_sequence_length=32,
        pretraining_sequence_length=32,
    )
    return m, _lm()


def qwen():
    m = keras_hub.models.QwenBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=32,
        intermediate_dim=64,
    )
    return m, _lm()


def qwen2():
    # Qwen2Backbone is an alias of QwenBackbone (same module/class).
    m = keras_hub.models.Qwen2Backbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=32,
        intermediate_dim=64,
        tie_word_embeddings=False,
    )
    return m, _lm()


def qwen3():
    m = keras_hub.models.Qwen3Backbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        hidden_dim=32,
        intermediate_dim=64,
    )
    return m, _lm()


def qwen_moe():
    m = keras_hub.models.QwenMoeBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=32,
        intermediate_dim=64,
        moe_intermediate_dim=16,
        shared_expert_intermediate_dim=32,
        num_experts=4,
        top_k=2,
    )
    return m, _lm()


def qwen3_moe():
    m = keras_hub.models.Qwen3MoeBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=32,
        intermediate_dim=64,
        moe_intermediate_dim=16,
        num_experts=4,
        head_dim=16,
        top_k=2,
    )
    return m, _lm()


def qwen3_5():
    # Hybrid: one GatedDeltaNet linear-attention layer + one full-attention
    # layer (default pattern would make both layers linear_attention).
    m = keras_hub.models.Qwen3_5Backbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        hidden_dim=32,
        intermediate_dim=64,
        layer_types=["linear_attention", "full_attention"],
        partial_rotary_factor=0.5,
        linear_num_key_heads=2,
        linear_num_value_heads=2,
        linear_key_head_dim=16,
        linear_value_head_dim=16,
        linear_conv_kernel_dim=4,
        vision_encoder=None,
    )
    return m, _lm()


def qwen3_5_moe():
    m = keras_hub.models.Qwen3_5MoeBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        hidden_dim=32,
        moe_intermediate_dim=16,
        shared_expert_intermediate_size=32,
        num_experts=4,
        top_k=2,
        layer_types=["linear_attention", "full_attention"],
        partial_rotary_factor=0.5,
        linear_num_key_heads=2,
        linear_num_value_heads=2,
        linear_key_head_dim=16,
        linear_value_head_dim=16,
        linear_conv_kernel_dim=4,
        vision_encoder=None,
    )
    return m, _lm()


def rwkv7():
    # hidden_size must be a multiple of head_size; LoRA ranks shrunk.
    m = keras_hub.models.RWKV7Backbone(
        hidden_size=32,
        head_size=16,
        num_layers=2,
        vocabulary_size=VOCAB,
        intermediate_dim=64,
        gate_lora=8,
        mv_lora=8,
        aaa_lora=8,
        decay_lora=8,
    )
    return m, _lm()


def _smollm_kwargs():
    return dict(
        vocabulary_size=VOCAB,
        hidden_dim=32,
        intermediate_dim=64,
        num_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        attention_bias=False,
        attention_dropout=0.0,
        rope_layer_enabled_list=[True, False],
        layer_types=["attention", "attention"],
        mlp_bias=False,
        layer_norm_epsilon=1e-5,
        max_position_embeddings=32,
        rope_theta=10000.0,
        partial_rotary_factor=1.0,
    )


def smollm():
    # SmolLMBackbone is an alias of SmolLM3Backbone (same module/class).
    m = keras_hub.models.SmolLMBackbone(**_smollm_kwargs())
    return m, _lm()


def smollm3():
    m = keras_hub.models.SmolLM3Backbone(**_smollm_kwargs())
    return m, _lm()


CONFIGS = {
    "Albert": albert,
    "Bart": bart,
    "Bert": bert,
    "Bloom": bloom,
    "DebertaV3": deberta_v3,
    "DistilBert": distil_bert,
    "Electra": electra,
    "ESM": esm,
    "ESM2": esm2,
    "Falcon": falcon,
    "FNet": fnet,
    "GPT2": gpt2,
    "GPTNeoX": gpt_neo_x,
    "Gemma": gemma,
    "Gemma3": gemma3,
    "GptOss": gpt_oss,
    "Llama": llama,
    "Llama3": llama3,
    "Mistral": mistral,
    "Mixtral": mixtral,
    "OPT": opt,
    "Phi3": phi3,
    "Qwen": qwen,
    "Qwen2": qwen2,
    "Qwen3": qwen3,
    "QwenMoe": qwen_moe,
    "Qwen3Moe": qwen3_moe,
    "Qwen3_5": qwen3_5,
    "Qwen3_5Moe": qwen3_5_moe,
    "Roberta": roberta,
    "RoformerV2": roformer_v2,
    "RWKV7": rwkv7,
    "SmolLM": smollm,
    "SmolLM3": smollm3,
    "T5": t5,
    "T5Gemma": t5gemma,
    "XLMRoberta": xlm_roberta,
    "XLNet": xlnet,
    "Gemma4": gemma4,
    "EdRec": edrec,
}

UNAVAILABLE = {}

# family -> (build + first eager forward seconds on a 2-core CPU, TF backend,
#            measured sequentially in one process after imports; param count)
# Aliases: ESM2Backbone is ESMBackbone, Qwen2Backbone is QwenBackbone and
# SmolLMBackbone is SmolLM3Backbone (the same class objects).  Llama3Backbone
# is a thin subclass of LlamaBackbone.
# Outputs: Albert/Bert/Electra/FNet return {"sequence_output",
# "pooled_output"}; Bart/T5/T5Gemma/EdRec return {"encoder_sequence_output",
# "decoder_sequence_output"}; RWKV7 returns vocabulary LOGITS (B, T, vocab)
# because its LM head is inside the backbone; all others a (B, T, hidden)
# tensor.
NOTES = {
    "Albert": (0.31, 12768),
    "Bart": (0.41, 49024),
    "Bert": (0.18, 23392),
    "Bloom": (0.17, 21312),
    "DebertaV3": (0.28, 22336),
    "DistilBert": (0.16, 22272),
    "Electra": (0.18, 21312),
    "ESM": (0.16, 19296),
    "ESM2": (0.17, 18208),
    "Falcon": (0.16, 21248),
    "FNet": (0.13, 16064),
    "GPT2": (0.17, 22272),
    "GPTNeoX": (0.16, 21248),
    "Gemma": (0.17, 16544),
    "Gemma3": (0.19, 22880),
    "GptOss": (0.61, 40300),
    "Llama": (0.17, 26784),
    "Llama3": (0.16, 26784),
    "Mistral": (0.16, 26784),
    "Mixtral": (0.17, 39328),
    "OPT": (0.45, 22272),
    "Phi3": (0.16, 26784),
    "Qwen": (0.17, 22816),
    "Qwen2": (0.17, 26912),
    "Qwen3": (0.18, 22752),
    "QwenMoe": (0.23, 33376),
    "Qwen3Moe": (0.19, 27104),
    "Qwen3_5": (0.42, 30420),
    "Qwen3_5Moe": (0.39, 36884),
    "Roberta": (0.17, 22272),
    "RoformerV2": (0.17, 20704),
    "RWKV7": (0.37, 29472),
    "SmolLM": (0.17, 22704),
    "SmolLM3": (0.16, 22704),
    "T5": (1.61, 53760),
    "T5Gemma": (0.35, 51904),
    "XLMRoberta": (0.17, 22272),
    "XLNet": (0.21, 23328),
    "Gemma4": (0.21, 22882),
    "EdRec": (0.37, 28832),
}
