"""ImageNet-stage training throughput: LambdaResNet-50 and X-volution ResNet-50 vs mmpretrain's
ResNet-50, side by side in one process.

Usage: ``.venv/bin/python bench/imagenet.py [--quick] [--threads N] [--clock wall|cpu]``

Each model is the ``model`` of its config: ``configs/lambda_resnet50_8xb32_in1k.py``,
``configs/xvolution_pssa_resnet50_8xb32_in1k.py``, ``configs/xvolution_sa_resnet50_8xb32_in1k.py``
and mmpretrain's own ``resnet/resnet50_8xb32_in1k.py`` (the recipe all of them train with). One
step is what training does per batch: data preprocessor, forward with the loss, backward, an SGD
step (lr 0.1, momentum 0.9, weight decay 1e-4), on the same random 224x224 batch (batch 32;
``--quick``: 8). Steps run interleaved, best of the repeats; images/s = batch / step time. Peak
memory: CUDA's max_memory_allocated on a GPU, else the tensor bytes of ``bench/common.py``.

mmpretrain imports torchvision. Where no torchvision imports with this torch, the test suite's
stand-in (``tests/torchvision_stub.py``) is used and the output says so: none of these models
runs torchvision code.
"""
import os.path as osp
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a file: the repo root

from bench.common import (bench_parser, interleaved_ms, markdown_table,  # noqa: E402
                          peak_memory_mb, start)

MODELS = {  # name -> config (ours under configs/, or mmpretrain's)
    'ResNet-50 (mmpretrain)': 'mmpretrain:resnet/resnet50_8xb32_in1k.py',
    'LambdaResNet-50 hybrid': 'lambda_resnet50_8xb32_in1k.py',
    'X-volution R50 (PSSA, stage 3)': 'xvolution_pssa_resnet50_8xb32_in1k.py',
    'X-volution R50 (SA, stage 3)': 'xvolution_sa_resnet50_8xb32_in1k.py',
}


def _torchvision_note() -> str:
    try:
        import torchvision  # noqa: F401
        return ''
    except Exception:  # noqa: BLE001  (a CUDA build on CPU torch raises RuntimeError)
        sys.path.insert(0, str(ROOT / 'tests'))
        import torchvision_stub
        torchvision_stub.install()
        return ('torchvision does not import with this torch: mmpretrain ran behind the test '
                'stand-in (tests/torchvision_stub.py); no torchvision code runs in these models.')


def _config_path(config: str) -> str:
    if config.startswith('mmpretrain:'):
        from mmengine.utils import get_installed_path
        return osp.join(get_installed_path('mmpretrain'), '.mim', 'configs',
                        config.split(':', 1)[1])
    return str(ROOT / 'configs' / config)


def _train_step(config: str, batch: int, device: str):
    """A closure running one training step of the config's model on a fixed batch."""
    from mmengine.config import Config
    from mmpretrain.structures import DataSample

    from mmattn.apis.model import build_model

    torch.manual_seed(0)
    model = build_model(Config.fromfile(_config_path(config))).to(device).train()
    generator = torch.Generator().manual_seed(0)
    data = dict(inputs=torch.randint(0, 255, (batch, 3, 224, 224), generator=generator,
                                     dtype=torch.uint8),
                data_samples=[DataSample().set_gt_label(int(label)) for label in
                              torch.randint(0, 1000, (batch, ), generator=generator)])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)

    def step():
        batch_data = model.data_preprocessor(data, True)
        losses = model(**batch_data, mode='loss')
        sum(losses.values()).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == 'cuda':
            torch.cuda.synchronize()

    params = sum(p.numel() for p in model.parameters())
    return step, params


def _peak_mb(step, device: str) -> float:
    if device != 'cuda':
        return peak_memory_mb(step)
    torch.cuda.reset_peak_memory_stats()
    step()
    return torch.cuda.max_memory_allocated() / 2**20


def bench_training(quick: bool, clock: str) -> str:
    note = _torchvision_note()
    from mmengine.logging import MMLogger

    import mmattn  # noqa: F401  (registers mmattn's models)
    # the newest logger is mmengine's current one: init_weights() would log every parameter
    MMLogger.get_instance('bench_imagenet', log_level='WARNING')
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    batch, repeats = (8, 2) if quick else (32, 5)
    steps, params = {}, {}
    for name, config in MODELS.items():
        steps[name], params[name] = _train_step(config, batch, device)
    times = interleaved_ms(steps, repeats, clock=clock)
    memory = {name: _peak_mb(step, device) for name, step in steps.items()}
    base = 'ResNet-50 (mmpretrain)'
    rows = []
    for name in MODELS:
        rows.append([name, f'{params[name] / 1e6:.1f} M', f'{times[name]:.0f} ms',
                     f'{1000 * batch / times[name]:.1f}',
                     f'{times[base] / times[name]:.2f}x', f'{memory[name]:.0f} MB',
                     f'{memory[name] / memory[base]:.2f}x'])
    title = (f'ImageNet training step (preprocess + forward + loss + backward + SGD), '
             f'{batch}x3x224x224 on {device}, best of {repeats}, {clock} clock')
    header = ['model', 'parameters', 'step', 'images/s', 'throughput vs ResNet-50',
              'peak memory', 'memory vs ResNet-50']
    return markdown_table(title, header, rows,
                          'Throughput ratios below 1: slower than ResNet-50; memory ratios '
                          'above 1: more memory than ResNet-50.' + (f' {note}' if note else ''))


def main():
    args = bench_parser(__doc__).parse_args()
    start(args)
    print(bench_training(args.quick, args.clock))


if __name__ == '__main__':
    main()
