"""Leaderboard submissions: ``tools/test.py CONFIG CKPT --format-only [--submission-dir DIR]``.

The evaluators of mmdet / mmseg already know how to write predictions instead of scoring them
(``format_only``); this module switches them to that mode and packs what they write the way each
evaluation server expects:

* COCO (detection and instance segmentation): ``CocoMetric`` writes ``results.bbox.json`` and
  ``results.segm.json``; the server wants one zip per track holding
  ``detections_{testset}_{alg}_results.json``.
* ADE20K (SceneParsing): one PNG per test image, same base name, values 1..150 (0 unused), which
  is what ``IoUMetric`` writes for a dataset with ``reduce_zero_label=True``.
* Cityscapes: one PNG per image with *labelIds* (the 34-class ids), not the 19 train ids the
  model predicts: converted here with the official table.
* Pascal VOC: palette PNGs of class indices (0..20) with the standard VOC colour map, under
  ``results/VOC2012/Segmentation/comp6_test_cls/``: the format of the VOC ground truth and of the
  files the EANet authors' ``test_torch.py`` wrote for their server entry. mmseg writes plain
  8-bit PNGs of the same indices; the pixel values do not change, only the palette is added.
"""
import os
import os.path as osp
import zipfile
from typing import Dict

import numpy as np
from mmengine.config import Config
from PIL import Image

from .config import evaluator_list, innermost_dataset, remove_transforms

__all__ = ['CITYSCAPES_TRAIN_TO_LABEL_ID', 'enable_format_only', 'pack_submission']

# Cityscapes trainId -> labelId (cityscapesScripts' labels.py); 255 -> 0 (unlabeled).
CITYSCAPES_TRAIN_TO_LABEL_ID = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31,
                                32, 33)


def enable_format_only(cfg: Config, scope: str, out_dir: str) -> None:
    """Switch the test evaluators of ``cfg`` to writing predictions under ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    found = False
    for evaluator in evaluator_list(cfg.test_evaluator):
        if scope == 'mmdet' and evaluator.get('type') == 'CocoMetric':
            evaluator['format_only'] = True
            evaluator['outfile_prefix'] = osp.join(out_dir, 'results')
            found = True
        elif scope == 'mmseg' and evaluator.get('type') in ('IoUMetric', 'CityscapesMetric'):
            evaluator['type'] = 'IoUMetric'  # CityscapesMetric needs cityscapesscripts
            evaluator['format_only'] = True
            evaluator['output_dir'] = osp.join(out_dir, 'png')
            evaluator.pop('keep_results', None)
            found = True
    if not found:
        raise ValueError('--format-only supports CocoMetric (mmdet) and IoUMetric / '
                         f'CityscapesMetric (mmseg) test evaluators, got {cfg.test_evaluator}')
    if scope == 'mmseg':
        # Server test sets have no label maps, and mmseg's test / TTA pipelines load one per
        # image (for scoring): without labels to score, that step only fails.
        remove_transforms(cfg.test_dataloader.dataset, 'LoadAnnotations')


def pack_submission(cfg: Config, scope: str, out_dir: str, alg: str = 'mmattn',
                    testset: str = 'test-dev2017') -> Dict[str, str]:
    """Turn what the evaluators wrote in ``out_dir`` into server-ready zip files.

    Returns:
        dict: track name -> path of its zip file.
    """
    if scope == 'mmdet':
        return _pack_coco(out_dir, alg, testset)
    kind = innermost_dataset(cfg.test_dataloader.dataset).get('type', '')
    png_dir = osp.join(out_dir, 'png')
    if kind == 'CityscapesDataset':
        _train_ids_to_label_ids(png_dir)
        return dict(cityscapes=_zip_dir(png_dir, osp.join(out_dir, 'cityscapes_results.zip')))
    if kind == 'PascalVOCDataset':
        voc_dir = osp.join(out_dir, 'voc', 'results', 'VOC2012', 'Segmentation',
                           'comp6_test_cls')
        os.makedirs(voc_dir, exist_ok=True)
        palette = _voc_palette()
        for name in sorted(os.listdir(png_dir)):
            indices = Image.fromarray(np.asarray(Image.open(osp.join(png_dir, name))), mode='P')
            indices.putpalette(palette)
            indices.save(osp.join(voc_dir, name))
        return dict(voc=_zip_dir(osp.join(out_dir, 'voc'), osp.join(out_dir, 'voc_results.zip')))
    return dict(ade20k=_zip_dir(png_dir, osp.join(out_dir, 'ade20k_results.zip')))


def _pack_coco(out_dir: str, alg: str, testset: str) -> Dict[str, str]:
    zips = {}
    for track in ('bbox', 'segm'):
        src = osp.join(out_dir, f'results.{track}.json')
        if not osp.exists(src):
            continue
        name = f'detections_{testset}_{alg}_results.json'
        dst = osp.join(out_dir, f'{track}_{testset}_{alg}_results.zip')
        with zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as zf:
            zf.write(src, arcname=name)
        zips[track] = dst
    if not zips:
        raise FileNotFoundError(f'no results.bbox.json / results.segm.json in {out_dir}')
    return zips


def _train_ids_to_label_ids(png_dir: str) -> None:
    table = np.zeros(256, np.uint8)
    table[:len(CITYSCAPES_TRAIN_TO_LABEL_ID)] = CITYSCAPES_TRAIN_TO_LABEL_ID
    for name in os.listdir(png_dir):
        path = osp.join(png_dir, name)
        train_ids = np.array(Image.open(path))
        Image.fromarray(table[train_ids]).save(path)


def _voc_palette() -> list:
    """The PASCAL VOC colour map (768 values): the bits of each index, spread over R, G, B.

    Bit ``3j + c`` of the index sets bit ``7 - j`` of colour channel ``c``, so 1 is dark red
    (128, 0, 0), 15 (person) is (192, 128, 128) and 255 (boundary) is (224, 224, 192).
    """
    palette = []
    for index in range(256):
        rgb = [0, 0, 0]
        for bit in range(8):
            for channel in range(3):
                rgb[channel] |= ((index >> (3 * bit + channel)) & 1) << (7 - bit)
        palette.extend(rgb)
    return palette


def _zip_dir(src: str, dst: str) -> str:
    with zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as zf:
        for folder, _, files in os.walk(src):
            for name in sorted(files):
                path = osp.join(folder, name)
                zf.write(path, arcname=osp.relpath(path, src))
    return dst
