"""Parameters and FLOPs of a config's model (mmengine's complexity analysis).

    python tools/analysis/get_flops.py CONFIG [--shape H W]

Counts the tensor forward that tools/deploy.py exports (segmentation: image -> logits;
detection: image -> backbone + neck features), in the training form. mmengine counts one
multiply-add as one "flop" (i.e. the number is MACs, as mmdet/mmseg report). Operators it has no
rule for are listed, so a silent under-count is visible.
"""
import argparse

import torch
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

import mmattn  # noqa: F401
from mmattn.utils.export import TensorForward
from mmattn.utils.launch import host_library


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, default=[512, 512], metavar=('H', 'W'))
    return parser.parse_args(argv)


def complexity(cfg: Config, shape) -> dict:
    """``params``, ``flops`` (MACs) and ``uncounted`` ops of the model of ``cfg`` at ``shape``."""
    scope = host_library(cfg)
    init_default_scope(scope)
    model = MODELS.build(cfg.model).eval()
    wrapper = TensorForward(model, scope).eval()
    image = torch.randn(1, 3, *shape)
    analyzer = FlopAnalyzer(wrapper, (image, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    flops = analyzer.total()
    return dict(params=parameter_count(model)[''], flops=flops,
                uncounted=dict(analyzer.unsupported_ops()))


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    result = complexity(cfg, args.shape)
    h, w = args.shape
    print(f'{args.config} at 1x3x{h}x{w}')
    print(f'  params: {result["params"] / 1e6:.2f} M')
    print(f'  FLOPs (multiply-adds): {result["flops"] / 1e9:.2f} G')
    if result['uncounted']:
        ops = ', '.join(f'{k} x{v}' for k, v in sorted(result['uncounted'].items()))
        print(f'  not counted (no FLOP rule; mostly element-wise): {ops}')
    return result


if __name__ == '__main__':
    main()
