"""Every command line under tools/ starts, imports only through the library and parses its
options (their logic is tested through mmattn.apis and mmattn.models.converters)."""
import glob
import os.path as osp
import subprocess
import sys

import pytest

from conftest import REPO

# The command lines: tools/*.py and one folder down (tools/dev/mutation/ is the engine of
# tools/dev/mutate.py, a package of modules, not command lines).
TOOLS = sorted(osp.relpath(path, REPO)
               for pattern in ('*.py', '*/*.py') for path in glob.glob(osp.join(REPO, 'tools',
                                                                                pattern)))


def test_the_tool_list_is_not_empty():
    assert 'tools/train.py' in TOOLS and 'tools/model_converters/reparameterize_model.py' in TOOLS
    assert 'tools/dev/mutate.py' in TOOLS and len(TOOLS) == 12, TOOLS


@pytest.fixture(scope='module')
def help_outputs():
    """``TOOL --help`` of every tool, each in a fresh interpreter, all started at once (each
    spends seconds importing torch and OpenMMLab; one after another they took 40 s)."""
    procs = {tool: subprocess.Popen([sys.executable, tool, '--help'], cwd=REPO, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for tool in TOOLS}
    outputs = {}
    for tool, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        outputs[tool] = (proc.returncode, stdout, stderr)
    return outputs


@pytest.mark.slow
@pytest.mark.parametrize('tool', TOOLS)
def test_tool_prints_its_usage_and_no_third_party_warning(tool, help_outputs):
    returncode, stdout, stderr = help_outputs[tool]
    assert returncode == 0, stderr[-2000:]
    assert stdout.startswith('usage: ')
    assert 'Warning' not in stderr, stderr[-2000:]


@pytest.mark.parametrize('tool', TOOLS)
def test_tool_is_a_thin_command_line(tool):
    with open(osp.join(REPO, tool)) as f:
        lines = [line for line in f if line.strip()]
    assert len(lines) < 80, f'{tool}: {len(lines)} non-blank lines; move logic into mmattn'
