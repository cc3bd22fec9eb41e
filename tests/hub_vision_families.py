"""Tiny, offline-buildable KerasHub vision / audio / multimodal backbones.

`CONFIGS[family]()` returns `(backbone, inputs)`: a freshly built backbone
with random weights (constructor arguments only, no presets / downloads) and
numpy inputs of batch size 2 that `backbone(inputs)` accepts.

`UNAVAILABLE` lists families that could not be built offline/cheaply.
`NOTES` records, per family, measured build+forward seconds (CPU, TF backend,
2-core machine, keras 3.15 / keras-hub 0.32) and parameter counts.

Target: keras_hub 0.32.0. Configs are derived from the keras-hub unit tests
(keras_hub/src/models/<family>/*_backbone_test.py), shrunk further.
"""

import numpy as np

B = 2  # batch size used for every input
_RNG = np.random.default_rng(0)


def _img(h, w=None, c=3, batch=B):
    w = h if w is None else w
    return _RNG.uniform(0.0, 1.0, size=(batch, h, w, c)).astype("float32")


def _ids(length, vocab, batch=B, low=1):
    return _RNG.integers(low, vocab, size=(batch, length)).astype("int32")


def _ones_mask(length, batch=B, dtype="int32"):
    return np.ones((batch, length), dtype=dtype)


def _tiny_resnet(filters, stem=8, blocks=None, strides=None, image_shape=None):
    """Small basic-block ResNet used as an image encoder.

    Note: ResNetBackbone insists that stackwise_num_filters[0] == 64. We use
    "basic_block_vd" (conv shortcut in every stage's first block) so the stem
    can be narrower than 64 (BASNet needs stem == projection_filters).
    """
    from keras_hub.models import ResNetBackbone

    n = len(filters)
    kwargs = {}
    if image_shape is not None:
        kwargs["image_shape"] = image_shape
    return ResNetBackbone(
        input_conv_filters=[stem],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=list(filters),
        stackwise_num_blocks=blocks or [1] * n,
        stackwise_num_strides=strides or ([1] + [2] * (n - 1)),
        block_type="basic_block_vd",
        use_pre_activation=False,
        **kwargs,
    )


# --------------------------------------------------------------------------
# Pure vision (CNN) backbones
# --------------------------------------------------------------------------


def build_resnet():
    from keras_hub.models import ResNetBackbone

    m = ResNetBackbone(
        # ResNetBackbone requires stackwise_num_filters[0] == 64, and with
        # plain "basic_block" stage 0 has an identity shortcut, so the stem
        # must also have 64 filters.
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 32],
        stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=(32, 32, 3),
    )
    return m, _img(32)


def build_vgg():
    from keras_hub.models import VGGBackbone

    m = VGGBackbone(
        stackwise_num_repeats=[1, 1],
        stackwise_num_filters=[16, 32],
        image_shape=(32, 32, 3),
    )
    return m, _img(32)


def build_xception():
    from keras_hub.models import XceptionBackbone

    m = XceptionBackbone(
        stackwise_conv_filters=[[16, 32], [32, 32]],
        stackwise_pooling=[False, True],
        image_shape=(32, 32, 3),
    )
    return m, _img(32)


def build_densenet():
    from keras_hub.models import DenseNetBackbone

    m = DenseNetBackbone(
        stackwise_num_repeats=[1, 1],
        compression_ratio=0.5,
        growth_rate=8,
        image_shape=(32, 32, 3),
    )
    return m, _img(32)


def build_efficientnet():
    from keras_hub.models import EfficientNetBackbone

    m = EfficientNetBackbone(
        stackwise_kernel_sizes=[3, 3],
        stackwise_num_repeats=[1, 1],
        stackwise_input_filters=[16, 16],
        stackwise_output_filters=[16, 32],
        stackwise_expansion_ratios=[1, 4],
        stackwise_squeeze_and_excite_ratios=[0.0, 0.25],
        stackwise_strides=[1, 2],
        stackwise_block_types=["fused", "unfused"],
        stackwise_force_input_filters=[0, 0],
        stackwise_nores_option=[False, False],
        width_coefficient=1.0,
        depth_coefficient=1.0,
        num_features=64,
        input_shape=(32, 32, 3),
    )
    return m, _img(32)


def build_mobilenet():
    from keras_hub.models import MobileNetBackbone

    m = MobileNetBackbone(
        stackwise_expansion=[[32, 48], [64, 64]],
        stackwise_num_blocks=[2, 2],
        stackwise_num_filters=[[16, 16], [24, 24]],
        stackwise_kernel_size=[[3, 3], [5, 5]],
        stackwise_num_strides=[[2, 1], [2, 1]],
        stackwise_se_ratio=[[None, None], [0.25, 0.25]],
        stackwise_activation=[
            ["relu", "relu"],
            ["hard_swish", "hard_swish"],
            ["hard_swish"],
        ],
        stackwise_padding=[[1, 1], [2, 2]],
        output_num_filters=64,
        input_activation="hard_swish",
        output_activation="hard_swish",
        input_num_filters=16,
        image_shape=(32, 32, 3),
        depthwise_filters=8,
        depthwise_stride=2,
        depthwise_residual=False,
        squeeze_and_excite=0.5,
        last_layer_filter=48,
    )
    return m, _img(32)


def build_mobilenetv5():
    from keras_hub.models import MobileNetV5Backbone

    m = MobileNetV5Backbone(
        stackwise_block_types=[["er"], ["uir", "uir"]],
        stackwise_num_blocks=[1, 2],
        stackwise_num_filters=[[16], [32, 32]],
        stackwise_strides=[[2], [2, 1]],
        stackwise_act_layers=[["relu"], ["relu", "relu"]],
        stackwise_exp_ratios=[[2.0], [2.0, 2.0]],
        stackwise_se_ratios=[[0.0], [0.0, 0.0]],
        stackwise_dw_kernel_sizes=[[0], [3, 3]],
        stackwise_dw_start_kernel_sizes=[[0], [0, 0]],
        stackwise_dw_end_kernel_sizes=[[0], [0, 0]],
        stackwise_exp_kernel_sizes=[[3], [0, 0]],
        stackwise_pw_kernel_sizes=[[1], [0, 0]],
        stackwise_num_heads=[[0], [0, 0]],
        stackwise_key_dims=[[0], [0, 0]],
        stackwise_value_dims=[[0], [0, 0]],
        stackwise_kv_strides=[[0], [0, 0]],
        stackwise_use_cpe=[[False], [False, False]],
        image_shape=(32, 32, 3),
        stem_size=16,
        num_features=64,
        use_msfa=False,
    )
    return m, _img(32)


def build_cspnet():
    from keras_hub.models import CSPNetBackbone

    m = CSPNetBackbone(
        stem_filters=16,
        stem_kernel_size=3,
        stem_strides=1,
        stackwise_strides=2,
        stackwise_depth=[1, 1],
        stackwise_num_filters=[16, 32],
        image_shape=(32, 32, 3),
        down_growth=True,
        bottle_ratio=(0.5, 1.0),
        block_ratio=(1.0, 0.5),
        expand_ratio=(2.0, 1.0),
        block_type="dark_block",
        stage_type="csp",
        stem_padding="same",
    )
    return m, _img(32)


def build_hgnetv2():
    from keras_hub.models import HGNetV2Backbone

    m = HGNetV2Backbone(
        depths=[1, 1],
        embedding_size=16,
        hidden_sizes=[32, 32],
        stem_channels=[3, 8, 16],
        hidden_act="relu",
        use_learnable_affine_block=False,
        stackwise_stage_filters=[
            [16, 8, 32, 1, 1, 3],
            [32, 16, 32, 1, 1, 3],
        ],
        apply_downsample=[False, True],
        use_lightweight_conv_block=[False, False],
        image_shape=(32, 32, 3),
        out_features=["stem", "stage1", "stage2"],
    )
    return m, _img(32)


def build_feature_pyramid():
    # `FeaturePyramidBackbone` is the (abstract-ish) base class of ResNet,
    # MiT, HGNetV2, ... It has no architecture of its own: it is a functional
    # `Backbone` that only adds a `pyramid_outputs` property. We build a
    # minimal functional one directly (inputs=/outputs=). Because it has no
    # constructor config, `FeaturePyramidBackbone.from_config(get_config())`
    # fails (TypeError: missing inputs/outputs); use keras.models.clone_model
    # or a concrete subclass (ResNet, MiT, HGNetV2) when a config round-trip
    # is needed.
    import keras
    from keras_hub.models import FeaturePyramidBackbone

    inputs = keras.Input(shape=(32, 32, 3), name="images")
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="c1")(inputs)
    p1 = keras.layers.ReLU(name="p1")(x)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", name="c2")(p1)
    p2 = keras.layers.ReLU(name="p2")(x)
    m = FeaturePyramidBackbone(inputs=inputs, outputs=p2)
    m.pyramid_outputs = {"P1": p1, "P2": p2}
    return m, _img(32)


def build_mit():
    from keras_hub.models import MiTBackbone

    m = MiTBackbone(
        layerwise_depths=[1, 1],
        num_layers=2,
        layerwise_num_heads=[2, 2],
        layerwise_sr_ratios=[4, 2],
        max_drop_path_rate=0.0,
        layerwise_patch_sizes=[7, 3],
        layerwise_strides=[4, 2],
        image_shape=(32, 32, 3),
        hidden_dims=[16, 32],
    )
    return m, _img(32)


# --------------------------------------------------------------------------
# Vision transformers
# --------------------------------------------------------------------------


def build_vit():
    from keras_hub.models import ViTBackbone

    m = ViTBackbone(
        image_shape=(32, 32, 3),
        patch_size=(8, 8),
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        mlp_dim=64,
    )
    return m, _img(32)


def build_deit():
    from keras_hub.models import DeiTBackbone

    m = DeiTBackbone(
        image_shape=(32, 32, 3),
        patch_size=8,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
    )
    return m, _img(32)


def build_vitdet():
    from keras_hub.models import ViTDetBackbone

    m = ViTDetBackbone(
        hidden_size=16,
        num_layers=2,
        intermediate_dim=32,
        num_heads=2,
        global_attention_layer_indices=[1],
        image_shape=(32, 32, 3),
        patch_size=4,
        num_output_channels=16,
        window_size=4,
    )
    return m, _img(32)


def build_swin():
    from keras_hub.models import SwinTransformerBackbone

    m = SwinTransformerBackbone(
        image_shape=(32, 32, 3),
        embed_dim=16,
        depths=(1, 1),
        num_heads=(2, 2),
        window_size=4,
        patch_size=4,
        mlp_ratio=2.0,
    )
    return m, _img(32)


def build_dinov2():
    from keras_hub.models import DINOV2Backbone

    m = DINOV2Backbone(
        patch_size=14,
        num_layers=2,
        hidden_dim=16,
        num_heads=2,
        intermediate_dim=32,
        layer_scale_init_value=1.0,
        num_register_tokens=0,
        use_swiglu_ffn=False,
        image_shape=(28, 28, 3),
        position_embedding_shape=(28, 28, 3),
    )
    return m, {"images": _img(28)}


def build_dinov3():
    from keras_hub.models import DINOV3Backbone

    m = DINOV3Backbone(
        patch_size=16,
        num_layers=2,
        hidden_dim=16,
        num_heads=2,
        intermediate_dim=32,
        layer_scale_init_value=1.0,
        num_register_tokens=4,
        use_gated_mlp=False,
        image_shape=(32, 32, 3),
    )
    return m, {"pixel_values": _img(32)}


# --------------------------------------------------------------------------
# Dense prediction / detection backbones with an image encoder
# --------------------------------------------------------------------------


def build_basnet():
    from keras_hub.models import BASNetBackbone

    # BASNet re-uses the 4 ResNet stages; the stem conv of BASNet has
    # `projection_filters` channels which must equal the ResNet stem filters.
    # Its decoder width is projection_filters * 8.
    enc = _tiny_resnet([64, 16, 16, 16], stem=2)
    m = BASNetBackbone(
        image_encoder=enc,
        num_classes=1,
        image_shape=(64, 64, 3),
        projection_filters=2,  # decoder / refinement width = 16
    )
    return m, _img(64)


def build_deeplabv3():
    from keras_hub.models import DeepLabV3Backbone

    # NOTE: ASPP / decoder width is fixed at 256 inside DeepLabV3Backbone,
    # hence ~480k params even with a tiny encoder.
    enc = _tiny_resnet([64, 16, 16], stem=8)
    m = DeepLabV3Backbone(
        image_encoder=enc,
        low_level_feature_key="P2",
        spatial_pyramid_pooling_key="P4",
        dilation_rates=[2, 4],
        upsampling_size=4,
        projection_filters=16,
        image_shape=(64, 64, 3),
    )
    return m, _img(64)


def build_retinanet():
    from keras_hub.models import RetinaNetBackbone

    # NOTE: the FPN width is fixed at 256 (not a constructor argument), so
    # this is ~1.2M params even with a tiny encoder. Two levels (P3, P4) keep
    # the top-down merge path.
    enc = _tiny_resnet([64, 16, 16], stem=8)
    m = RetinaNetBackbone(
        image_encoder=enc,
        min_level=3,
        max_level=4,
        use_p5=False,
        image_shape=(64, 64, 3),
    )
    return m, _img(64)


def build_segformer():
    from keras_hub.models import MiTBackbone, SegFormerBackbone

    enc = MiTBackbone(
        layerwise_depths=[1, 1],
        num_layers=2,
        layerwise_num_heads=[2, 2],
        layerwise_sr_ratios=[4, 2],
        max_drop_path_rate=0.0,
        layerwise_patch_sizes=[7, 3],
        layerwise_strides=[4, 2],
        image_shape=(32, 32, 3),
        hidden_dims=[16, 32],
    )
    m = SegFormerBackbone(image_encoder=enc, projection_filters=32)
    return m, _img(32)


def build_depth_anything():
    from keras_hub.models import DepthAnythingBackbone, DINOV2Backbone

    enc = DINOV2Backbone(
        patch_size=14,
        num_layers=2,
        hidden_dim=16,
        num_heads=2,
        intermediate_dim=32,
        layer_scale_init_value=1.0,
        num_register_tokens=0,
        image_shape=(56, 56, 3),
        position_embedding_shape=(56, 56, 3),
        apply_layernorm=True,
        name="image_encoder",
    )
    m = DepthAnythingBackbone(
        image_encoder=enc,
        reassemble_factors=[2, 1],
        neck_hidden_dims=[16, 32],
        fusion_hidden_dim=32,
        head_hidden_dim=16,
        head_in_index=-1,
        feature_keys=["stage1", "stage2"],
    )
    return m, _img(56)


def build_dfine():
    from keras_hub.models import DFineBackbone, HGNetV2Backbone

    hg = HGNetV2Backbone(
        stem_channels=[3, 8, 8],
        stackwise_stage_filters=[
            [8, 8, 16, 1, 1, 3],
            [16, 8, 32, 1, 1, 3],
        ],
        apply_downsample=[False, True],
        use_lightweight_conv_block=[False, False],
        depths=[1, 1],
        hidden_sizes=[16, 32],
        embedding_size=8,
        use_learnable_affine_block=True,
        hidden_act="relu",
        image_shape=(None, None, 3),
        out_features=["stage1", "stage2"],
    )
    m = DFineBackbone(
        backbone=hg,
        decoder_in_channels=[16, 16],
        encoder_hidden_dim=16,
        num_denoising=0,
        num_labels=4,
        hidden_dim=16,
        learn_initial_query=False,
        num_queries=10,
        anchor_image_size=(32, 32),
        feat_strides=[4, 8],
        num_feature_levels=2,
        encoder_in_channels=[16, 32],
        encode_proj_layers=[1],
        num_attention_heads=2,
        encoder_ffn_dim=32,
        num_encoder_layers=1,
        hidden_expansion=0.5,
        depth_multiplier=0.5,
        eval_idx=-1,
        num_decoder_layers=2,
        decoder_attention_heads=2,
        decoder_ffn_dim=32,
        decoder_n_points=[2, 2],
        lqe_hidden_dim=16,
        num_lqe_layers=2,
        out_features=["stage1", "stage2"],
        image_shape=(32, 32, 3),
        seed=0,
    )
    return m, _img(32)


def build_sam():
    from keras_hub.layers import SAMMaskDecoder, SAMPromptEncoder
    from keras_hub.models import SAMBackbone, ViTDetBackbone

    size = 32
    enc = ViTDetBackbone(
        hidden_size=16,
        num_layers=2,
        intermediate_dim=32,
        num_heads=2,
        global_attention_layer_indices=[1],
        patch_size=4,
        num_output_channels=16,
        window_size=4,
        image_shape=(size, size, 3),
    )
    prompt = SAMPromptEncoder(
        hidden_size=16,
        image_embedding_size=(size // 4, size // 4),
        input_image_size=(size, size),
        mask_in_channels=16,
    )
    dec = SAMMaskDecoder(
        num_layers=1,
        hidden_size=16,
        intermediate_dim=32,
        num_heads=2,
        embedding_dim=16,
        num_multimask_outputs=3,
        iou_head_depth=2,
        iou_head_hidden_dim=16,
    )
    m = SAMBackbone(image_encoder=enc, prompt_encoder=prompt, mask_decoder=dec)
    inputs = {
        "images": _img(size),
        "points": _RNG.uniform(0, size, (B, 1, 2)).astype("float32"),
        "labels": np.ones((B, 1), dtype="float32"),
        "boxes": np.tile(np.array([[[4.0, 4.0], [20.0, 20.0]]], dtype="float32"), (B, 1, 1, 1)),
        "masks": np.zeros((B, 0, size, size, 1), dtype="float32"),
    }
    return m, inputs


def build_sam3():
    from keras_hub.layers import (
        SAM3DetrDecoder,
        SAM3DetrEncoder,
        SAM3GeometryEncoder,
        SAM3MaskDecoder,
        SAM3TextEncoder,
        SAM3VisionEncoder,
    )
    from keras_hub.models import SAM3PromptableConceptBackbone

    size = 28
    seq = 8
    vision = SAM3VisionEncoder(
        image_shape=(size, size, 3),
        patch_size=14,
        num_layers=2,
        hidden_dim=16,
        intermediate_dim=32,
        num_heads=2,
        fpn_hidden_dim=16,
        fpn_scale_factors=[4.0, 2.0, 1.0, 0.5],
        pretrain_image_shape=(42, 42, 3),
        window_size=2,
        global_attn_indexes=[1],
    )
    text = SAM3TextEncoder(
        vocabulary_size=32,
        embedding_dim=16,
        hidden_dim=16,
        num_layers=1,
        num_heads=2,
        intermediate_dim=32,
        max_sequence_length=seq,
    )
    geom = SAM3GeometryEncoder(num_layers=1, hidden_dim=16, intermediate_dim=32, num_heads=2, roi_size=7)
    detr_enc = SAM3DetrEncoder(num_layers=1, hidden_dim=16, intermediate_dim=32, num_heads=2)
    detr_dec = SAM3DetrDecoder(
        image_shape=(size, size, 3),
        patch_size=14,
        num_layers=1,
        hidden_dim=16,
        intermediate_dim=32,
        num_heads=2,
        num_queries=8,
    )
    mask_dec = SAM3MaskDecoder(num_upsampling_stages=3, hidden_dim=16, num_heads=2)
    m = SAM3PromptableConceptBackbone(
        vision_encoder=vision,
        text_encoder=text,
        geometry_encoder=geom,
        detr_encoder=detr_enc,
        detr_decoder=detr_dec,
        mask_decoder=mask_dec,
    )
    inputs = {
        "pixel_values": _img(size),
        "token_ids": _ids(seq, 32),
        "padding_mask": np.ones((B, seq), dtype="bool"),
        # one box prompt per image, 5 values per box (as in the keras-hub test)
        "boxes": np.tile(np.array([[[0.5, 0.5, 0.3, 0.3, 0.0]]], dtype="float32"), (B, 1, 1)),
        "box_labels": np.ones((B, 1), dtype="int32"),
    }
    return m, inputs


# --------------------------------------------------------------------------
# Image-text / multimodal backbones
# --------------------------------------------------------------------------


def build_clip():
    from keras_hub.models import CLIPBackbone
    from keras_hub.src.models.clip.clip_text_encoder import CLIPTextEncoder
    from keras_hub.src.models.clip.clip_vision_encoder import CLIPVisionEncoder

    v = CLIPVisionEncoder(8, 16, 2, 2, 32, image_shape=(32, 32, 3), name="vision_encoder")
    t = CLIPTextEncoder(64, 16, 16, 2, 2, 32, max_sequence_length=8, name="text_encoder")
    m = CLIPBackbone(vision_encoder=v, text_encoder=t, projection_dim=16)
    return m, {"images": _img(32), "token_ids": _ids(8, 64)}


def build_metaclip2():
    from keras_hub.models import (
        MetaCLIP2Backbone,
        MetaCLIP2TextEncoder,
        MetaCLIP2VisionEncoder,
    )

    v = MetaCLIP2VisionEncoder(8, 16, 2, 2, 32, image_shape=(32, 32, 3), name="vision_encoder")
    t = MetaCLIP2TextEncoder(64, 16, 16, 2, 2, 32, max_sequence_length=8, name="text_encoder")
    m = MetaCLIP2Backbone(vision_encoder=v, text_encoder=t, projection_dim=16)
    return m, {"images": _img(32), "token_ids": _ids(8, 64)}


def build_siglip():
    from keras_hub.models import SigLIPBackbone
    from keras_hub.src.models.siglip.siglip_text_encoder import (
        SigLIPTextEncoder,
    )
    from keras_hub.src.models.siglip.siglip_vision_encoder import (
        SigLIPVisionEncoder,
    )

    v = SigLIPVisionEncoder(8, 16, 2, 2, 32, image_shape=(32, 32, 3), name="vision_encoder")
    t = SigLIPTextEncoder(64, 16, 16, 2, 2, 32, max_sequence_length=8, name="text_encoder")
    m = SigLIPBackbone(vision_encoder=v, text_encoder=t)
    return m, {"images": _img(32), "token_ids": _ids(8, 64)}


def build_blip2():
    from keras_hub.models import (
        BLIP2Backbone,
        BLIP2CustomOPT,
        BLIP2QFormer,
        BLIP2VisionEncoder,
    )

    v = BLIP2VisionEncoder(
        image_size=32,
        patch_size=8,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        use_patch_bias=True,
        use_class_token=True,
        use_mha_bias=True,
        use_mlp_bias=True,
        dropout_rate=0.0,
        layer_norm_epsilon=1e-6,
        initializer_range=0.02,
    )
    q = BLIP2QFormer(
        num_query_tokens=4,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        vision_dim=16,
        cross_attention_frequency=1,
        dropout=0.0,
        layer_norm_epsilon=1e-6,
    )
    lm = BLIP2CustomOPT(
        vocabulary_size=64,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        num_query_tokens=4,
        qformer_hidden_dim=16,
        max_sequence_length=16,
        dropout=0.0,
        language_projection=None,
    )
    m = BLIP2Backbone(vision_encoder=v, qformer=q, language_model=lm)
    return m, {
        "images": _img(32),
        "token_ids": _ids(8, 64),
        "padding_mask": np.ones((B, 8), dtype="bool"),
    }


def build_paligemma():
    from keras_hub.models import PaliGemmaBackbone

    seq = 16
    m = PaliGemmaBackbone(
        vocabulary_size=64,
        image_size=16,
        num_layers=1,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=16,
        intermediate_dim=32,
        head_dim=8,
        vit_patch_size=4,
        vit_num_layers=1,
        vit_num_heads=2,
        vit_hidden_dim=16,
        vit_intermediate_dim=32,
    )
    return m, {
        "token_ids": _ids(seq, 64),
        "images": _img(16),
        "padding_mask": _ones_mask(seq),
        "response_mask": np.zeros((B, seq), dtype="int32"),
    }


def build_parseq():
    from keras_hub.models import PARSeqBackbone, ViTBackbone

    enc = ViTBackbone(
        image_shape=(16, 64, 3),
        patch_size=(4, 8),
        num_layers=1,
        num_heads=2,
        hidden_dim=32,
        mlp_dim=64,
        use_class_token=False,
        name="image_encoder",
    )
    max_len = 8
    m = PARSeqBackbone(
        image_encoder=enc,
        vocabulary_size=20,
        max_label_length=max_len,
        decoder_hidden_dim=32,
        num_decoder_layers=1,
        num_decoder_heads=2,
        decoder_mlp_dim=64,
        dropout_rate=0.0,
        attention_dropout=0.0,
    )
    return m, {
        "images": _img(16, 64),
        "token_ids": _ids(max_len, 20),
        "padding_mask": _ones_mask(max_len),
    }


def build_gemma3n():
    from keras_hub.models import Gemma3nBackbone, MobileNetV5Backbone
    from keras_hub.src.models.gemma3n.gemma3n_audio_encoder import (
        Gemma3nAudioEncoder,
    )
    from keras_hub.src.models.mobilenetv5.mobilenetv5_builder import (
        convert_arch_def_to_stackwise,
    )

    seq, img, audio_len, audio_feat, vocab = 8, 32, 8, 16, 32
    stackwise = convert_arch_def_to_stackwise([["er_r1_k3_s1_e1_c16"]])
    venc = MobileNetV5Backbone(
        **stackwise,
        num_features=16,
        image_shape=(img, img, 3),
        use_msfa=False,
    )
    aenc = Gemma3nAudioEncoder(
        hidden_size=16,
        input_feat_size=audio_feat,
        sscp_conv_channel_size=[4, 8],
        sscp_conv_kernel_size=[(1, 1), (1, 1)],
        sscp_conv_stride_size=[(2, 2), (2, 2)],
        sscp_conv_group_norm_eps=1e-5,
        num_hidden_layers=1,
        rms_norm_eps=1e-6,
        gradient_clipping=1.0,
        residual_weight=0.5,
        num_attention_heads=2,
        attention_chunk_size=2,
        num_attention_context_right=1,
        num_attention_context_left=1,
        attention_logit_cap=50.0,
        conv_kernel_size=3,
        reduction_factor=1,
    )
    m = Gemma3nBackbone(
        text_vocab_size=vocab,
        text_hidden_size=16,
        num_hidden_layers=1,
        pad_token_id=0,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        intermediate_size=[32],
        hidden_activation="gelu_approximate",
        layer_types=["full_attention"],
        sliding_window=4,
        rope_theta=10000.0,
        max_position_embeddings=seq,
        vocab_size_per_layer_input=vocab,
        hidden_size_per_layer_input=4,
        altup_num_inputs=2,
        laurel_rank=2,
        vision_encoder_config=venc.get_config(),
        vision_hidden_size=16,
        audio_encoder_config=aenc.get_config(),
        audio_hidden_size=16,
    )
    inputs = {
        "token_ids": _ids(seq, vocab),
        "padding_mask": np.ones((B, seq), dtype=bool),
        "images": _RNG.uniform(0, 1, (B, 1, img, img, 3)).astype("float32"),
        "input_features": _RNG.uniform(0, 1, (B, 1, audio_len, audio_feat)).astype("float32"),
        "input_features_mask": np.zeros((B, 1, audio_len), dtype=bool),
    }
    return m, inputs


def build_t5gemma2():
    from keras_hub.models import T5Gemma2Backbone
    from keras_hub.src.models.gemma3.gemma3_vision_encoder import (
        Gemma3VisionEncoder,
    )

    # Multimodal variant: a Gemma3 (SigLIP-style) vision encoder whose tokens
    # are interleaved into the encoder sequence at `vision_indices`.
    img = 16
    venc = Gemma3VisionEncoder(
        image_size=img,
        patch_size=4,
        pool_size=2,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        output_dim=32,
    )
    n_vis = venc.num_vision_tokens_per_image  # (16/4/2)^2 = 4
    seq = 12
    m = T5Gemma2Backbone(
        vocabulary_size=64,
        encoder_hidden_dim=32,
        encoder_intermediate_dim=64,
        encoder_num_layers=1,
        encoder_num_attention_heads=2,
        encoder_num_key_value_heads=1,
        encoder_head_dim=16,
        encoder_layer_types=["full_attention"],
        decoder_hidden_dim=32,
        decoder_intermediate_dim=64,
        decoder_num_layers=1,
        decoder_num_attention_heads=2,
        decoder_num_key_value_heads=1,
        decoder_head_dim=16,
        decoder_layer_types=["full_attention"],
        cross_attention_hidden_size=32,
        sliding_window=8,
        vision_encoder=venc,
        eoi_token_index=63,
    )
    inputs = {
        "encoder_token_ids": _ids(seq, 60),
        "encoder_padding_mask": _ones_mask(seq),
        "decoder_token_ids": _ids(seq, 60),
        "decoder_padding_mask": _ones_mask(seq),
        "images": _RNG.uniform(0, 1, (B, 1, img, img, 3)).astype("float32"),
        "vision_indices": np.tile(np.arange(1, 1 + n_vis, dtype="int32"), (B, 1)),
    }
    return m, inputs


# --------------------------------------------------------------------------
# Video / audio
# --------------------------------------------------------------------------


def build_videoprism():
    from keras_hub.models import VideoPrismBackbone

    frames, size = 2, 32
    m = VideoPrismBackbone(
        num_frames=frames,
        patch_size=8,
        hidden_dim=16,
        intermediate_dim=32,
        num_heads=2,
        num_spatial_layers=1,
        num_temporal_layers=1,
        num_auxiliary_layers=1,
        vocabulary_size=64,
        num_text_layers=1,
        attention_logit_soft_cap=50.0,
        image_shape=(size, size, 3),
    )
    return m, {
        "pixel_values": _RNG.uniform(0, 1, (B, frames, size, size, 3)).astype("float32"),
        "token_ids": _ids(8, 64),
        "padding_mask": _ones_mask(8),
    }


def build_whisper():
    from keras_hub.models import WhisperBackbone

    m = WhisperBackbone(
        vocabulary_size=64,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        num_mels=16,
        max_encoder_sequence_length=32,
        max_decoder_sequence_length=16,
    )
    return m, {
        "encoder_features": _RNG.normal(size=(B, 32, 16)).astype("float32"),
        "decoder_token_ids": _ids(8, 64),
        "decoder_padding_mask": _ones_mask(8),
    }


def build_moonshine():
    from keras_hub.models import MoonshineBackbone

    n_samples = 4000
    m = MoonshineBackbone(
        vocabulary_size=64,
        filter_dim=16,
        encoder_num_layers=1,
        decoder_num_layers=1,
        hidden_dim=16,
        intermediate_dim=32,
        encoder_num_heads=2,
        decoder_num_heads=2,
        feedforward_expansion_factor=2,
        max_position_embeddings=512,
    )
    return m, {
        "encoder_input_values": _RNG.uniform(-1, 1, (B, n_samples, 1)).astype("float32"),
        "decoder_token_ids": _ids(8, 64),
        "encoder_padding_mask": np.ones((B, n_samples), dtype="bool"),
        "decoder_padding_mask": np.ones((B, 8), dtype="bool"),
    }


# --------------------------------------------------------------------------
# Generative (diffusion) backbones
# --------------------------------------------------------------------------


def build_flux():
    from keras_hub.models import FluxBackbone

    n_img, n_txt, c_in, c_txt = 16, 8, 16, 16
    m = FluxBackbone(
        input_channels=c_in,
        hidden_size=32,
        mlp_ratio=2.0,
        num_heads=2,
        depth=1,
        depth_single_blocks=1,
        axes_dim=[4, 6, 6],  # sums to head_dim = 32 / 2
        theta=10_000,
        use_bias=True,
        guidance_embed=True,
        image_shape=(n_img, c_in),
        text_shape=(n_txt, c_txt),
        image_ids_shape=(n_img, 3),
        text_ids_shape=(n_txt, 3),
        y_shape=(16,),
    )
    return m, {
        "image": _RNG.normal(size=(B, n_img, c_in)).astype("float32"),
        "image_ids": np.zeros((B, n_img, 3), dtype="float32"),
        "text": _RNG.normal(size=(B, n_txt, c_txt)).astype("float32"),
        "text_ids": np.zeros((B, n_txt, 3), dtype="float32"),
        "y": _RNG.normal(size=(B, 16)).astype("float32"),
        "timesteps": np.full((B,), 0.5, dtype="float32"),
        "guidance": np.full((B,), 1.0, dtype="float32"),
    }


def build_sd3():
    from keras_hub.models import StableDiffusion3Backbone
    from keras_hub.src.models.clip.clip_text_encoder import CLIPTextEncoder
    from keras_hub.src.models.vae.vae_backbone import VAEBackbone

    size = 32
    # VAE uses GroupNorm(32) so its widths must be multiples of 32.
    vae = VAEBackbone(
        [32, 32, 32, 32],
        [1, 1, 1, 1],
        [32, 32, 32, 32],
        [1, 1, 1, 1],
        sampler_method="mode",
        name="vae",
    )
    # SD3 reads the penultimate CLIP layer (intermediate_output_index=-2),
    # so the text encoders need >= 2 layers.
    clip_l = CLIPTextEncoder(32, 16, 16, 2, 2, 32, "quick_gelu", -2, max_sequence_length=8, name="clip_l")
    clip_g = CLIPTextEncoder(32, 16, 16, 2, 2, 32, "gelu", -2, max_sequence_length=8, name="clip_g")
    m = StableDiffusion3Backbone(
        mmdit_patch_size=2,
        mmdit_hidden_dim=32,
        mmdit_num_layers=1,
        mmdit_num_heads=2,
        mmdit_position_size=8,
        mmdit_qk_norm=None,
        mmdit_dual_attention_indices=None,
        vae=vae,
        clip_l=clip_l,
        clip_g=clip_g,
        image_shape=(size, size, 3),
    )
    return m, {
        "images": _img(size),
        "latents": _RNG.normal(size=(B, size // 8, size // 8, 16)).astype("float32"),
        "clip_l_token_ids": _ids(5, 32),
        "clip_l_negative_token_ids": _ids(5, 32),
        "clip_g_token_ids": _ids(5, 32),
        "clip_g_negative_token_ids": _ids(5, 32),
        "num_steps": np.ones((B,), dtype="int32"),
        "guidance_scale": np.ones((B,), dtype="float32"),
    }


_ALL = {
    "BASNet": build_basnet,
    "BLIP2": build_blip2,
    "CLIP": build_clip,
    "CSPNet": build_cspnet,
    "DFine": build_dfine,
    "DINOV2": build_dinov2,
    "DINOV3": build_dinov3,
    "DeepLabV3": build_deeplabv3,
    "DeiT": build_deit,
    "DenseNet": build_densenet,
    "DepthAnything": build_depth_anything,
    "EfficientNet": build_efficientnet,
    "FeaturePyramid": build_feature_pyramid,
    "Flux": build_flux,
    "Gemma3n": build_gemma3n,
    "HGNetV2": build_hgnetv2,
    "MetaCLIP2": build_metaclip2,
    "MiT": build_mit,
    "MobileNet": build_mobilenet,
    "MobileNetV5": build_mobilenetv5,
    "Moonshine": build_moonshine,
    "PARSeq": build_parseq,
    "PaliGemma": build_paligemma,
    "ResNet": build_resnet,
    "RetinaNet": build_retinanet,
    "SAM": build_sam,
    "SAM3PromptableConcept": build_sam3,
    "SegFormer": build_segformer,
    "SigLIP": build_siglip,
    "StableDiffusion3": build_sd3,
    "SwinTransformer": build_swin,
    "T5Gemma2": build_t5gemma2,
    "VGG": build_vgg,
    "ViT": build_vit,
    "ViTDet": build_vitdet,
    "VideoPrism": build_videoprism,
    "Whisper": build_whisper,
    "Xception": build_xception,
}

# Families that could not be built offline / cheaply: {family: reason}.
UNAVAILABLE = {}

# Measured per family on CPU (TF backend, 2 shared cores), all 38 built and
# run in one process: "seconds" = build + first forward (eager) call;
# "params" = backbone.count_params(); "n_outputs" = flattened output tensors.
# All outputs were finite. `cls.from_config(get_config())` + forward was also
# checked and works for every family except FeaturePyramid (see its entry).
# Families over ~300k params have width fixed inside keras-hub (not a
# constructor argument): DeepLabV3 (ASPP/decoder 256), RetinaNet (FPN 256),
# StableDiffusion3 (VAE GroupNorm(32) => >= 32 channels, VAE alone ~303k).
NOTES = {
    "BASNet": {"seconds": 2.03, "build_s": 1.63, "forward_s": 0.4, "params": 162706, "n_outputs": 8},
    "BLIP2": {"seconds": 0.55, "build_s": 0.32, "forward_s": 0.23, "params": 12912, "n_outputs": 1},
    "CLIP": {"seconds": 0.39, "build_s": 0.22, "forward_s": 0.17, "params": 14034, "n_outputs": 2},
    "CSPNet": {"seconds": 0.24, "build_s": 0.18, "forward_s": 0.07, "params": 15824, "n_outputs": 1},
    "DFine": {"seconds": 1.72, "build_s": 0.97, "forward_s": 0.75, "params": 31750, "n_outputs": 22},
    "DINOV2": {"seconds": 0.22, "build_s": 0.14, "forward_s": 0.07, "params": 14160, "n_outputs": 1},
    "DINOV3": {"seconds": 0.25, "build_s": 0.16, "forward_s": 0.08, "params": 16944, "n_outputs": 1},
    "DeepLabV3": {"seconds": 0.39, "build_s": 0.28, "forward_s": 0.11, "params": 481720, "n_outputs": 1},
    "DeiT": {"seconds": 0.3, "build_s": 0.24, "forward_s": 0.06, "params": 23968, "n_outputs": 1},
    "DenseNet": {"seconds": 0.14, "build_s": 0.11, "forward_s": 0.04, "params": 21184, "n_outputs": 1},
    "DepthAnything": {"seconds": 0.46, "build_s": 0.32, "forward_s": 0.13, "params": 113281, "n_outputs": 1},
    "EfficientNet": {"seconds": 0.27, "build_s": 0.2, "forward_s": 0.07, "params": 10356, "n_outputs": 1},
    "FeaturePyramid": {
        "seconds": 0.04,
        "build_s": 0.03,
        "forward_s": 0.01,
        "params": 5088,
        "n_outputs": 1,
        "from_config": "fails: Functional.__init__() missing inputs and outputs",
    },
    "Flux": {"seconds": 0.96, "build_s": 0.81, "forward_s": 0.15, "params": 65424, "n_outputs": 1},
    "Gemma3n": {"seconds": 0.65, "build_s": 0.34, "forward_s": 0.32, "params": 18840, "n_outputs": 1},
    "HGNetV2": {"seconds": 0.27, "build_s": 0.19, "forward_s": 0.08, "params": 10760, "n_outputs": 3},
    "MetaCLIP2": {"seconds": 0.34, "build_s": 0.22, "forward_s": 0.12, "params": 14017, "n_outputs": 2},
    "MiT": {"seconds": 0.79, "build_s": 0.7, "forward_s": 0.09, "params": 33440, "n_outputs": 1},
    "MobileNet": {"seconds": 0.54, "build_s": 0.41, "forward_s": 0.14, "params": 20584, "n_outputs": 1},
    "MobileNetV5": {"seconds": 0.19, "build_s": 0.12, "forward_s": 0.07, "params": 12688, "n_outputs": 1},
    "Moonshine": {"seconds": 0.29, "build_s": 0.16, "forward_s": 0.14, "params": 14132, "n_outputs": 3},
    "PARSeq": {"seconds": 0.33, "build_s": 0.22, "forward_s": 0.11, "params": 27218, "n_outputs": 1},
    "PaliGemma": {"seconds": 0.26, "build_s": 0.14, "forward_s": 0.12, "params": 6176, "n_outputs": 1},
    "ResNet": {"seconds": 0.13, "build_s": 0.1, "forward_s": 0.03, "params": 106304, "n_outputs": 1},
    "RetinaNet": {"seconds": 0.29, "build_s": 0.21, "forward_s": 0.07, "params": 1249656, "n_outputs": 2},
    "SAM": {"seconds": 0.35, "build_s": 0.22, "forward_s": 0.13, "params": 9948, "n_outputs": 4},
    "SAM3PromptableConcept": {"seconds": 1.12, "build_s": 0.61, "forward_s": 0.5, "params": 64078, "n_outputs": 5},
    "SegFormer": {"seconds": 0.84, "build_s": 0.74, "forward_s": 0.1, "params": 37216, "n_outputs": 1},
    "SigLIP": {"seconds": 0.41, "build_s": 0.28, "forward_s": 0.13, "params": 15962, "n_outputs": 2},
    "StableDiffusion3": {"seconds": 1.21, "build_s": 0.76, "forward_s": 0.45, "params": 489123, "n_outputs": 2},
    "SwinTransformer": {"seconds": 0.79, "build_s": 0.71, "forward_s": 0.07, "params": 14020, "n_outputs": 1},
    "T5Gemma2": {"seconds": 0.38, "build_s": 0.21, "forward_s": 0.17, "params": 26800, "n_outputs": 2},
    "VGG": {"seconds": 0.05, "build_s": 0.04, "forward_s": 0.02, "params": 5088, "n_outputs": 1},
    "ViT": {"seconds": 0.3, "build_s": 0.23, "forward_s": 0.06, "params": 23904, "n_outputs": 1},
    "ViTDet": {"seconds": 0.22, "build_s": 0.13, "forward_s": 0.09, "params": 9232, "n_outputs": 1},
    "VideoPrism": {"seconds": 0.46, "build_s": 0.3, "forward_s": 0.16, "params": 17824, "n_outputs": 2},
    "Whisper": {"seconds": 0.26, "build_s": 0.16, "forward_s": 0.1, "params": 8688, "n_outputs": 2},
    "Xception": {"seconds": 0.11, "build_s": 0.08, "forward_s": 0.03, "params": 8112, "n_outputs": 1},
}

_REMARKS = {
    "BASNet": "ResNet encoder is basic_block_vd (stem must equal projection_filters=2); 8 sigmoid outputs at 64x64",
    "CLIP": "outputs are only the (2,2) image/text logits",
    "MetaCLIP2": "outputs are only the (2,2) image/text logits",
    "SigLIP": "outputs are only the (2,2) image/text logits",
    "DFine": "num_denoising=0 (no labels needed); 22 outputs incl. intermediate decoder preds",
    "DeepLabV3": "ASPP/decoder width fixed at 256 in keras-hub -> >300k params",
    "RetinaNet": "FPN width fixed at 256 in keras-hub -> ~1.25M params; levels P3-P4",
    "StableDiffusion3": "VAE (GroupNorm 32) is ~303k of the params; backbone runs VAE enc/dec + 1 MMDiT step",
    "ResNet": "ResNetBackbone requires stackwise_num_filters[0]==64 (and stem 64 for basic_block)",
    "SAM": "one output (dense positional embeddings) has batch dim 1, not 2",
    "Gemma3n": "multimodal (MobileNetV5 vision + audio encoder); only output is text sequence (2,8,16)",
    "T5Gemma2": "multimodal variant with Gemma3VisionEncoder; inputs include images (2,1,16,16,3) + vision_indices",
    "VideoPrism": "video+text variant; inputs pixel_values (2,2,32,32,3)",
    "FeaturePyramid": "base class; built as a plain functional FeaturePyramidBackbone(inputs, outputs)",
}
for _k, _v in _REMARKS.items():
    NOTES[_k]["remark"] = _v


def _seeded(fn):
    """Reset the numpy input RNG so each call returns the same inputs."""

    def wrapper():
        global _RNG
        _RNG = np.random.default_rng(0)
        return fn()

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


CONFIGS = {k: _seeded(v) for k, v in _ALL.items() if k not in UNAVAILABLE}
