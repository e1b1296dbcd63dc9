"""docs/get_started.md and docs/model_zoo.md say what the configs and the host model zoos say.

The tables of both documents are read here and compared with the merged configs
(``mmengine.Config.fromfile``, every ``mmdet::`` / ``mmseg::`` base resolved) and with the
metafiles of the installed mmdet / mmseg / mmpretrain: a config that reads a file the data tables do not
show, loads a checkpoint the checkpoint table does not list, or has no model-zoo row fails, and
so does a row that no config needs. The four method docs follow one template (mmdet's project
READMEs) and their config tables say what model_zoo.md says.
"""
import contextlib
import functools
import io
import os
import os.path as osp
import posixpath
import re
import runpy
import sys
from typing import Dict, Iterator, List, Set

import pytest
import yaml
from mmengine.config import Config

from conftest import REPO
from mmattn.utils.config import PRETRAINED_INIT_TYPES, walk_dicts

CONFIG_DIR = osp.join(REPO, 'configs')
CONFIGS = sorted(name for name in os.listdir(CONFIG_DIR) if name.endswith('.py'))
DEMO = 'demo_eanet_r18_synthetic.py'  # synthetic data written by tools/demo.py, no download
GET_STARTED = osp.join(REPO, 'docs', 'get_started.md')
MODEL_ZOO = osp.join(REPO, 'docs', 'model_zoo.md')
PAPER_FACTS = osp.join(REPO, 'docs', 'paper_facts.md')
RECIPES = osp.join(REPO, 'docs', 'recipes.md')
README = osp.join(REPO, 'README.md')
METHOD_DOCS = [osp.join(REPO, 'docs', name)
               for name in ('lambda.md', 'external_attention.md', 'xvolution.md', 'levit.md')]
# mmdet's project README template (Description, Usage, Results, Citation), with the two sections
# a reproduction needs between results and citation
METHOD_SECTIONS = ['What it is', 'Usage', 'Configs', 'Choices where the paper is silent',
                   'Measured numbers', 'Citation']
# dataset type -> its section of get_started.md (tools/preflight.py links these anchors)
DATA_SECTIONS = {'CocoDataset': 'COCO', 'ADE20KDataset': 'ADE20K',
                 'CityscapesDataset': 'Cityscapes', 'PascalVOCDataset': 'Pascal VOC',
                 'ImageNet': 'ImageNet-1k'}
ZOO_HEADER = ['config', 'task, data', 'paper', 'baseline to beat', 'ours', 'train',
              'preflight ETA']


@functools.lru_cache(maxsize=None)
def _cfg(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name), import_custom_modules=False)


@functools.lru_cache(maxsize=None)
def _source(name: str) -> str:
    with open(osp.join(CONFIG_DIR, name)) as f:
        return f.read()


def _read(path: str) -> str:
    """The text of a document without its fenced code blocks (whose '#' lines are comments)."""
    with open(path) as f:
        return re.sub(r'^```.*?^```', '', f.read(), flags=re.M | re.S)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r'[^\w\- ]', '', heading.strip().lower().replace('`', ''))
    return text.replace(' ', '-')


def _section(text: str, heading: str) -> str:
    """The lines after the heading whose title is ``heading``, up to the next heading."""
    match = re.search(rf'^#+ {re.escape(heading)}\n(.*?)(?=^#|\Z)', text, re.M | re.S)
    assert match, f'no heading "{heading}"'
    return match.group(1)


def _rows(section: str) -> List[List[str]]:
    """Cells of every table row of ``section`` (header and separator rows left out)."""
    rows = []
    for line in section.splitlines():
        if line.startswith('|') and not re.fullmatch(r'\|[-| ]+\|', line.strip()):
            rows.append([cell.strip() for cell in line.strip().strip('|').split('|')])
    return [row for row in rows if row[0].startswith('`')]


def _ticked(cell: str) -> List[str]:
    return re.findall(r'`([^`]+)`', cell)


# ---------------------------------------------------------------------------------------------
# What the configs read


def _leaf_datasets(dataset: dict) -> Iterator[dict]:
    """The datasets under wrappers (RepeatDataset's ``dataset``, ConcatDataset's ``datasets``)."""
    if 'datasets' in dataset:
        for child in dataset['datasets']:
            yield from _leaf_datasets(child)
    elif 'dataset' in dataset:
        yield from _leaf_datasets(dataset['dataset'])
    else:
        yield dataset


def _data_paths(cfg: Config) -> Dict[str, Set[str]]:
    """Dataset type -> every folder and file its train / val / test dataloaders and evaluators
    read (data_root joined with data_prefix and ann_file; normalised)."""
    paths: Dict[str, Set[str]] = {}
    for split in ('train', 'val', 'test'):
        types = set()
        for dataset in _leaf_datasets(cfg[f'{split}_dataloader']['dataset']):
            root = dataset.get('data_root') or ''
            prefix = dataset.get('data_prefix') or {}
            found = list(prefix.values()) if isinstance(prefix, dict) else [prefix]
            if not found and dataset.get('split'):  # mmpretrain's ImageNet: data_root/split
                found.append(dataset['split'])
            if dataset.get('ann_file'):
                found.append(dataset['ann_file'])
            types.add(dataset['type'])
            paths.setdefault(dataset['type'], set()).update(
                posixpath.normpath(posixpath.join(root, p)) for p in found)
        evaluators = cfg.get(f'{split}_evaluator') or []
        for evaluator in [evaluators] if isinstance(evaluators, dict) else evaluators:
            if evaluator.get('ann_file'):
                for kind in types:
                    paths[kind].add(posixpath.normpath(evaluator['ann_file']))
    return paths


def _checkpoints(cfg: Config) -> Set[str]:
    """Every ``pretrained=``, Pretrained ``init_cfg`` checkpoint and ``load_from`` of a config."""
    found = set()

    def visit(node: dict) -> int:
        if isinstance(node.get('pretrained'), str):
            found.add(node['pretrained'])
        init_cfgs = node.get('init_cfg') or []
        for init_cfg in [init_cfgs] if isinstance(init_cfgs, dict) else init_cfgs:
            if isinstance(init_cfg, dict) and init_cfg.get('type') in PRETRAINED_INIT_TYPES:
                found.add(init_cfg['checkpoint'])
        return 0

    walk_dicts(cfg.model, visit)
    if cfg.get('load_from'):
        found.add(cfg.load_from)
    return found


# ---------------------------------------------------------------------------------------------
# get_started.md: data


def test_get_started_has_the_dataset_sections_preflight_links_to():
    anchors = {_slug(line.lstrip('#')) for line in _read(GET_STARTED).splitlines()
               if line.startswith('## ')}
    assert {'coco', 'ade20k', 'cityscapes', 'pascal-voc', 'imagenet-1k'} <= anchors
    assert {_slug(title) for title in DATA_SECTIONS.values()} == {
        'coco', 'ade20k', 'cityscapes', 'pascal-voc', 'imagenet-1k'}


def _doc_data_rows() -> Dict[str, Dict[str, List[str]]]:
    """Section title -> {normalised path: row cells} of its data table."""
    text = _read(GET_STARTED)
    tables = {}
    for title in DATA_SECTIONS.values():
        rows = _rows(_section(text, title))
        assert rows, f'get_started.md, section {title}: no table of paths'
        tables[title] = {posixpath.normpath(_ticked(row[0])[0]): row for row in rows}
    return tables


@pytest.mark.parametrize('name', CONFIGS)
def test_every_path_a_config_reads_is_in_its_data_section(name):
    paths = _data_paths(_cfg(name))
    if name == DEMO:
        assert set(paths) == {'BaseSegDataset'}
        return
    unknown = set(paths) - set(DATA_SECTIONS)
    assert not unknown, f'{name} reads a {unknown} data set: add a section to get_started.md'
    tables = _doc_data_rows()
    for kind, kind_paths in paths.items():
        title = DATA_SECTIONS[kind]
        missing = sorted(kind_paths - set(tables[title]))
        assert not missing, f'{name} reads {missing}, not in get_started.md section {title}'


def test_every_path_in_a_data_section_is_read_by_a_config_or_a_format_only_run():
    read = set()
    for name in CONFIGS:
        for paths in _data_paths(_cfg(name)).values():
            read |= paths
    for title, rows in _doc_data_rows().items():
        for path, row in rows.items():
            assert path in read or '--format-only' in row[-1], (
                f'get_started.md section {title}: no config reads {path}')


# ---------------------------------------------------------------------------------------------
# get_started.md: checkpoints


def _checkpoint_rows(heading: str) -> Dict[str, List[str]]:
    rows = _rows(_section(_read(GET_STARTED), heading))
    assert rows, f'get_started.md: no table under "{heading}"'
    table = {}
    for row in rows:
        assert len(row) == 5, f'get_started.md: {row[0]} has {len(row)} cells, not 5'
        assert row[0] not in table, f'get_started.md: two rows for {row[0]}'
        table[_ticked(row[0])[0]] = row
    return table


def _configs_of(row: List[str]) -> Set[str]:
    return {name for name in _ticked(row[4]) if name.endswith('.py')}


def _urls(cell: str) -> List[str]:
    return re.findall(r'<(https?://[^>]+)>', cell)


def test_the_checkpoint_table_lists_every_file_a_config_loads_and_nothing_else():
    loaded: Dict[str, Set[str]] = {}
    for name in CONFIGS:
        for path in _checkpoints(_cfg(name)):
            loaded.setdefault(path, set()).add(name)
    table = {path: _configs_of(row)
             for path, row in _checkpoint_rows('Weights the configs read').items()}
    missing, unused = sorted(set(loaded) - set(table)), sorted(set(table) - set(loaded))
    assert not missing, f'get_started.md lists no row for {missing}, which configs load'
    assert not unused, f'get_started.md has rows for {unused}, which no config loads'
    for path, names in loaded.items():
        assert table[path] == names, f'{path}: the table says {table[path]}, configs {names}'


def test_every_checkpoint_url_is_the_one_a_config_comment_gives():
    for path, row in _checkpoint_rows('Weights the configs read').items():
        if path.startswith('work_dirs/'):
            continue  # made by stage 1, no download
        urls = _urls(row[1])
        assert len(urls) == 1, f'{path}: one source URL expected, got {urls}'
        assert any(urls[0] in _source(name) for name in _configs_of(row)), (
            f'{path}: {urls[0]} is in none of the configs that load it')


def test_hash_named_files_give_their_sha256_prefix_check():
    for path, row in _checkpoint_rows('Weights the configs read').items():
        for url in _urls(row[1]):
            if re.match(r'https://download\.(pytorch|openmmlab)\.', url):
                assert osp.basename(url) == osp.basename(path), f'{path} is not {url}'
                prefix = re.search(r'-([0-9a-f]{8})\.pth$', url).group(1)
                assert f'sha256 starts `{prefix}`' in row[2], f'{path}: check cell {row[2]}'


def test_pytorch_encoding_sha1s_are_those_of_the_configs_and_file_names():
    sha1_rows = 0
    for path, row in _checkpoint_rows('Weights the configs read').items():
        for sha1 in re.findall(r'\b[0-9a-f]{40}\b', row[2]):
            sha1_rows += 1
            assert sha1[:8] in osp.basename(_urls(row[1])[0]), f'{path}: {sha1} vs its source'
            assert any(sha1 in _source(name) for name in _configs_of(row)), (
                f'{path}: sha1 {sha1} is in none of its configs')
    assert sha1_rows == 2  # the two PyTorch-Encoding ResNets of the EANet VOC configs


def test_released_models_name_configs_that_document_them():
    loaded = set()
    for name in CONFIGS:
        loaded |= _checkpoints(_cfg(name))
    rows = _checkpoint_rows(
        'Released models (evaluated with `.venv/bin/python tools/test.py CONFIG CKPT`)')
    for path, row in rows.items():
        names = _configs_of(row)
        assert names and names <= set(CONFIGS), f'{path}: configs {names}'
        assert path not in loaded, f'{path} is loaded by a config: it belongs in the first table'
        assert any(osp.basename(path) in _source(name) for name in names), path


# ---------------------------------------------------------------------------------------------
# model_zoo.md


def _zoo_rows() -> Dict[str, List[str]]:
    text = _read(MODEL_ZOO)
    headers = [line for line in text.splitlines() if line.startswith('| config |')]
    assert headers and all(
        [c.strip() for c in h.strip().strip('|').split('|')] == ZOO_HEADER for h in headers)
    rows = {}
    for row in _rows(text):
        assert len(row) == len(ZOO_HEADER), f'model_zoo.md: {row[0]} has {len(row)} cells'
        name = _ticked(row[0])[0]
        assert name not in rows, f'model_zoo.md: two rows for {name}'
        rows[name] = row
    return rows


def test_every_config_has_one_model_zoo_row_and_every_row_a_config():
    rows = _zoo_rows()
    expected = set(CONFIGS) - {DEMO}
    missing, extra = sorted(expected - set(rows)), sorted(set(rows) - expected)
    assert not missing, f'model_zoo.md has no row for {missing}'
    assert not extra, f'model_zoo.md has rows for {extra}, not benchmark configs in configs/'
    assert f'`{DEMO}`' in _read(MODEL_ZOO)


@pytest.mark.parametrize('name', sorted(set(CONFIGS) - {DEMO}))
def test_train_command_gives_the_total_batch_the_lr_was_set_for(name):
    cfg, row = _cfg(name), _zoo_rows()[name]
    match = re.search(r'`tools/dist_train\.sh configs/([\w.-]+) (\d+)`', row[5])
    if match is None:  # evaluation-only: a model that loads no pretrained weights to train on
        assert f'`.venv/bin/python tools/test.py configs/{name} ' in row[5], row[5]
        assert not _checkpoints(cfg), f'{name} has pretrained weights: give its train command'
        return
    assert match.group(1) == name
    gpus = int(match.group(2))
    assert gpus * cfg.train_dataloader.batch_size == cfg.auto_scale_lr.base_batch_size, (
        f'{name}: {gpus} GPUs x {cfg.train_dataloader.batch_size} images is not the '
        f'{cfg.auto_scale_lr.base_batch_size} the lr belongs to')


def _metafile_metrics(library: str, metafile: str, model: str) -> Dict[str, float]:
    package = __import__(library)
    path = osp.join(osp.dirname(package.__file__), '.mim', 'configs', metafile)
    with open(path) as f:
        models = {m['Name']: m for m in yaml.safe_load(f)['Models']}
    assert model in models, f'{model} is not in {library} {metafile}'
    results = models[model]['Results']
    metrics = {}
    for result in [results] if isinstance(results, dict) else results:
        metrics.update(result['Metrics'])
    return metrics


_CITATION = re.compile(
    r'`([\w.-]+)` ([\d.]+)(?: / ([\d.]+))? \((mmdet|mmseg|mmpretrain) `([\w/.-]+)`\)')
_ORDER = {'mmdet': ('box AP', 'mask AP'), 'mmseg': ('mIoU', 'mIoU(ms+flip)'),
          'mmpretrain': ('Top 1 Accuracy', 'Top 5 Accuracy')}


def test_baselines_are_the_numbers_of_the_installed_model_zoo_metafiles():
    for name, row in _zoo_rows().items():
        citations = _CITATION.findall(row[3])
        assert citations or row[3].startswith('none'), f'{name}: baseline cell {row[3]}'
        for model, first, second, library, metafile in citations:
            metrics = _metafile_metrics(library, metafile, model)
            for key, value in zip(_ORDER[library], (first, second)):
                if value:
                    assert float(value) == metrics[key], (
                        f'{name}: {model} {key} is {metrics[key]} in {metafile}, not {value}')


def test_our_numbers_come_with_a_log_and_etas_with_their_machine():
    for name, row in _zoo_rows().items():
        ours, eta = row[4], row[6]
        assert ours in ('not trained yet', 'not evaluated yet') or re.search(
            r'\[log\]\(.+\)', ours), f'{name}: "{ours}" has no log'
        assert eta == 'not measured' or 'measured on' in eta, f'{name}: ETA "{eta}"'


# ---------------------------------------------------------------------------------------------
# Links


@pytest.mark.parametrize('doc', [GET_STARTED, MODEL_ZOO, PAPER_FACTS, RECIPES, README] +
                         METHOD_DOCS, ids=osp.basename)
def test_relative_links_reach_an_existing_file_and_heading(doc):
    for target in re.findall(r'\]\(([^)#:]+\.md)?(#[\w-]+)?\)', _read(doc)):
        path, anchor = target
        path = osp.normpath(osp.join(osp.dirname(doc), path)) if path else doc
        assert osp.isfile(path), f'{osp.basename(doc)} links to a missing {path}'
        if anchor:
            anchors = {_slug(line.lstrip('#')) for line in _read(path).splitlines()
                       if line.startswith('#')}
            assert anchor[1:] in anchors, f'{osp.basename(doc)}: no {anchor} in {path}'


def test_readme_links_both_documents():
    with open(osp.join(REPO, 'README.md')) as f:
        readme = f.read()
    assert '(docs/get_started.md)' in readme and '(docs/model_zoo.md)' in readme
    assert '(docs/paper_facts.md)' in readme


def test_every_document_the_project_cites_is_in_the_repository_with_its_heading():
    cited = 0
    for folder in ('README.md', 'CHANGELOG.md', 'docs', 'configs', 'mmattn', 'tools', 'bench'):
        for root, _, names in os.walk(osp.join(REPO, folder)) if osp.isdir(
                osp.join(REPO, folder)) else [(REPO, [], [folder])]:
            for name in names:
                if not name.endswith(('.md', '.py')):
                    continue
                with open(osp.join(root, name)) as f:
                    text = f.read()
                for doc, anchor in re.findall(r'(?<![\w/.])docs/([\w-]+\.md)(#[\w-]+)?', text):
                    cited += 1
                    path = osp.join(REPO, 'docs', doc)
                    where = osp.relpath(osp.join(root, name), REPO)
                    assert osp.isfile(path), f'{where} cites docs/{doc}, which is not in the repo'
                    if anchor:
                        anchors = {_slug(line.lstrip('#')) for line in _read(path).splitlines()
                                   if line.startswith('#')}
                        assert anchor[1:] in anchors, f'{where}: no {anchor} in docs/{doc}'
    assert cited > 10


# ---------------------------------------------------------------------------------------------
# The four method docs


def _method_doc_configs() -> Dict[str, str]:
    """Config -> the method doc its model_zoo.md section links to (``## Title ([x.md](x.md))``)."""
    owners = {}
    for part in re.split(r'^## ', _read(MODEL_ZOO), flags=re.M)[1:]:
        doc = re.match(r'.*\]\(([\w.]+\.md)\)\)\n', part)
        for row in _rows(part) if doc else []:
            owners[_ticked(row[0])[0]] = osp.join(REPO, 'docs', doc.group(1))
    return owners


def _table_dicts(section: str) -> Iterator[Dict[str, str]]:
    """Every data row of every table of ``section``, as header -> cell."""
    header: List[str] = []
    for line in section.splitlines():
        if not line.startswith('|'):
            header = []
            continue
        cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
        if re.fullmatch(r'\|[-| ]+\|', line.strip()):
            continue
        if not header:
            header = cells
        else:
            yield dict(zip(header, cells))


@pytest.mark.parametrize('doc', METHOD_DOCS, ids=osp.basename)
def test_method_doc_has_the_six_sections_of_the_template_in_order(doc):
    headings = [line[3:].strip() for line in _read(doc).splitlines() if line.startswith('## ')]
    assert headings == METHOD_SECTIONS, (
        f'{osp.basename(doc)}: its ## sections are {headings}, the template is {METHOD_SECTIONS}')


def test_every_config_is_in_its_method_doc_with_the_model_zoo_number():
    owners, zoo = _method_doc_configs(), _zoo_rows()
    assert set(owners) == set(zoo), 'a model_zoo.md section does not link to its method doc'
    ours: Dict[str, str] = {}
    for doc in METHOD_DOCS:
        configs = re.search(r'^## Configs\n(.*?)(?=^## |\Z)', _read(doc), re.M | re.S)
        assert configs, f'{osp.basename(doc)}: no ## Configs section'
        for row in _table_dicts(configs.group(1)):
            for name in _ticked(row.get('config', '')):
                ours[name] = row.get('ours')
    for name, doc in owners.items():
        assert name in ours, f'{osp.basename(doc)}, section Configs: no table row names {name}'
        assert ours[name] == zoo[name][4], (
            f'{osp.basename(doc)}: {name} is "{ours[name]}", model_zoo.md says "{zoo[name][4]}"')


@pytest.mark.parametrize('doc', METHOD_DOCS, ids=osp.basename)
def test_citation_is_a_bibtex_entry_of_the_paper_the_doc_links(doc):
    name = osp.basename(doc)
    with open(doc) as f:
        text = f.read()
    arxiv = re.search(r'\(https://arxiv\.org/abs/([\d.]+)\)', text)
    assert arxiv and '\n## Citation\n' in text, f'{name}: no arXiv link or no ## Citation'
    citation = text[text.index('\n## Citation\n'):]
    entry = re.search(r'^```bibtex\n(@\w+\{\w+,\n.*?\n\})\n```', citation, re.M | re.S)
    assert entry, f'{name}: no ```bibtex block with one entry under ## Citation'
    eprint = rf'^\s*eprint\s*=\s*{{{re.escape(arxiv.group(1))}}},?$'
    assert re.search(eprint, entry.group(1), re.M), (
        f'{name}: the BibTeX entry does not give the eprint {arxiv.group(1)} the doc links')
    assert entry.group(1).count('{') == entry.group(1).count('}'), f'{name}: unbalanced braces'



# ---------------------------------------------------------------------------------------------
# Commands: what README, docs and config comments tell users to type runs as printed after
# `bash tools/install.sh` on a fresh clone


def _command_sources() -> Dict[str, str]:
    """Relative path -> text of every file whose commands users copy: README, docs, configs."""
    paths = ['README.md'] + [osp.join('docs', name) for name in sorted(os.listdir(
        osp.join(REPO, 'docs'))) if name.endswith('.md')]
    for root, _, names in os.walk(CONFIG_DIR):
        paths += [osp.relpath(osp.join(root, name), REPO) for name in sorted(names)
                  if name.endswith('.py')]
    texts = {}
    for path in paths:
        with open(osp.join(REPO, path)) as f:
            texts[path] = re.sub(r'\\\n\s*(?:#\s*)?', ' ', f.read())  # join continued lines
    return texts


# A repository script as a command: its launcher, its path, its arguments up to the end of the
# inline code, the table cell, a shell comment or the line.
_SCRIPT = re.compile(r'(\.venv/bin/python |bash )?((?:tools|bench)/[\w/.-]+\.(?:py|sh))'
                     r'((?:[ \t]+(?!#)[^\s`|]+)*)')
# the Python tool a shell launcher passes its trailing options to
_LAUNCHED = {'tools/dist_train.sh': 'tools/train.py', 'tools/slurm_train.sh': 'tools/train.py',
             'tools/dist_test.sh': 'tools/test.py', 'tools/slurm_test.sh': 'tools/test.py'}


def _commands() -> List[tuple]:
    """(file, launcher, script, arguments) of every script run in a command users copy.

    A script is run when a launcher precedes it, when it starts a line or an inline code span,
    or when ``&&`` precedes it; a script merely named in prose is not a command."""
    found = []
    for path, text in _command_sources().items():
        for match in _SCRIPT.finditer(text):
            launcher, script, args = match.groups()
            before = text[:match.start()].rstrip(' ')
            starts = before.endswith(('\n', '`', '&&', '#')) or not before
            if launcher or (starts and args.strip()):
                found.append((path, (launcher or '').strip(), script, args))
    return found


@functools.lru_cache(maxsize=None)
def _options_of(script: str) -> Set[str]:
    """The options a tool's own parser accepts, read from its ``--help`` (run in this process)."""
    out = io.StringIO()
    argv = sys.argv
    sys.argv = [script, '--help']
    try:
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
            runpy.run_path(osp.join(REPO, script), run_name='__main__')
    finally:
        sys.argv = argv
    return set(re.findall(r'(?<![\w-])--[\w-]+', out.getvalue()))


def test_the_command_scan_finds_the_commands_of_every_kind():
    scripts = {script for _, _, script, _ in _commands()}
    assert {'tools/train.py', 'tools/test.py', 'tools/dist_train.sh',
            'tools/model_converters/eanet2mmattn.py', 'bench/run_all.py'} <= scripts


def test_every_command_names_a_script_the_repository_has():
    for path, _, script, _ in _commands():
        assert osp.isfile(osp.join(REPO, script)), f'{path} runs {script}, which does not exist'


def test_python_scripts_run_with_the_venv_interpreter_and_shell_scripts_are_executable():
    for path, launcher, script, args in _commands():
        if script.endswith('.py'):
            assert launcher == '.venv/bin/python', (
                f'{path}: "{launcher} {script}{args}" needs `.venv/bin/python {script}`: the '
                'scripts have no run bit, and a bare python lacks what tools/install.sh installs')
        elif launcher != 'bash':
            assert os.access(osp.join(REPO, script), os.X_OK), f'{path}: {script} is not executable'
    for path, text in _command_sources().items():
        bare = re.findall(r'(?<![\w./-])python3? (?:-m )?(?:tools|bench)/\S+', text)
        assert not bare, f'{path}: {bare} runs a bare python, not .venv/bin/python'


@pytest.mark.parametrize('script', sorted({_LAUNCHED.get(script, script) for _, _, script, _
                                           in _commands() if script.startswith('tools/')
                                           and _LAUNCHED.get(script, script).endswith('.py')}))
def test_every_option_a_command_gives_a_tool_is_one_its_parser_accepts(script):
    accepted = _options_of(script)
    assert '--help' in accepted, f'{script} --help printed no options: {accepted}'
    for path, _, used_script, args in _commands():
        if _LAUNCHED.get(used_script, used_script) != script:
            continue
        for option in re.findall(r'(?<![\w-])--[\w-]+', args):
            assert option in accepted, (
                f'{path}: "{used_script}{args}" gives {option}, which {script} does not accept')
