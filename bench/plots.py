"""Plots of time and peak memory against resolution, ours beside the peers, from RESULTS.md.

    .venv/bin/python bench/plots.py [--results bench/RESULTS.md] [--out-dir bench/plots]

``bench/run_all.py`` calls :func:`make_plots` after writing RESULTS.md. It reads the markdown
tables the bench scripts print (so the plots show exactly the published numbers) and draws, per
operator, one figure with time and, where measured, peak memory against the number of pixels
(log-log: a straight line of slope 1 is linear cost, slope 2 quadratic).
"""
import argparse
import os
import os.path as osp
import re
from typing import Dict, List, Tuple

HERE = osp.dirname(osp.abspath(__file__))

# operator -> (section, table key column, row filter (column, value) or None, series:
#              {label: column}, quantity); the key column holds "H x W" or "BxCxHxW".
PLOTS = {
    'lambda_layer': [
        ('lambda_layer', 'input', ('measure', 'fwd+bwd time'),
         {'LambdaLayer (ours)': 'ours', 'lambda-networks': 'lambda-networks',
          'NonLocal2d (mmcv)': 'NonLocal2d'}, 'time (ms), forward + backward'),
        ('lambda_layer', 'input', ('measure', 'peak memory'),
         {'LambdaLayer (ours)': 'ours', 'lambda-networks': 'lambda-networks',
          'NonLocal2d (mmcv)': 'NonLocal2d'}, 'peak memory (MB)'),
    ],
    'external_attention': [
        ('external_attention', 'H x W', None,
         {'ExternalAttention (ours)': 'EA ms', 'NonLocal2d (mmcv)': 'NonLocal2d ms'},
         'time (ms), inference'),
    ],
    'xvolution': [
        ('xvolution', 'input (C=', None, {'X-volution PSSA (ours)': 'PSSA ms',
                                          'X-volution SA (ours)': 'SA ms'},
         'time (ms), inference'),
        ('xvolution', 'input (C=', None, {'X-volution PSSA (ours)': 'PSSA peak MB',
                                          'X-volution SA (ours)': 'SA peak MB'},
         'peak memory (MB)'),
    ],
}


def split_sections(text: str) -> Dict[str, str]:
    """Bench name -> its section of a RESULTS.md (after ``## name (N s)``, up to the next one).

    Only headings that are a bench's name (lower case, ``_``) open a section, so that older
    RESULTS.md files, whose scripts printed ``##`` titles of their own, read alike.
    """
    parts = re.split(r'^## ([a-z][a-z0-9_]*)(?: \(.*\))?$', text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def read_tables(text: str) -> Dict[str, List[List[Dict[str, str]]]]:
    """Section (first word of a ``## `` heading) -> its tables, each a list of {header: cell}.

    Args:
        text (str): a RESULTS.md as ``bench/run_all.py`` writes it.
    """
    sections: Dict[str, List[List[Dict[str, str]]]] = {}
    for section, body in split_sections(text).items():
        tables: List[List[Dict[str, str]]] = []
        header = None
        for line in body.splitlines():
            if not line.startswith('|'):
                header = None
                continue
            cells = [c.strip() for c in line.strip().strip('|').split('|')]
            if header is None:
                header = cells
                tables.append([])
            elif not all(set(c) <= set('-: ') for c in cells):
                tables[-1].append(dict(zip(header, cells)))
        sections[section] = tables
    return sections


def _pixels(key: str) -> int:
    numbers = [int(n) for n in re.findall(r'\d+', key)]
    return numbers[-2] * numbers[-1] if len(numbers) >= 2 else numbers[0]**2


def _number(cell: str) -> float:
    match = re.search(r'[\d.]+', cell.replace(',', ''))
    return float(match.group()) if match else float('nan')


def _series(tables, key_col: str, row_filter, columns: Dict[str, str]):
    for table in tables:
        if not table:
            continue
        key = next((h for h in table[0] if h.startswith(key_col)), None)
        if key is None or not all(c in table[0] for c in columns.values()):
            continue
        rows = [r for r in table if row_filter is None or r.get(row_filter[0]) == row_filter[1]]
        if not rows:
            continue
        xs = [_pixels(r[key]) for r in rows]
        return xs, {label: [_number(r[col]) for r in rows] for label, col in columns.items()}
    return None


def make_plots(results: str, out_dir: str) -> List[str]:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    with open(results) as f:
        tables = read_tables(f.read())
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, panels in PLOTS.items():
        found: List[Tuple] = []
        for section, key_col, row_filter, columns, ylabel in panels:
            series = _series(tables.get(section, []), key_col, row_filter, columns)
            if series is not None:
                found.append((series, ylabel))
        if not found:
            continue
        fig, axes = plt.subplots(1, len(found), figsize=(5.2 * len(found), 4), squeeze=False)
        for ax, ((xs, ys), ylabel) in zip(axes[0], found):
            for label, values in ys.items():
                ax.plot(xs, values, marker='o', label=label,
                        linewidth=2.5 if 'ours' in label else 1.5)
            ax.set_xscale('log')
            ax.set_yscale('log')
            ax.set_xlabel('pixels (H x W)')
            ax.set_ylabel(ylabel)
            ax.grid(True, which='both', alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(name.replace('_', ' '))
        fig.tight_layout()
        path = osp.join(out_dir, f'{name}.png')
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--results', default=osp.join(HERE, 'RESULTS.md'))
    parser.add_argument('--out-dir', default=osp.join(HERE, 'plots'))
    args = parser.parse_args()
    for path in make_plots(args.results, args.out_dir):
        print(f'[plots] {path}')


if __name__ == '__main__':
    main()
