"""Do mmcv's compiled ops have the CUDA kernels that a CUDA build of torch needs?

mmcv 2.1.0 is an sdist for recent torch: ``pip`` compiles its ops against the installed torch,
and it compiles CUDA kernels only when it sees a GPU or ``FORCE_CUDA=1``, with nvcc from torch's
``CUDA_HOME``. Built on a machine without either, mmcv installs and imports fine, and the first
GPU op of a training run fails (``nms_impl: implementation for device cuda:0 not found``), maybe
hours into a job. ``tools/install.sh`` runs this file to stop before that happens, and
``mmattn.apis.preflight`` reports the same facts.

Runs as a script before mmattn is installed (standard library at import; torch and mmcv are
read inside the functions):

    python mmattn/utils/mmcv_cuda.py check       # exit 1 + the fix when the ops lack CUDA kernels
    python mmattn/utils/mmcv_cuda.py build-env   # KEY=VALUE lines for building mmcv, or exit 1

``MMATTN_ALLOW_CPU_MMCV=1`` accepts CPU-only ops with a CUDA torch (a machine that never trains
on GPU; PyPI's default Linux torch has CUDA).
"""
import os
import os.path as osp
import re
import subprocess
import sys
from typing import Any, Dict, Optional

__all__ = ['build_env', 'build_problem', 'collect_facts', 'installed_problem',
           'ops_run_on_cuda']

INSTALL_GUIDE = 'https://mmcv.readthedocs.io/en/latest/get_started/installation.html'
ALLOW_CPU_OPS = 'MMATTN_ALLOW_CPU_MMCV'


def collect_facts() -> Dict[str, Any]:
    """What torch, mmcv and the CUDA toolkit of this interpreter are.

    Returns:
        dict: ``torch_version`` / ``torch_cuda`` (``torch.version.cuda``, None for a CPU build),
        ``mmcv_version`` (None: not installed), ``mmcv_ops`` (whether ``mmcv.ops`` loads),
        ``mmcv_cuda`` (the CUDA version mmcv's ops were compiled with, ``'not available'``
        for CPU-only ops), ``cuda_home`` (torch's ``CUDA_HOME``, what an mmcv build uses) and
        ``nvcc_version`` (of ``CUDA_HOME/bin/nvcc``; None: no nvcc there).
    """
    facts = dict(torch_version=None, torch_cuda=None, mmcv_version=None, mmcv_ops=False,
                 mmcv_cuda=None, cuda_home=None, nvcc_version=None)
    try:
        import torch
    except ImportError:
        return facts
    facts['torch_version'] = torch.__version__
    facts['torch_cuda'] = torch.version.cuda
    if facts['torch_cuda']:
        from torch.utils.cpp_extension import CUDA_HOME
        facts['cuda_home'] = CUDA_HOME
        facts['nvcc_version'] = _nvcc_version(CUDA_HOME)
    try:
        import mmcv
        facts['mmcv_version'] = mmcv.__version__
        from mmcv.ops import get_compiling_cuda_version
        facts['mmcv_ops'] = True
        facts['mmcv_cuda'] = get_compiling_cuda_version()
    except Exception:  # noqa: BLE001  (not installed, or ops that do not load: both reported)
        pass
    return facts


def _nvcc_version(cuda_home: Optional[str]) -> Optional[str]:
    nvcc = osp.join(cuda_home, 'bin', 'nvcc') if cuda_home else None
    if not nvcc or not os.access(nvcc, os.X_OK):
        return None
    out = subprocess.run([nvcc, '--version'], capture_output=True, text=True).stdout
    match = re.search(r'release (\d+\.\d+)', out)
    return match.group(1) if match else None


def _major(version: str) -> str:
    return version.split('.')[0]


def _fix(facts: Dict[str, Any]) -> str:
    """The three ways out, with commands for this interpreter's torch and CUDA."""
    py = sys.executable
    cuda = facts['torch_cuda']
    torch_mm = '.'.join(facts['torch_version'].split('+')[0].split('.')[:2])
    index = (f'https://download.openmmlab.com/mmcv/dist/cu{cuda.replace(".", "")}/'
             f'torch{torch_mm}/index.html')
    return (
        'Fix, one of:\n'
        f'  a) a prebuilt mmcv 2.1.0 wheel for torch {torch_mm} + CUDA {cuda}, installed before '
        'tools/install.sh, which then keeps it (OpenMMLab published 2.1.0 wheels for torch 2.0 '
        f'and 2.1 only; see {INSTALL_GUIDE}):\n'
        f'       {py} -m pip uninstall -y mmcv && {py} -m pip install mmcv==2.1.0 -f {index}\n'
        f'  b) a build with CUDA kernels: install the CUDA {_major(cuda)}.x toolkit (nvcc) that '
        f'matches torch\'s CUDA {cuda}, put its bin/ on PATH and export CUDA_HOME, then\n'
        f'       {py} -m pip uninstall -y mmcv && {py} -m pip cache remove mmcv && '
        'bash tools/install.sh\n'
        '     (tools/install.sh builds with FORCE_CUDA=1 when torch has CUDA; the cache removal '
        'stops pip reusing a CPU-only wheel);\n'
        f'  c) a machine that never trains on GPU: {ALLOW_CPU_OPS}=1 bash tools/install.sh')


def installed_problem(facts: Dict[str, Any], allow_cpu_ops: bool = False) -> Optional[str]:
    """Why the installed mmcv ops cannot serve this torch on GPU, with the fix; None if they can.

    A CPU torch needs no CUDA kernels. A CUDA torch needs ops compiled with a CUDA of the same
    major version (kernels of another major version do not load into its runtime).
    """
    if not facts['torch_cuda'] or allow_cpu_ops:
        return None
    if not facts['mmcv_ops']:
        return (f"mmcv {facts['mmcv_version']} is installed but mmcv.ops does not load.\n"
                + _fix(facts))
    compiled = facts['mmcv_cuda']
    if not compiled or compiled == 'not available':
        return (f"torch {facts['torch_version']} has CUDA {facts['torch_cuda']}, but mmcv "
                f"{facts['mmcv_version']}'s ops were compiled without CUDA kernels: every mmcv "
                "op on a GPU tensor (nms, roi_align, ...) would fail during training.\n"
                + _fix(facts))
    if _major(compiled) != _major(facts['torch_cuda']):
        return (f"mmcv's ops were compiled with CUDA {compiled}, torch "
                f"{facts['torch_version']} runs CUDA {facts['torch_cuda']}: the kernels do not "
                "match the runtime.\n" + _fix(facts))
    return None


def build_problem(facts: Dict[str, Any], allow_cpu_ops: bool = False) -> Optional[str]:
    """Why mmcv cannot be built with CUDA kernels here (checked before a long compile); or None.

    torch's extension builder compiles with ``CUDA_HOME/bin/nvcc`` and refuses an nvcc whose
    major version differs from torch's CUDA; both are checked here, minutes earlier.
    """
    if not facts['torch_cuda'] or allow_cpu_ops:
        return None
    if not facts['nvcc_version']:
        where = (f"CUDA_HOME={facts['cuda_home']} has no bin/nvcc" if facts['cuda_home']
                 else 'no CUDA_HOME and no nvcc on PATH')
        return (f"torch {facts['torch_version']} has CUDA {facts['torch_cuda']}, so mmcv's ops "
                f'must be built with CUDA kernels, which needs nvcc: {where}.\n' + _fix(facts))
    if _major(facts['nvcc_version']) != _major(facts['torch_cuda']):
        return (f"nvcc in {facts['cuda_home']} is CUDA {facts['nvcc_version']}, torch was built "
                f"with CUDA {facts['torch_cuda']}: torch's extension builder refuses a different "
                'major version.\n' + _fix(facts))
    return None


def build_env(facts: Dict[str, Any], allow_cpu_ops: bool = False) -> Dict[str, str]:
    """Environment for ``pip install mmcv==2.1.0``: CUDA kernels whenever torch has CUDA.

    ``FORCE_CUDA=1`` makes mmcv's setup compile them without a visible GPU (a login node).
    Call :func:`build_problem` first.
    """
    if not facts['torch_cuda'] or allow_cpu_ops:
        return {}
    return dict(FORCE_CUDA='1', CUDA_HOME=facts['cuda_home'])


def ops_run_on_cuda() -> Optional[str]:
    """Run two mmcv ops on the GPU; None when they work, else the error (first line)."""
    import torch
    from mmcv.ops import nms, roi_align
    try:
        boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.]], device='cuda')
        nms(boxes, torch.tensor([0.9, 0.8], device='cuda'), 0.5)
        rois = torch.tensor([[0., 0., 0., 4., 4.]], device='cuda')
        roi_align(torch.rand(1, 2, 8, 8, device='cuda'), rois, (2, 2))
        torch.cuda.synchronize()
    except Exception as error:  # noqa: BLE001  (the message is the finding)
        return f'{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ""}'
    return None


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (['check'], ['build-env']):
        print(__doc__, file=sys.stderr)
        return 2
    allow = os.environ.get(ALLOW_CPU_OPS) == '1'
    facts = collect_facts()
    if args == ['check']:
        problem = installed_problem(facts, allow)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        kernels = (f"CUDA {facts['mmcv_cuda']} kernels" if facts['mmcv_cuda'] not in
                   (None, 'not available') else 'CPU kernels only')
        note = ' (accepted: MMATTN_ALLOW_CPU_MMCV=1)' if allow and facts['torch_cuda'] else ''
        print(f'mmcv ops: {kernels}; torch CUDA: {facts["torch_cuda"]}{note}')
        return 0
    problem = build_problem(facts, allow)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    for key, value in build_env(facts, allow).items():
        print(f'{key}={value}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
