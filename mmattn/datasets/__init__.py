"""Synthetic datasets in real formats (COCO instances; ADE20K, Cityscapes, VOC semantic;
ImageNet classification)."""
from .synthetic import (ADE_CLASSES, CITYSCAPES_CLASSES, COCO_CLASSES, make_ade_semantic,
                        make_cityscapes_semantic, make_coco_instances, make_imagenet_folder,
                        make_voc_semantic)

__all__ = [
    'ADE_CLASSES', 'CITYSCAPES_CLASSES', 'COCO_CLASSES', 'make_ade_semantic',
    'make_cityscapes_semantic', 'make_coco_instances', 'make_imagenet_folder',
    'make_voc_semantic'
]
