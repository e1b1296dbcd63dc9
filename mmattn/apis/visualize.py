"""External Attention maps of a model on one image (``tools/visualize_attention.py``).

Runs the model's own inference (mmseg ``inference_model`` or mmdet ``inference_detector``),
captures the input of every External Attention module, computes its normalised attention map
(softmax over pixels, L1 over memory units; ``attention_map()``) and writes, per module, one PNG
per chosen memory unit with the unit's map over the image, plus a strip of all of them next to
the image, as the paper's figure. Multi-head modules show the mean over heads.

Without ``units`` the ``num_units`` units whose maps vary most over the image are shown (the
flattest units carry little to look at). Segmentors run in ``whole`` test mode so that each
module sees the full image once.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config

from mmattn.layers import MultiHeadExternalAttention
from .model import load_config

__all__ = ['visualize_attention']


def _init_and_run(cfg: Config, checkpoint: str, image: str, device: str):
    """Build the model with its library's API and run it once; returns (model, data sample)."""
    scope = cfg.get('default_scope', None)
    if scope == 'mmseg':
        from mmseg.apis import inference_model, init_model
        cfg.model.test_cfg = dict(mode='whole')
        model = init_model(cfg, checkpoint, device=device)
        return model, lambda: inference_model(model, image)
    if scope == 'mmdet':
        from mmdet.apis import inference_detector, init_detector
        model = init_detector(cfg, checkpoint, device=device)
        return model, lambda: inference_detector(model, image)
    raise ValueError(f"visualize_attention: default_scope {scope!r} of the config is neither "
                     "'mmseg' nor 'mmdet'")


def _colourise(attention: np.ndarray, image: np.ndarray, alpha: float) -> np.ndarray:
    """Blend a [0, 1] map (image-sized) over a BGR image with the JET colour map."""
    heat = cv2.applyColorMap(np.uint8(np.round(attention * 255)), cv2.COLORMAP_JET)
    return cv2.addWeighted(heat, alpha, image, 1 - alpha, 0)


def _image_sized(unit_maps: torch.Tensor, sample, image_hw) -> np.ndarray:
    """(S, h, w) maps over the padded network input -> (S, H, W) maps over the original image."""
    meta = sample.metainfo
    pad_h, pad_w = meta.get('batch_input_shape', meta.get('pad_shape', meta['img_shape']))[:2]
    img_h, img_w = meta['img_shape'][:2]
    height, width = unit_maps.shape[-2:]
    # The image occupies the top-left img_shape of the padded input.
    crop_h = max(1, round(height * img_h / pad_h))
    crop_w = max(1, round(width * img_w / pad_w))
    maps = unit_maps[:, :crop_h, :crop_w]
    if meta.get('flip', False) and meta.get('flip_direction') == 'horizontal':
        maps = maps.flip(-1)
    maps = F.interpolate(maps[None], size=tuple(image_hw), mode='bilinear',
                         align_corners=False)[0]
    return maps.cpu().numpy()


def _pick_units(maps: np.ndarray, units: Optional[Sequence[int]], num_units: int) -> List[int]:
    if units is not None:
        bad = [u for u in units if not 0 <= u < maps.shape[0]]
        if bad:
            raise ValueError(f'visualize_attention: units {bad} out of range, the module has '
                             f'{maps.shape[0]} memory units')
        return list(units)
    spread = maps.reshape(maps.shape[0], -1).std(axis=1)
    return [int(u) for u in np.argsort(-spread)[:num_units]]


def visualize_attention(config: Union[str, Config], checkpoint: str, image: str, out_dir: str,
                        units: Optional[Sequence[int]] = None, num_units: int = 4,
                        alpha: float = 0.5, device: str = 'cpu') -> Dict[str, List[str]]:
    """Write the attention PNGs; returns {module name: [written paths]}.

    ``config`` is a file or a loaded :class:`Config` (copied, not modified).
    """
    cfg = load_config(config)
    model, run = _init_and_run(cfg, checkpoint, image, device)
    modules = {name: module for name, module in model.named_modules()
               if isinstance(module, MultiHeadExternalAttention)}
    if not modules:
        raise ValueError(f'visualize_attention: the model of {config} has no External '
                         'Attention module')
    inputs: Dict[str, torch.Tensor] = {}
    handles = [
        module.register_forward_pre_hook(
            lambda mod, args, name=name: inputs.setdefault(name, args[0].detach()))
        for name, module in modules.items()
    ]
    try:
        with torch.no_grad():
            result = run()
            maps = {name: modules[name].attention_map(x) for name, x in inputs.items()}
    finally:
        for handle in handles:
            handle.remove()

    bgr = cv2.imread(image, cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f'visualize_attention: cannot read image {image}')
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(image))[0]
    written: Dict[str, List[str]] = {}
    for name, attention in maps.items():
        height, width = inputs[name].shape[-2:]
        if attention.dim() == 4:  # B, heads, S, N: mean over heads
            attention = attention.mean(dim=1)
        unit_maps = attention[0].float().reshape(-1, height, width)  # S, h, w
        unit_maps = _image_sized(unit_maps, result, bgr.shape[:2])
        chosen = _pick_units(unit_maps, units, num_units)
        paths, tiles = [], [bgr]
        for unit in chosen:
            unit_map = unit_maps[unit]
            unit_map = (unit_map - unit_map.min()) / max(float(np.ptp(unit_map)), 1e-12)
            overlay = _colourise(unit_map, bgr, alpha)
            path = osp.join(out_dir, f'{stem}_{name.replace(".", "_")}_unit{unit}.png')
            cv2.imwrite(path, overlay)
            paths.append(path)
            tiles.append(overlay)
        strip = osp.join(out_dir, f'{stem}_{name.replace(".", "_")}.png')
        cv2.imwrite(strip, np.concatenate(tiles, axis=1))
        written[name] = paths + [strip]
    return written
