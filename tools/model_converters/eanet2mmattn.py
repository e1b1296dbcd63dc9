"""Convert the authors' EANet checkpoint (or its ImageNet ResNet) for mmattn's mmseg configs.

    .venv/bin/python tools/model_converters/eanet2mmattn.py SRC DST [--depth 101]

SRC is the released Pascal VOC model of MenghaoGuo/EANet (``{'net': state_dict}``): DST then
loads into ``configs/eanet_r101_voc12aug_official.py`` (``tools/test.py CONFIG DST``). SRC may
also be the ImageNet ResNet the official code starts from (PyTorch-Encoding's
``resnet101-2a57e44d.pth`` / ``resnet50-ebb6acbb.pth``): DST is then the ``pretrained=`` file of
the configs that follow the authors' protocol (``configs/eanet_r101_voc12aug.py``). DST holds
``{'state_dict': ..., 'meta': ...}``. Keys that do not fit are an error that lists them.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

import torch

from mmattn.models.converters.eanet import (convert_eanet, convert_resnet_deep_stem,
                                            load_eanet_checkpoint)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help="official {'net': ...} EANet file or its ImageNet ResNet")
    parser.add_argument('dst', help='output .pth for tools/test.py or model.pretrained')
    parser.add_argument('--depth', type=int, default=101, help='ResNet depth (default: 101)')
    args = parser.parse_args(argv)
    try:
        source, kind = load_eanet_checkpoint(args.src)
        convert = convert_eanet if kind == 'eanet' else convert_resnet_deep_stem
        converted = convert(source, depth=args.depth)
    except ValueError as err:  # the message lists every key that does not fit
        sys.exit(f'eanet2mmattn: {err}')
    dropped = sorted(key for key in source if key.startswith('fc.')) if kind == 'resnet' else []
    meta = dict(source=osp.basename(args.src), source_kind=kind, depth=args.depth,
                converter='tools/model_converters/eanet2mmattn.py', dropped=dropped)
    torch.save({'state_dict': converted, 'meta': meta}, args.dst)
    print(f'eanet2mmattn: {len(converted)} tensors from an official {kind} checkpoint -> '
          f'{args.dst}' + (f' (dropped the ImageNet classifier: {dropped})' if dropped else ''))


if __name__ == '__main__':
    main()
