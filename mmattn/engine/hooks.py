"""Hooks registered in mmengine's root ``HOOKS`` (visible from the mmdet and mmseg scopes)."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from ..utils.deploy import switch_to_deploy


@HOOKS.register_module()
class SwitchToDeployHook(Hook):
    """Evaluate the re-parameterised (deploy) form of the model.

    Runs after the checkpoint is loaded and before the first test batch, so the folded
    weights are those of the checkpoint. ``tools/test.py --deploy`` adds it.
    """

    priority = 'VERY_HIGH'

    def before_test(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        model.eval()
        switch_to_deploy(model)
        print_log('switched every re-parameterisable module to its deploy form',
                  logger='current')
