"""The checks of ``tools/dev/gpu_check.sh``, within a time budget, and its Markdown report.

    .venv/bin/python tools/dev/gpucheck/checks.py [--device cuda|cpu] [--out FILE] [--only CHECK ...]
                                        [--budget SECONDS] [--installed TEXT]

Checks, in this order, each in its own process with a time limit (the whole run stays within
``--budget``, 480 s by default; a check that no longer fits is reported as not run):

* ``environment``: machine, GPU, versions, mmcv's kernels (``mmattn/utils/mmcv_cuda.py check``);
  fails when ``--device cuda`` finds no CUDA device;
* ``layer-tests``: ``pytest tests/test_on_device.py tests/test_imports.py --device DEVICE``
  (float64 parity, gradients, fp16 / bf16 autocast; ``-m "not slow"``);
* ``compile``: four ``torch.compile`` cases of tests/test_on_device.py, one per operator
  family (inductor on CUDA);
* ``benches``: ``bench/run_all.py --device DEVICE --quick`` (its tables go into the report);
* ``eanet-step``: one EANet R50-D8 segmentor training step (configs/eanet_r50_ade20k.py, SyncBN
  as BN, no pretrained weights) with ``tools/train.py --amp``'s optimiser wrapper;
* ``levit-det-step``: the same for RetinaNet with the LeViT-256 backbone
  (configs/retinanet_levit256_fpn_1x_coco.py). Its focal loss is an mmcv op: skipped, with the
  reason, unless mmcv's ops have kernels for this device.

A check that needs a package this interpreter lacks (pytest, mmengine, mmseg, ...) is skipped
with that reason. Exit code 1 when a check fails, else 0.
"""
import argparse
import datetime
import json
import math
import os
import os.path as osp
import platform
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from importlib import metadata

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CHECKS = ('environment', 'layer-tests', 'compile', 'benches', 'eanet-step', 'levit-det-step')
LIMITS = {'environment': 60, 'layer-tests': 150, 'compile': 150, 'benches': 150,
          'eanet-step': 90, 'levit-det-step': 90}
# one case per operator family: inductor compiles each for seconds to a minute
COMPILE_CASES = ('lambda-training or multi_head_ea-training or xvolution_pssa-deploy or '
                 'levit_block-training')
STEPS = {'eanet-step': ('configs/eanet_r50_ade20k.py', 512, 64),  # config, side cuda / cpu
         'levit-det-step': ('configs/retinanet_levit256_fpn_1x_coco.py', 640, 128)}
PACKAGES = ('torch', 'torchvision', 'timm', 'lambda-networks', 'pytest', 'mmengine', 'mmcv',
            'mmdet', 'mmsegmentation')
SKIP = 3  # exit code of a step that lacks a package
RESULT = '[gpu_check result] '  # the line of a step's JSON result


def _run(cmd, timeout, env=None):
    """(exit code, or None on timeout, and the output). On timeout the command's whole
    process group is killed (bench/run_all.py runs each bench script as a child)."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=dict(os.environ, **(env or {})),
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out


def environment(device):
    import torch
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = 'not installed'
    cpu = platform.processor() or platform.machine()
    if osp.exists('/proc/cpuinfo'):
        found = re.search(r'model name\s*:\s*(.+)', open('/proc/cpuinfo').read())
        cpu = found.group(1).strip() if found else cpu
    gpus = [f'{torch.cuda.get_device_name(i)} '
            f'({torch.cuda.get_device_properties(i).total_memory // 2**20} MiB)'
            for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    if versions['mmcv'] == 'not installed':
        code, mmcv_ops = 1, 'mmcv is not installed'
    else:
        code, out = _run([sys.executable, 'mmattn/utils/mmcv_cuda.py', 'check'], 60)
        mmcv_ops = (out.strip().splitlines() or [''])[0].replace('mmcv ops: ', '') \
            if code == 0 else f'NOT usable on this device: {" ".join(out.split())[:300]}'
    facts = dict(machine=f'{cpu}, {os.cpu_count()} cores', gpus=gpus or ['none'],
                 python=platform.python_version(), torch_cuda=torch.version.cuda,
                 versions=versions, mmcv_ops=mmcv_ops, mmcv_ops_ok=code == 0)
    if device == 'cuda' and not gpus:
        return facts, ('FAIL', 'no CUDA device', 'torch.cuda.is_available() is False')
    return facts, ('PASS', ', '.join(gpus) if gpus else 'CPU', '')


def pytest_check(device, args, timeout, work):
    import importlib.util
    if importlib.util.find_spec('pytest') is None:
        return 'SKIP', 'pytest is not installed (add its wheels to --wheels)', ''
    xml = osp.join(work, f'junit-{len(os.listdir(work))}.xml')
    code, out = _run([sys.executable, '-m', 'pytest', *args, '--device', device, '-q',
                         '-p', 'no:cacheprovider', f'--junitxml={xml}'], timeout)
    if code is None:
        return 'FAIL', f'timed out after {timeout:.0f} s', out[-1500:]
    if not osp.exists(xml):
        return 'FAIL', f'pytest exit code {code}', out[-1500:]
    root = ElementTree.parse(xml).getroot()
    suite = root if root.tag == 'testsuite' else root.find('testsuite')
    total, failed = int(suite.get('tests')), int(suite.get('failures')) + int(suite.get('errors'))
    skipped = int(suite.get('skipped'))
    reasons = sorted({s.get('message', '') for s in suite.iter('skipped')})
    number = f'{total - failed - skipped} passed, {failed} failed, {skipped} skipped'
    detail = ('skipped: ' + '; '.join(reasons) if reasons else '') + \
        (f'\n{out[-1500:]}' if code not in (0, 5) else '')
    return ('PASS' if code == 0 else 'FAIL'), number, detail


def train_step(name, device):
    """Two training steps of a config's model as ``tools/train.py --amp`` builds its optimiser
    wrapper; prints a JSON line. Exit code SKIP when a package is missing."""
    try:
        import torch
        from mmengine.config import Config
        from mmengine.optim import build_optim_wrapper

        import mmattn  # noqa: F401
        from mmattn.apis.launch import enable_amp
        from mmattn.apis.model import build_model
        from mmattn.utils.config import drop_pretrained_init, replace_sync_bn
        sys.path.insert(0, REPO)
        if name == 'eanet-step':
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample
        else:
            from bench.mask_rcnn import detection_batch
    except ImportError as error:
        print(f'needs OpenMMLab: {error}')
        sys.exit(SKIP)
    config, cuda_side, cpu_side = STEPS[name]
    side = cuda_side if device == 'cuda' else cpu_side
    cfg = Config.fromfile(osp.join(REPO, config))
    replace_sync_bn(cfg)
    drop_pretrained_init(cfg)
    cfg.optim_wrapper = dict(type='OptimWrapper',
                             optimizer=dict(type='SGD', lr=0.001, momentum=0.9))
    enable_amp(cfg)  # what --amp does: fp16 + dynamic loss scale on CUDA, bf16 on CPU
    if name == 'eanet-step':
        cfg.model.data_preprocessor.size = (side, side)
    torch.manual_seed(0)
    model = build_model(cfg).train().to(device)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    if name == 'eanet-step':
        inputs, samples = [], []
        for _ in range(2):
            inputs.append(torch.randint(0, 255, (3, side, side), dtype=torch.uint8))
            sample = SegDataSample(metainfo=dict(img_shape=(side, side), ori_shape=(side, side),
                                                 pad_shape=(side, side)))
            sample.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, side, side)))
            samples.append(sample)
        data = dict(inputs=inputs, data_samples=samples)
    else:
        data = detection_batch(2, side)
    losses, seconds = [], []
    for _ in range(2):
        start = time.time()
        log = model.train_step(data, wrapper)
        if device == 'cuda':
            torch.cuda.synchronize()
        seconds.append(time.time() - start)
        losses.append(float(log['loss']))
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == 'cuda' else None
    print(RESULT + json.dumps(dict(losses=losses, seconds=seconds[-1], side=side, peak_mb=peak,
                          wrapper=cfg.optim_wrapper.type)))


def step_check(name, device, timeout, mmcv_ops_ok):
    if name == 'levit-det-step' and not mmcv_ops_ok:
        return 'SKIP', "RetinaNet's focal loss is an mmcv op, and mmcv's ops do not run on " \
            'this device (see mmcv ops above)', ''
    start = time.time()
    code, out = _run([sys.executable, __file__, '--step', name, '--device', device], timeout)
    took = time.time() - start
    if code == SKIP:
        return 'SKIP', out.strip().splitlines()[0], ''
    if code != 0:
        return 'FAIL', 'timed out' if code is None else f'exit code {code}', out[-1500:]
    result = json.loads(next(line[len(RESULT):] for line in out.splitlines()
                             if line.startswith(RESULT)))
    finite = all(math.isfinite(v) for v in result['losses'])
    peak = f", peak {result['peak_mb']:.0f} MiB" if result['peak_mb'] else ''
    number = (f"loss {result['losses'][0]:.3f} -> {result['losses'][1]:.3f}, "
              f"{result['seconds']:.2f} s/step{peak}")
    detail = f"{result['wrapper']}, batch 2 of {result['side']}x{result['side']}, {took:.0f} s " \
        'with the model build'
    return ('PASS' if finite else 'FAIL'), number, detail


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda')
    parser.add_argument('--out', default=osp.join(REPO, 'work_dirs', 'gpu_check', 'REPORT.md'))
    parser.add_argument('--only', nargs='+', choices=CHECKS, default=list(CHECKS))
    parser.add_argument('--budget', type=float, default=480)
    parser.add_argument('--installed', default='none', help='what gpu_check.sh installed')
    parser.add_argument('--step', choices=sorted(STEPS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        return train_step(args.step, args.device)
    start, rows, bench = time.time(), [], ''
    args.out = osp.abspath(args.out)
    work = osp.join(osp.dirname(args.out), 'gpu_check_work')
    os.makedirs(work, exist_ok=True)
    facts, verdict = environment(args.device)
    rows.append(('environment',) + verdict + (time.time() - start,))
    for name in args.only[1:] if args.only[0] == 'environment' else args.only:
        left = args.budget - (time.time() - start) - 5
        timeout = min(LIMITS[name], left)
        t0 = time.time()
        if timeout < 20:
            rows.append((name, 'SKIP', f'not run: {left:.0f} s of the budget left', '', 0))
            continue
        if name == 'layer-tests':
            result = pytest_check(args.device, ['tests/test_on_device.py', 'tests/test_imports.py',
                                                '-m', 'not slow'], timeout, work)
        elif name == 'compile':
            result = pytest_check(args.device, ['tests/test_on_device.py', '-m', 'slow', '-k',
                                                COMPILE_CASES], timeout, work)
        elif name == 'benches':
            out_md = osp.join(work, f'RESULTS_{args.device}.md')
            code, out = _run([sys.executable, 'bench/run_all.py', '--device', args.device,
                              '--quick', '--out', out_md], timeout)
            bench = open(out_md).read() if osp.exists(out_md) and code is not None else ''
            sections = len(re.findall(r'^## ', bench, re.M))
            failed = bench.count('FAILED (exit code')
            number = (f'timed out after {timeout:.0f} s' if code is None else
                      f'{sections} bench scripts, {failed} failed')
            result = (('PASS' if code == 0 else 'FAIL'), number,
                      '' if code == 0 else out[-1500:])
        else:
            result = step_check(name, args.device, timeout, facts['mmcv_ops_ok'])
        rows.append((name,) + result + (time.time() - t0,))
    write_report(args, facts, rows, bench, time.time() - start)
    print(open(args.out).read())
    return 1 if any(row[1] == 'FAIL' for row in rows) else 0


def write_report(args, facts, rows, bench, seconds):
    versions = ', '.join(f'{k} {v}' for k, v in facts['versions'].items())
    failed = [row for row in rows if row[1] == 'FAIL']
    lines = [
        f'# mmattn GPU check: {"FAILED" if failed else "passed"} on {args.device}', '',
        f'`tools/dev/gpu_check.sh --device {args.device}`, '
        f'{datetime.datetime.now().isoformat(timespec="minutes")}, {seconds:.0f} s '
        f'(budget {args.budget:.0f} s).', '',
        f"- machine: {facts['machine']}; GPU: {', '.join(facts['gpus'])}; torch CUDA "
        f"{facts['torch_cuda']}", f"- Python {facts['python']}; {versions}",
        f"- mmcv ops: {facts['mmcv_ops']}", f'- installed for this run: {args.installed}', '',
        '| check | verdict | number | seconds |', '|---|---|---|---|']
    lines += [f'| {name} | {verdict} | {number} | {took:.0f} |'
              for name, verdict, number, _, took in rows]
    details = [(name, detail) for name, _, _, detail, _ in rows if detail]
    if details:
        lines += ['', '## Details', '']
        for name, detail in details:
            lines += [f'### {name}', '', '```', detail.strip(), '```', '']
    if bench:
        lines += ['', '## Bench tables', '', re.sub(r'^(#+) ', r'#\1 ', bench, flags=re.M)]
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    sys.exit(main())
