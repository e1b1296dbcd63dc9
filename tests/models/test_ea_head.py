"""EAHead: an mmseg BaseDecodeHead around External Attention, alone and in an EncoderDecoder."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS as SEG_MODELS
from mmseg.structures import SegDataSample
from torch import nn

import mmattn  # noqa: F401  (registers the models)
from mmattn.layers import ExternalAttention, MultiHeadExternalAttention
from mmattn.models.decode_heads import EAHead
from mmattn.layers import switch_to_deploy
from messages import names

NUM_CLASSES = 5


def _head(**kwargs):
    cfg = dict(in_channels=16, channels=8, ea_channels=12, num_memory=4,
               num_classes=NUM_CLASSES, norm_cfg=dict(type='BN'))
    cfg.update(kwargs)
    return EAHead(**cfg)


def _build_segmentor():
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):  # for the data preprocessor
        return SEG_MODELS.build(ConfigDict(_segmentor_cfg()))


def _segmentor_cfg():
    """A tiny EANet: dilated ResNetV1c-18 (output stride 8), EAHead and an FCN auxiliary head."""
    norm_cfg = dict(type='BN', requires_grad=True)
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0.0] * 3, std=[1.0] * 3,
                               size=(32, 32), pad_val=0, seg_pad_val=255),
        backbone=dict(type='ResNetV1c', depth=18, base_channels=8, stem_channels=8,
                      dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), norm_cfg=norm_cfg,
                      contract_dilation=True),
        decode_head=dict(type='EAHead', in_channels=64, in_index=3, channels=16, ea_channels=32,
                         num_memory=8, dropout_ratio=0.1, num_classes=NUM_CLASSES,
                         norm_cfg=norm_cfg, align_corners=False,
                         loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        auxiliary_head=dict(type='FCNHead', in_channels=32, in_index=2, channels=8, num_convs=1,
                            concat_input=False, dropout_ratio=0.1, num_classes=NUM_CLASSES,
                            norm_cfg=norm_cfg, align_corners=False,
                            loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


def _batch(batch_size=2, size=32):
    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, size, size), generator=generator).float())
        sample = SegDataSample()
        label = torch.randint(0, NUM_CLASSES, (1, size, size), generator=generator)
        sample.gt_sem_seg = PixelData(data=label)
        sample.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size),
                                 pad_shape=(size, size)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def test_head_is_a_base_decode_head_registered_under_both_names():
    cfg = dict(in_channels=8, channels=4, ea_channels=8, num_memory=2, num_classes=3)
    plain = SEG_MODELS.build(dict(type='EAHead', **cfg))
    scoped = ROOT_MODELS.build(dict(type='mmattn.EAHead', **cfg))
    assert isinstance(plain, BaseDecodeHead) and type(scoped) is type(plain) is EAHead


def test_head_layers_follow_the_official_order_and_sizes():
    head = _head(ea_channels=12, channels=8, dropout_ratio=0.1)
    assert head.in_conv.conv.kernel_size == (3, 3)
    assert (head.in_conv.conv.in_channels, head.in_conv.conv.out_channels) == (16, 12)
    assert isinstance(head.ea, ExternalAttention) and head.ea.channels == 12
    assert head.ea.num_memory == 4
    assert head.out_conv.conv.kernel_size == (3, 3)
    assert (head.out_conv.conv.in_channels, head.out_conv.conv.out_channels) == (12, 8)
    assert head.dropout.p == 0.1
    assert head.conv_seg.kernel_size == (1, 1) and head.conv_seg.out_channels == NUM_CLASSES


def test_head_maps_features_to_class_logits_at_the_feature_resolution():
    head = _head().eval()
    feats = [torch.randn(2, 16, 7, 9)]
    with torch.no_grad():
        logits = head(feats)
    assert logits.shape == (2, NUM_CLASSES, 7, 9)


def test_head_feature_is_the_ea_output_passed_through_the_second_conv():
    head = _head().eval()
    feats = [torch.randn(2, 16, 6, 6)]
    captured = {}
    head.ea.register_forward_hook(lambda module, args, out: captured.update(ea=out))
    # what reaches the classifier (dropout is the identity in eval)
    head.conv_seg.register_forward_pre_hook(lambda module, args: captured.update(feature=args[0]))
    with torch.no_grad():
        head(feats)
        torch.testing.assert_close(captured['feature'], head.out_conv(captured['ea']))


def test_head_in_eval_is_the_classifier_of_out_conv_of_ea_of_in_conv():
    """Each stage composed by hand: a head that skips, repeats or reorders one fails."""
    torch.manual_seed(0)
    head = _head(dropout_ratio=0.5)
    with torch.no_grad():  # BN statistics away from (0, 1), so that every BN really acts
        for module in head.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_()
    head.eval()  # dropout is the identity in eval
    feats = [torch.randn(2, 16, 6, 7)]
    with torch.no_grad():
        expected = head.conv_seg(head.out_conv(head.ea(head.in_conv(feats[0]))))
        torch.testing.assert_close(head(feats), expected)
        without_ea = head.conv_seg(head.out_conv(head.in_conv(feats[0])))
    assert (expected - without_ea).abs().max() > 1e-3  # the EA block changes the logits


def test_ea_norm_follows_the_head_norm_cfg():
    assert isinstance(_head(norm_cfg=dict(type='BN')).ea.out_norm, nn.BatchNorm2d)
    assert isinstance(_head(norm_cfg=dict(type='SyncBN')).ea.out_norm, nn.SyncBatchNorm)
    group = _head(norm_cfg=dict(type='GN', num_groups=4)).ea.out_norm
    assert isinstance(group, nn.GroupNorm) and group.num_groups == 4
    assert isinstance(_head(norm_cfg=None).ea.out_norm, nn.Identity)


def test_num_heads_above_one_builds_multi_head_external_attention():
    head = _head(ea_channels=12, num_heads=3)
    assert type(head.ea) is MultiHeadExternalAttention and head.ea.num_heads == 3
    with torch.no_grad():
        assert head.eval()([torch.randn(1, 16, 4, 4)]).shape == (1, NUM_CLASSES, 4, 4)


def test_several_input_maps_without_concatenation_raise_a_clear_error():
    with pytest.raises(ValueError, match=names('in_channels', [8, 16], 'input_transform')):
        _head(in_channels=[8, 16], in_index=[0, 1], input_transform='multiple_select')


def test_init_weights_keeps_the_value_memory_equal_to_the_key_memory_transposed():
    head = _head()
    head.init_weights()
    torch.testing.assert_close(head.ea.memory_values.weight,
                               head.ea.memory_keys.weight.transpose(0, 1))


def test_encoder_decoder_loss_has_decode_and_auxiliary_terms_and_backpropagates():
    model = _build_segmentor()
    model.init_weights()
    model.train()
    data = model.data_preprocessor(_batch(), training=True)
    losses = model(**data, mode='loss')
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    total = sum(value for key, value in losses.items() if 'loss' in key)
    assert torch.isfinite(total)
    total.backward()
    for name, param in model.decode_head.ea.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_encoder_decoder_predicts_a_label_map_at_the_input_size():
    model = _build_segmentor().eval()
    data = model.data_preprocessor(_batch(batch_size=1, size=40), training=False)
    with torch.no_grad():
        (result,) = model(**data, mode='predict')
    assert result.pred_sem_seg.data.shape == (1, 40, 40)
    assert result.seg_logits.data.shape == (NUM_CLASSES, 40, 40)
    assert 0 <= result.pred_sem_seg.data.min() and result.pred_sem_seg.data.max() < NUM_CLASSES


def test_switch_to_deploy_keeps_the_segmentor_logits():
    model = _build_segmentor()
    model.train()
    data = model.data_preprocessor(_batch(), training=True)
    with torch.no_grad():
        model(**data, mode='loss')  # one batch of BN statistics, so folding is not trivial
    model.eval()
    data = model.data_preprocessor(_batch(batch_size=1), training=False)
    with torch.no_grad():
        before = model(**data, mode='tensor')
        switch_to_deploy(model)
        after = model(**data, mode='tensor')
    assert model.decode_head.ea.deploy
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


def test_head_defaults_are_the_official_512_ea_channels_and_64_memory_units():
    head = EAHead(in_channels=8, channels=4, num_classes=3)
    assert (head.ea.channels, head.ea.num_memory) == (512, 64)
    assert type(head.ea) is ExternalAttention  # one head, as the official segmentation code
    assert head.in_conv.conv.out_channels == head.out_conv.conv.in_channels == 512


def test_conv_cfg_and_act_cfg_reach_both_3x3_conv_modules():
    from mmcv.cnn.bricks import Conv2dAdaptivePadding
    head = _head(conv_cfg=dict(type='Conv2dAdaptivePadding'), act_cfg=dict(type='LeakyReLU'))
    for conv_module in (head.in_conv, head.out_conv):
        assert type(conv_module.conv) is Conv2dAdaptivePadding
        assert isinstance(conv_module.activate, nn.LeakyReLU)


@pytest.mark.parametrize('num_heads', [1, 3])
def test_deploy_argument_builds_the_ea_block_in_its_deploy_form(num_heads):
    assert _head(ea_channels=12, num_heads=num_heads, deploy=True).ea.deploy
    assert not _head(ea_channels=12, num_heads=num_heads).ea.deploy
