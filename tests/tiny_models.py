"""Tiny versions of the configs' models, for tests that train them several times on 2 CPU cores.

They keep the config's detector, its method's operators, losses, samplers and training loop;
widths, the ResNet depth and the numbers of proposals and sampled RoIs shrink.
"""
from mmengine.config import Config

# The segmentation configs at 64x64 crops, without worker processes (preflight's tests)
SEG_SMALL = {
    'model.data_preprocessor.size': (64, 64),
    'train_dataloader.dataset.pipeline.2.scale': (256, 64),
    'train_dataloader.dataset.pipeline.3.crop_size': (64, 64),
    'train_dataloader.num_workers': 0,
    'train_dataloader.persistent_workers': False,
}

# A ResNet at 1/8 width (64 channels at stage 4 for ResNet-18) under a 16-channel FPN and heads
_TINY_MASK_RCNN = {
    'model.backbone.base_channels': 8,
    'model.backbone.stem_channels': 8,
    'model.neck.out_channels': 16,
    'model.rpn_head.in_channels': 16,
    'model.rpn_head.feat_channels': 16,
    'model.roi_head.bbox_roi_extractor.out_channels': 16,
    'model.roi_head.bbox_head.in_channels': 16,
    'model.roi_head.bbox_head.fc_out_channels': 32,
    'model.roi_head.mask_roi_extractor.out_channels': 16,
    'model.roi_head.mask_head.in_channels': 16,
    'model.roi_head.mask_head.conv_out_channels': 16,
    'model.train_cfg.rpn.sampler.num': 64,
    'model.train_cfg.rpn_proposal.nms_pre': 200,
    'model.train_cfg.rpn_proposal.max_per_img': 100,
    'model.train_cfg.rcnn.sampler.num': 64,
    'model.test_cfg.rpn.nms_pre': 200,
    'model.test_cfg.rpn.max_per_img': 100,
}


def tiny_mask_rcnn_options(depth: int = 18) -> dict:
    """The ``cfg_options`` (dotted keys) of :func:`tiny_mask_rcnn`, EA memory aside."""
    expansion = 1 if depth in (18, 34) else 4
    return dict(_TINY_MASK_RCNN, **{
        'model.backbone.depth': depth,
        'model.neck.in_channels': [8 * expansion, 16 * expansion, 32 * expansion, 64 * expansion],
    })


def tiny_mask_rcnn(cfg: Config, depth: int = 18) -> Config:
    """Shrink the Mask R-CNN of ``cfg`` in place (an EA backbone keeps 8 memory units).

    ``depth=50`` keeps the Bottleneck blocks that lambda layers and X-volution replace convs of.
    """
    cfg.merge_from_dict(tiny_mask_rcnn_options(depth))
    if 'ea_cfg' in cfg.model.backbone:
        cfg.model.backbone.ea_cfg.num_memory = 8
    return cfg
