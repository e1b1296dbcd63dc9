"""Export a model to ONNX in its deploy form and check it against PyTorch with onnxruntime.

    .venv/bin/python tools/deploy.py CONFIG CHECKPOINT --out model.onnx [--shape H W] [--opset 17]

Segmentation configs export image -> logits, detection configs image -> FPN features. Height
and width are dynamic when the graph allows it, else the export is fixed at --shape and the tool
says why (policy and checks: :func:`mmattn.apis.deploy_onnx`). Prints the largest difference to
PyTorch relative to the output scale; exit code 1 when it is above --tolerance.
"""
import argparse
import sys

import torch

from mmattn.apis import build_model, deploy_onnx, load_config
from mmattn.utils.config import host_library


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="checkpoint file, or 'none' for random weights")
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument('--shape', type=int, nargs=2, default=[256, 320], metavar=('H', 'W'))
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--tolerance', type=float, default=1e-3,
                        help='bound on max|onnx - torch| / max|torch|')
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    cfg = load_config(args.config)
    model = build_model(cfg, None if args.checkpoint == 'none' else args.checkpoint)
    report = deploy_onnx(model, host_library(cfg), args.out, args.shape, args.opset,
                         args.tolerance)
    if report['fallback_reason']:
        print(f"[deploy] dynamic height/width not possible ({report['fallback_reason']}); "
              f'exported with a fixed input size {args.shape[0]}x{args.shape[1]}')
    print(f"[deploy] wrote {args.out} (opset {report['opset']}, "
          f"{'dynamic' if report['dynamic'] else 'fixed'} height/width); difference to "
          f"PyTorch relative to the output scale: {report['max_rel_diff']:.3g} "
          f"({'ok' if report['ok'] else 'ABOVE'} tolerance {args.tolerance:g})")
    return 0 if report['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
