"""mmattn.utils.sources lists every checkpoint the configs name, with their own download URL."""
import glob
import os.path as osp
import re

from conftest import REPO
from mmattn.utils.sources import PRETRAINED_FILES, fetch_command

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True))


def _texts():
    for path in CONFIGS:
        with open(path) as f:
            yield osp.relpath(path, REPO), f.read()


def test_every_checkpoint_a_config_names_is_listed():
    named = {}
    for path, text in _texts():
        for file in re.findall(r"(?:pretrained|checkpoint)\s*=\s*'([^']+)'", text):
            if not file.startswith('work_dirs/'):  # written by a stage-1 run, not downloaded
                named.setdefault(osp.basename(file), path)
    assert named, 'no checkpoint found: the pattern no longer matches the configs'
    unlisted = {name: path for name, path in named.items() if name not in PRETRAINED_FILES}
    assert not unlisted


def test_the_url_of_each_configs_wget_comment_is_the_listed_one():
    urls = {}
    for path, text in _texts():
        # "# wget -P checkpoints URL", or the URL on the next comment line after a backslash
        for url in re.findall(r'wget -P \S+\s*(?:\\\s*\n\s*#\s*)?(https?://\S+)', text):
            urls[url] = path
    assert len(urls) >= 5
    for url, path in urls.items():
        entry = PRETRAINED_FILES.get(osp.basename(url))
        assert entry and entry.get('url') == url, (path, url)


def test_fetch_commands_download_into_the_configs_folder_and_convert():
    assert fetch_command('checkpoints/resnet101_v1c-e67eebb6.pth') == (
        'wget -P checkpoints '
        'https://download.openmmlab.com/pretrain/third_party/resnet101_v1c-e67eebb6.pth')
    assert fetch_command('ckpt/levit-256_mmattn.pth') == (
        'wget -P ckpt https://dl.fbaipublicfiles.com/LeViT/LeViT-256-13b5763e.pth && .venv/bin/python '
        'tools/model_converters/levit2mmattn.py ckpt/LeViT-256-13b5763e.pth '
        'ckpt/levit-256_mmattn.pth')
    assert fetch_command('checkpoints/resnet101-2a57e44d_mmseg.pth') == (
        'wget -P checkpoints https://hangzh.s3.amazonaws.com/encoding/models/'
        'resnet101-2a57e44d.zip && unzip -o checkpoints/resnet101-2a57e44d.zip -d checkpoints && '
        '.venv/bin/python tools/model_converters/eanet2mmattn.py checkpoints/resnet101-2a57e44d.pth '
        'checkpoints/resnet101-2a57e44d_mmseg.pth --depth 101')
    assert fetch_command('checkpoints/my_own.pth') is None
