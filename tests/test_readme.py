"""What README.md tells users to type is what CI runs."""
import os.path as osp
import re

from conftest import REPO


def _commands(path: str):
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith('#')]


def _readme_block(title: str) -> str:
    with open(osp.join(REPO, 'README.md')) as f:
        text = f.read()
    match = re.search(rf'<!-- {title} -->\s*```(?:bash|sh)?\n(.*?)\n```', text, re.S)
    assert match, f'README.md has no fenced block after <!-- {title} -->'
    return match.group(1).strip()


def test_ci_runs_the_readme_setup_command_verbatim():
    assert _readme_block('setup-command') in _commands(osp.join(REPO, '.ci', 'run'))


def test_ci_runs_the_readme_test_command_verbatim():
    assert _readme_block('test-command') in _commands(osp.join(REPO, '.ci', 'run'))
