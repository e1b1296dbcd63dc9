"""Export a model to ONNX in its deploy form and check it against PyTorch with onnxruntime.

    python tools/deploy.py CONFIG CHECKPOINT --out model.onnx [--shape H W] [--opset 17]

Segmentation configs export image -> logits, detection configs image -> FPN features (see
mmattn/utils/export.py). Height and width are dynamic when the graph allows it: the export is
checked at --shape and at a second size; if the dynamic export or the second size fails
(adaptive pooling, as in PSPNet / UPerNet heads, needs fixed sizes in ONNX), the model is
exported with a fixed size and the tool says so. Prints the max abs difference to PyTorch
(target <= 1e-4).
"""
import argparse
import sys

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint

import mmattn  # noqa: F401
from mmattn.utils.export import check_onnx, export_onnx
from mmattn.utils.launch import host_library


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="checkpoint file, or 'none' for random weights")
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument('--shape', type=int, nargs=2, default=[256, 320], metavar=('H', 'W'))
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--tolerance', type=float, default=1e-4)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    scope = host_library(cfg)
    init_default_scope(scope)
    model = MODELS.build(cfg.model)
    if args.checkpoint != 'none':
        load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    else:
        model.init_weights()
    model.eval()
    h, w = args.shape
    other = (h + 32, w - 32 if w > 64 else w + 32)
    try:
        export_onnx(model, scope, args.out, (h, w), opset=args.opset, dynamic=True)
        diffs = check_onnx(model, scope, args.out, [(h, w), other])
        dynamic = diffs[1] <= args.tolerance
        if not dynamic:
            print(f'[deploy] a second input size {other} differs by {diffs[1]:.3g}')
    except Exception as err:  # e.g. adaptive pooling (PSP/UPerNet) needs static sizes in ONNX
        print(f'[deploy] dynamic height/width not possible ({type(err).__name__}: '
              f'{str(err).splitlines()[0][:160]})')
        dynamic = False
    if not dynamic:
        print(f'[deploy] exporting with a fixed input size {h}x{w}')
        export_onnx(model, scope, args.out, (h, w), opset=args.opset, dynamic=False)
        diffs = check_onnx(model, scope, args.out, [(h, w)])
    worst = max(diffs)
    print(f'[deploy] wrote {args.out} (opset {args.opset if dynamic else max(args.opset, 18)}, '
          f"{'dynamic' if dynamic else 'fixed'} height/width); max abs difference to PyTorch: "
          f'{worst:.3g} ({"ok" if worst <= args.tolerance else "ABOVE"} tolerance '
          f'{args.tolerance:g})')
    return 0 if worst <= args.tolerance else 1


if __name__ == '__main__':
    torch.manual_seed(0)
    sys.exit(main())
