"""Files the run reads that are missing, each with its fix."""
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Tuple

from mmengine.config import Config

from ...utils.config import PRETRAINED_INIT_TYPES, evaluator_list, walk_dicts
from ...utils.sources import DATA_DOCS, fetch_command


def _missing_files(cfg: Config, config_path: Optional[str]) -> List[Dict[str, Any]]:
    found: Dict[str, Dict[str, Any]] = {}

    def add(path: str, what: str, needed_by: str, fix: str) -> None:
        key = osp.normpath(path)
        blocking = needed_by != 'test'  # tools/train.py never reads the test set
        if key in found:
            item = found[key]
            if needed_by not in item['needed_by'].split(', '):
                item['needed_by'] += f', {needed_by}'
            item['blocking'] = item['blocking'] or blocking
        else:
            found[key] = dict(path=path, what=what, needed_by=needed_by, blocking=blocking,
                              fix=fix)

    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader is not None:
            for leaf in _leaf_datasets(loader.dataset):
                _check_dataset(leaf, split, add)
        evaluator = cfg.get(f'{split}_evaluator') if split != 'train' else None
        for item in evaluator_list(evaluator) if evaluator else []:
            ann = item.get('ann_file')
            if ann and not osp.isfile(ann):
                add(ann, f"{split} evaluator annotation file ({item.get('type')})", split,
                    _data_fix(loader.dataset if loader else {}))
    for key, path in _checkpoint_refs(cfg):
        if '://' not in path and not osp.isfile(path):  # URLs are fetched by the run itself
            add(path, f'checkpoint ({key})', 'model init' if key != 'load_from' else key,
                _checkpoint_fix(key, path, config_path))
    return list(found.values())


def _leaf_datasets(dataset: dict) -> List[dict]:
    """The datasets that read files, inside any wrapper (Repeat-, Concat-, ClassBalanced...)."""
    leaves = []

    def _collect(node: dict) -> None:
        if 'type' in node and 'dataset' not in node and 'datasets' not in node and any(
                key in node for key in ('data_root', 'ann_file', 'data_prefix')):
            leaves.append(node)

    walk_dicts(dataset, _collect)
    return leaves


def _check_dataset(leaf: dict, split: str, add) -> None:
    kind = leaf.get('type')
    root = leaf.get('data_root') or ''
    fix = _data_fix(leaf)
    if root and not osp.isdir(root):
        add(root, f'{split} data_root ({kind})', split, fix)
        return  # everything below it is missing too
    ann = leaf.get('ann_file')
    if ann:
        ann = osp.join(root, ann)
        if not osp.isfile(ann):
            add(ann, f'{split} annotation file ({kind})', split, fix)
    prefixes = leaf.get('data_prefix') or {}
    if isinstance(prefixes, str):  # mmpretrain: one image folder
        prefixes = dict(img_path=prefixes)
    if not prefixes and leaf.get('split'):  # mmpretrain's ImageNet: {data_root}/{split}/
        prefixes = dict(img_path=leaf['split'])
    for key, prefix in prefixes.items():
        folder = osp.join(root, prefix) if prefix else None
        if folder and not osp.isdir(folder):
            add(folder, f'{split} {key} folder ({kind})', split, fix)
        elif folder and ann and osp.isfile(ann) and key in _LISTED:
            _check_listed_files(ann, folder, key, leaf, split, add, fix)


# mmseg's list-file datasets (BaseSegDataset with ann_file: one name a line): the file of each
# name in each folder, with the dataset's suffix (mmseg's defaults here).
_LISTED = {'img_path': ('img_suffix', '.jpg'), 'seg_map_path': ('seg_map_suffix', '.png')}


def _check_listed_files(ann: str, folder: str, key: str, leaf: dict, split: str, add,
                        fix: str) -> None:
    """Names in a segmentation list file whose image or label is missing: the run would stop
    at the first of them, perhaps hours in (validation); one entry, with the first and the count."""
    suffix_key, default = _LISTED[key]
    suffix = leaf.get(suffix_key, default)
    with open(ann) as file:
        names = [line.strip() for line in file if line.strip()]
    missing = [name for name in names if not osp.isfile(osp.join(folder, name + suffix))]
    if missing:
        add(osp.join(folder, missing[0] + suffix),
            f'{split} {key} file of {len(missing)} of the {len(names)} names in '
            f'{osp.basename(ann)} ({leaf.get("type")}), the first of them', split, fix)


def _data_fix(dataset: dict) -> str:
    kind = dataset.get('type')
    doc = DATA_DOCS.get(kind) or DATA_DOCS.get(
        next((leaf.get('type') for leaf in _leaf_datasets(dataset)), None))
    if doc:
        return f'prepare the data as {doc} describes (paths are relative to the directory ' \
               'you run from)'
    return 'put the data there, or point data_root / ann_file at it with --cfg-options'


def _checkpoint_refs(cfg: Config) -> List[Tuple[str, str]]:
    refs = []

    def _collect(node: dict) -> None:
        if isinstance(node.get('pretrained'), str):
            refs.append(('pretrained', node['pretrained']))
        if node.get('type') in PRETRAINED_INIT_TYPES and isinstance(node.get('checkpoint'), str):
            refs.append(('init_cfg', node['checkpoint']))

    walk_dicts(cfg.model, _collect)
    if cfg.get('load_from'):
        refs.append(('load_from', cfg.load_from))
    return refs


def _checkpoint_fix(key: str, path: str, config_path: Optional[str]) -> str:
    command = fetch_command(path)
    if command:
        return command
    match = re.match(r'(?:\./)?work_dirs/([^/]+)/', path)
    if match and config_path:
        stage = osp.join(osp.dirname(config_path), match.group(1) + '.py')
        if osp.isfile(stage):
            return f'train {stage} first, which writes it (tools/dist_train.sh {stage} GPUS)'
    return f'no known source (mmattn/utils/sources.py): put the file there or point {key} at ' \
           'yours with --cfg-options'
