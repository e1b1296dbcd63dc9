"""The text report of :func:`preflight`."""
from typing import Any, Dict


def format_report(result: Dict[str, Any]) -> str:
    """The human-readable report of :func:`preflight`'s result."""
    device = result['device']
    lines = [f"[preflight] {result['config']} ({result['scope']}): {result['gpus']} device(s) "
             f"x {result['batch_size']} images per iteration, run from {result['cwd']}"]
    if device['type'] == 'cuda':
        names = ', '.join(f'{n} ({m} MB)' for n, m in zip(device['names'], device['memory_mb']))
        lines.append(f"device      CUDA {device['cuda']}: {device['count']} x [{names}]")
        lines.append(f"mmcv ops    CUDA kernels: {'ok' if result['mmcv_ops_cuda'] else 'NO'}")
        sync = {None: 'not checked (not used, or one GPU)', True: 'synchronises across 2 GPUs',
                False: 'FAILED'}[result['sync_bn']]
        lines.append(f'SyncBN      {sync}')
    else:
        lines.append(f"device      no CUDA: {device['names'][0]}, {device['cores']} cores, "
                     f"{device['memory_mb'][0]} MB")
        lines.append('mmcv ops    CUDA kernels: not applicable (no CUDA)')
        lines.append('SyncBN      not applicable: tools/train.py trains on CPU with SyncBN '
                     'replaced by BN (mmattn/apis/launch.py)')
    missing = result['missing_files']
    lines.append(f"files       {len(missing)} missing" + (' (listed below)' if missing else ''))
    h, w = result['input_size']
    if result['params'] is not None:
        counted = ('image -> logits' if result['scope'] in ('mmseg', 'mmpretrain') else
                   'image -> backbone + neck features, heads not counted')
        lines.append(f"model       {result['params'] / 1e6:.2f} M parameters, "
                     f"{result['macs'] / 1e9:.1f} G multiply-adds at {h}x{w} ({counted})")
    if result['seconds_per_iter'] is not None:
        lines.append(f"speed       {result['seconds_per_iter']:.3f} s/iteration (mean of "
                     f"{result['iterations_timed']} after a warm-up one; synthetic data at "
                     f"{result['trained_input_size']}, batch {result['batch_size']})")
        lines.append(f"memory      {result['peak_memory_mb']:.0f} MB peak per device: "
                     f"{result['memory_measure']}")
    else:
        lines.append('speed       not measured')
    eta = result['eta_hours']
    lines.append(f"schedule    {result['total_iters']} iterations ({result['schedule']})")
    lines.append('ETA         ' + (f'{eta:.1f} h ({eta / 24:.1f} days) on {result["gpus"]} '
                                   'device(s), training only' if eta is not None else 'unknown'))
    for title, items in (('warnings', result['warnings']), ('problems', result['problems'])):
        if items:
            lines.append(f'{title} ({len(items)}):')
            lines.extend(f'  - {item}' for item in items)
    lines.append('result      ' + ('BLOCKED: fix the problems above' if result['problems']
                                   else 'nothing blocks the run'))
    return '\n'.join(lines)
