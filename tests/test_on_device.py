"""The operators and the LeViT backbone on the device of ``pytest --device`` (default: cpu).

    .venv/bin/python -m pytest tests/test_on_device.py --device cuda

Each case (Lambda, External Attention, multi-head EA, X-volution PSSA / SA in training and
deploy forms, the LeViT stem, blocks and backbone) runs small inputs on the device against a
float64 copy of itself on the CPU:

* float32 forward and gradients (input and every parameter) against the float64 reference.
  TF32 is off in these tests (cuDNN allows it for convolutions by default, a 1e-3 error);
* fp16 autocast with a GradScaler, and bf16 autocast: one training step, every gradient finite
  and the output within the format's precision of the float32 one;
* ``torch.compile``: compiled forward (and backward for training forms) equal to eager; on
  CUDA with inductor (the default backend), on CPU with ``aot_eager`` (graph capture and
  AOTAutograd without inductor's C++ code generation, which takes up to a minute per case
  on 2 cores). Marked slow.

Training forms run in training mode (BatchNorm on batch statistics, as in training; the deep
backbone in eval mode); deploy forms in eval mode against the training form in eval mode,
after a few batches that give the BatchNorms non-trivial statistics. The LeViT backbone needs
OpenMMLab (mmengine's BaseModule): it skips, saying so, where that is not installed (the bare
GPU image).
"""
import copy
from typing import Callable, Dict, Tuple

import pytest
import torch
from torch import nn

from mmattn.layers import (ExternalAttention, LambdaLayer, LeViTBlock, LeViTShrinkBlock,
                           LeViTStem, MultiHeadExternalAttention, XVolution, switch_to_deploy)

# name -> (build the module, input shape, grid of token inputs or None, has a deploy form)
HW = (4, 4)


def _levit_backbone() -> nn.Module:
    try:
        from mmattn.models.backbones.levit import LeViT
    except ImportError as error:
        pytest.skip(f'the LeViT backbone needs OpenMMLab (mmengine, mmcv): {error}')
    # LeViT's layout (stem, 3 stages, 2 shrink blocks) at a small width and depth
    arch = dict(embed_dims=[32, 48, 64], key_dim=8, num_heads=[2, 3, 4], depths=[1, 2, 1])
    return LeViT(arch, out_indices=(2, 3, 4), pretrain_img_size=224)


CASES: Dict[str, Tuple[Callable[[], nn.Module], Tuple[int, ...], object, bool]] = {
    'lambda': (lambda: LambdaLayer(16, 16, dim_k=4, heads=4, dim_u=1, r=5), (2, 16, 8, 8),
               None, False),
    'lambda_global': (lambda: LambdaLayer(16, 16, dim_k=4, heads=4, dim_u=1, r=None,
                                          size=(8, 8)), (2, 16, 8, 8), None, False),
    'ea': (lambda: ExternalAttention(16, num_memory=8), (2, 16, 8, 8), None, True),
    'multi_head_ea': (lambda: MultiHeadExternalAttention(16, num_heads=4, num_memory=8),
                      (2, 16, 8, 8), None, True),
    'xvolution_pssa': (lambda: XVolution(16, 16, attention='pssa'), (2, 16, 8, 8), None, True),
    'xvolution_pssa_stride2': (lambda: XVolution(16, 16, stride=2, attention='pssa'),
                               (2, 16, 8, 8), None, True),
    'xvolution_sa': (lambda: XVolution(16, 16, attention='sa'), (2, 16, 8, 8), None, True),
    'levit_stem': (lambda: LeViTStem(3, 32), (2, 3, 32, 32), None, True),
    'levit_block': (lambda: LeViTBlock(32, key_dim=8, num_heads=2, pretrain_hw=4),
                    (2, 16, 32), HW, True),
    'levit_shrink_block': (lambda: LeViTShrinkBlock(32, 48, key_dim=8, pretrain_hw=4),
                           (2, 16, 32), HW, True),
    'levit_backbone': (_levit_backbone, (2, 3, 64, 64), None, True),
}
# deep: BatchNorm on the few tokens of the last stages turns rounding into large differences,
# so it runs in eval mode (running statistics from a few batches) in every test
EVAL_MODE = {'levit_backbone'}
TRAINING = sorted(CASES)
DEPLOY = sorted(name for name, case in CASES.items() if case[3])


@pytest.fixture(autouse=True)
def no_tf32():
    """Full float32 on the GPU (cuDNN convolutions default to TF32); restored afterwards."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _tensor(output) -> torch.Tensor:
    """One tensor of any module's output (token blocks return (x, hw), the stem and the
    backbone a list or tuple of maps)."""
    if isinstance(output, torch.Tensor):
        return output
    tensors = [t for t in output if isinstance(t, torch.Tensor)]
    return torch.cat([t.flatten() for t in tensors])


def _build(name: str, deploy: bool = False):
    """(module, input, forward) in training mode, or in its deploy form (eval mode) with the
    eval-mode training form as the reference."""
    build, shape, hw, _ = CASES[name]
    torch.manual_seed(0)
    module = build().float()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))

    def forward(m, inputs):
        return _tensor(m(inputs, hw) if hw else m(inputs))

    if deploy or name in EVAL_MODE:
        with torch.no_grad():  # BN statistics away from 0 / 1
            for _ in range(3):
                forward(module.train(), x * 2 + 0.5)
        module.eval()
    return module, x, forward


def _relative_error(got: torch.Tensor, expected: torch.Tensor, scale: float = 0.) -> float:
    """Largest difference over the largest expected magnitude (or ``scale`` if larger: a
    gradient that is zero in exact arithmetic, as a bias before a BatchNorm, is judged on the
    scale of the others)."""
    got, expected = got.detach().cpu().double(), expected.detach().cpu().double()
    return ((got - expected).abs().max() / max(expected.abs().max().item(), scale, 1e-12)).item()


def _reference(module, x, forward, deploy: bool):
    """float64 CPU output, input gradient and parameter gradients (None for deploy forms)."""
    reference = copy.deepcopy(module).double().cpu()
    inputs = x.double().requires_grad_(not deploy)
    out = forward(reference, inputs)
    if deploy:
        return out, None, None
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    (out * weights).sum().backward()
    grads = {n: p.grad for n, p in reference.named_parameters() if p.grad is not None}
    return out, inputs.grad, grads


@pytest.mark.parametrize('name', TRAINING)
def test_forward_and_gradients_match_the_float64_cpu_reference(name, device):
    module, x, forward = _build(name)
    expected, expected_input_grad, expected_grads = _reference(module, x, forward, False)
    module = module.to(device)
    inputs = x.to(device).requires_grad_()
    out = forward(module, inputs)
    assert out.device.type == device.type
    assert _relative_error(out, expected) < 1e-4
    weights = torch.linspace(-1, 1, out.numel(), device=device).view_as(out)
    (out * weights).sum().backward()
    assert _relative_error(inputs.grad, expected_input_grad) < 1e-4
    grads = {n: p.grad for n, p in module.named_parameters() if p.grad is not None}
    assert grads.keys() == expected_grads.keys()
    scale = max(g.abs().max().item() for g in expected_grads.values())
    for key, grad in grads.items():
        assert _relative_error(grad, expected_grads[key], scale) < 1e-4, key


@pytest.mark.parametrize('name', DEPLOY)
def test_deploy_form_matches_the_float64_training_form(name, device):
    module, x, forward = _build(name, deploy=True)
    expected, _, _ = _reference(module, x, forward, deploy=True)
    deployed = switch_to_deploy(copy.deepcopy(module)).to(device)
    with torch.no_grad():
        out = forward(deployed, x.to(device))
    assert _relative_error(out, expected) < 1e-4


# name -> (autocast dtype, largest relative error against float32; both formats round each
# op's inputs: fp16 to 11 significant bits, bf16 to 8)
AUTOCAST = {'fp16': (torch.float16, 2e-2), 'bf16': (torch.bfloat16, 1e-1)}


@pytest.mark.parametrize('precision', sorted(AUTOCAST))
@pytest.mark.parametrize('name', TRAINING)
def test_a_training_step_under_autocast_with_a_grad_scaler(name, precision, device):
    dtype, tolerance = AUTOCAST[precision]
    if device.type == 'cpu' and dtype is torch.float16 and not hasattr(torch.amp, 'GradScaler'):
        pytest.skip('this torch has no CPU GradScaler (torch.amp.GradScaler, torch >= 2.3)')
    module, x, forward = _build(name)
    module = module.to(device)
    x = x.to(device)
    with torch.no_grad():
        expected = forward(copy.deepcopy(module), x)
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)
    with torch.autocast(device.type, dtype=dtype):
        out = forward(module, x)
        loss = out.float().square().mean()
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    assert _relative_error(out.float(), expected) < tolerance
    assert torch.isfinite(loss)
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    # the scaler took the step (an inf/nan in the scaled gradients would skip it)
    assert any(not torch.equal(p.detach(), before[n]) for n, p in module.named_parameters())


# CPU: Dynamo's graph capture and AOTAutograd's backward, without inductor's C++ code
# generation (a minute per case on 2 cores); CUDA: inductor, what users get by default
COMPILE_BACKEND = dict(cpu='aot_eager', cuda='inductor')


@pytest.mark.slow
@pytest.mark.parametrize('name, deploy', [(n, False) for n in TRAINING] +
                         [(n, True) for n in DEPLOY],
                         ids=[f'{n}-training' for n in TRAINING] + [f'{n}-deploy' for n in DEPLOY])
def test_torch_compile_matches_eager(name, deploy, device):
    if deploy and name == 'levit_backbone' and device.type == 'cpu':
        pytest.skip('CI time: tracing the whole deploy-form backbone takes 40 s on 2 CPU cores '
                    '(its blocks are compiled here; --device cuda compiles it)')
    torch._dynamo.reset()
    module, x, forward = _build(name, deploy=deploy)
    if deploy:
        switch_to_deploy(module)
    module = module.to(device)
    x = x.to(device)
    eager = copy.deepcopy(module)
    compiled = torch.compile(module, backend=COMPILE_BACKEND[device.type])
    if deploy:
        with torch.no_grad():
            assert _relative_error(forward(compiled, x), forward(eager, x)) < 1e-4
        return
    inputs, eager_inputs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, expected = forward(compiled, inputs), forward(eager, eager_inputs)
    assert _relative_error(out, expected) < 1e-4
    weights = torch.linspace(-1, 1, out.numel(), device=device).view_as(out)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    assert _relative_error(inputs.grad, eager_inputs.grad) < 1e-4


_WITHOUT_OPENMMLAB = '''
import importlib.abc, importlib.util, sys
NAMES = ('mmengine', 'mmcv', 'mmdet', 'mmseg')
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in NAMES:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: (
    None if name.split('.')[0] in NAMES else _find_spec(name, package))
'''


@pytest.mark.slow
def test_without_openmmlab_these_tests_run_and_modules_needing_it_skip_by_name(tmp_path):
    # the lent GPU image has torch alone: an interpreter whose imports of OpenMMLab fail
    import os
    import subprocess
    import sys

    from conftest import REPO
    (tmp_path / 'sitecustomize.py').write_text(_WITHOUT_OPENMMLAB)
    env = dict(os.environ, PYTHONPATH=f'{tmp_path}{os.pathsep}{REPO}')
    proc = subprocess.run(
        [sys.executable, '-m', 'pytest', 'tests/apis/test_launch.py', 'tests/test_on_device.py',
         '-k', 'test_forward_and_gradients and (lambda or levit_backbone)', '-rs', '-q',
         '-p', 'no:cacheprovider'], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '2 passed, 2 skipped' in proc.stdout  # lambda, lambda_global; test_launch, backbone
    assert 'needs OpenMMLab: mmengine is not installed' in proc.stdout
    assert 'the LeViT backbone needs OpenMMLab' in proc.stdout
