"""Convert an official, timm or mmpretrain LeViT checkpoint into an ``mmattn.LeViT`` one.

    .venv/bin/python tools/model_converters/levit2mmattn.py SRC DST [--with-head] [--trust-checkpoint]

SRC: ``.pth`` / ``.pt`` / ``.safetensors`` of any of the three, linear or conv form. DST gets
``{'state_dict': ..., 'meta': ...}`` with backbone keys, for
``init_cfg=dict(type='Pretrained', checkpoint=DST)``. The conversion is
:func:`mmattn.models.converters.convert_levit`. ``--with-head``: the whole ImageNet classifier
(``backbone.*`` and both heads) for ``tools/test.py configs/levit256_in1k_eval.py DST``
(:func:`mmattn.models.converters.convert_levit_classifier`).
"""
import argparse
from typing import List, Optional

from mmattn.models.converters import (convert_levit, convert_levit_classifier, detect_format,
                                      load_state_dict, save_state_dict, strip_prefix)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official / timm / mmpretrain LeViT checkpoint')
    parser.add_argument('dst', help='output .pth for mmattn.LeViT init_cfg')
    parser.add_argument('--with-head', action='store_true',
                        help='keep the classifier heads (ImageNet evaluation with mmpretrain)')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='unpickle non-tensor objects in SRC (only for trusted files)')
    args = parser.parse_args(argv)
    source = load_state_dict(args.src, trust=args.trust_checkpoint)
    fmt = detect_format(strip_prefix(source, 'backbone.'))
    converted = (convert_levit_classifier if args.with_head else convert_levit)(source)
    save_state_dict(converted, args.dst, dict(source_format=fmt, source=args.src))
    print(f'levit2mmattn: {len(converted)} tensors from a {fmt} checkpoint -> {args.dst}')


if __name__ == '__main__':
    main()
