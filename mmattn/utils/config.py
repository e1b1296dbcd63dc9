"""Reading and editing mmengine configs: the one recursive walker and what is built on it."""
from typing import Any, Callable, List, Sequence, Union

from mmengine.config import Config

__all__ = [
    'PRETRAINED_INIT_TYPES', 'drop_pretrained_init', 'evaluator_list', 'host_library', 'innermost_dataset',
    'remove_transforms', 'replace_sync_bn', 'walk_dicts'
]

SCOPES = ('mmdet', 'mmseg', 'mmpretrain')
# init_cfg types that load a checkpoint file: mmengine's, and mmattn's strict one
# (mmattn/models/pretrained.py, stage-1 checkpoints into stage-2 backbones)
PRETRAINED_INIT_TYPES = ('Pretrained', 'StrictPretrained')


def walk_dicts(node: Any, fn: Callable[[dict], int]) -> int:
    """Call ``fn`` on every dict of a nested config (parents before children); sum its returns.

    ``fn`` may edit the dict it gets in place; the walk then goes on into the edited values.
    """
    count = 0
    if isinstance(node, dict):
        count += fn(node) or 0
        for value in list(node.values()):
            count += walk_dicts(value, fn)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += walk_dicts(value, fn)
    return count


def remove_transforms(node: Any, transform_type: str) -> int:
    """Remove every transform of ``transform_type`` from the pipelines inside ``node`` (also
    from TestTimeAug's lists of alternatives); return how many were removed."""

    def _filter(items: list) -> int:
        kept = [item for item in items
                if not (isinstance(item, dict) and item.get('type') == transform_type)]
        removed = len(items) - len(kept)
        for item in kept:
            if isinstance(item, list):
                removed += _filter(item)
        # a TestTimeAug step that held only the removed transform is dropped too (an empty
        # list of alternatives would give no augmented copy at all)
        items[:] = [item for item in kept if not (isinstance(item, list) and not item)]
        return removed

    def _fix(item: dict) -> int:
        return sum(_filter(value) for value in item.values() if isinstance(value, list))

    return walk_dicts(node, _fix)


def innermost_dataset(dataset: dict) -> dict:
    """The dataset a wrapper (``RepeatDataset``, ``ConcatDataset``, ...) reads: its ``dataset``,
    or the first of its ``datasets``, recursively."""
    while 'dataset' in dataset:
        dataset = dataset['dataset']
    if dataset.get('datasets'):
        return innermost_dataset(dataset['datasets'][0])
    return dataset


def evaluator_list(evaluator: Union[dict, Sequence[dict]]) -> List[dict]:
    """A config's ``val_evaluator`` / ``test_evaluator`` (one dict or a list) as a list."""
    return [evaluator] if isinstance(evaluator, dict) else list(evaluator)


def host_library(cfg: Config) -> str:
    """``'mmdet'``, ``'mmseg'`` or ``'mmpretrain'``, from the config's ``default_scope``."""
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise ValueError(f"config default_scope is {scope!r}; mmattn's tools run mmdet, mmseg or "
                         "mmpretrain configs: inherit one with _base_ = 'mmdet::...', "
                         "'mmseg::...' or 'mmpretrain::...', or set default_scope to one of "
                         f'{SCOPES}.')
    return scope


def replace_sync_bn(cfg: Config) -> int:
    """Turn every ``norm_cfg`` of type SyncBN in ``cfg.model`` into BN; return how many."""

    def _fix(node: dict) -> int:
        if node.get('type') in ('SyncBN', 'MMSyncBN', 'nn.SyncBatchNorm'):
            node['type'] = 'BN'
            return 1
        return 0

    return walk_dicts(cfg.model, _fix)


def drop_pretrained_init(cfg: Config) -> int:
    """Remove every ``init_cfg`` that loads a checkpoint (:data:`PRETRAINED_INIT_TYPES`) and
    ``pretrained=`` path from ``cfg.model``."""

    def _fix(node: dict) -> int:
        count = 0
        init_cfg = node.get('init_cfg')
        if isinstance(init_cfg, dict) and init_cfg.get('type') in PRETRAINED_INIT_TYPES:
            node['init_cfg'] = None
            count += 1
        if node.get('pretrained'):
            node['pretrained'] = None
            count += 1
        return count

    return walk_dicts(cfg.model, _fix)
