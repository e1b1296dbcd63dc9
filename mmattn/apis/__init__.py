"""What the tools do, as library functions (one each), tested directly; tools only parse args.

Needs OpenMMLab (mmengine, mmcv, mmdet, mmseg).
"""
from .complexity import complexity
from .demo import run_demo
from .export import TensorForward, check_onnx, deploy_onnx, export_onnx
from .model import build_model, load_config
from .preflight import format_report, preflight
from .reparameterize import deploy_config, is_deploy_checkpoint, reparameterize_checkpoint
from .smoke import make_synthetic_data, run_smoke_test, shrink_config, use_synthetic_data
from .visualize import visualize_attention

__all__ = [
    'TensorForward', 'build_model', 'check_onnx', 'complexity', 'deploy_config', 'deploy_onnx',
    'export_onnx', 'format_report', 'is_deploy_checkpoint', 'load_config', 'make_synthetic_data',
    'preflight', 'reparameterize_checkpoint', 'run_demo', 'run_smoke_test', 'shrink_config',
    'use_synthetic_data', 'visualize_attention'
]
