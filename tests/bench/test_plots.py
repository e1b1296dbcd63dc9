"""bench/plots.py reads the bench tables of RESULTS.md and draws one figure per operator."""
import os.path as osp

from bench import plots

RESULTS = """# mmattn benchmarks

## xvolution (5 s)

| input (C=32, training form, eval) | PSSA ms | SA ms | SA / PSSA | PSSA peak MB | SA peak MB |
|---|---|---|---|---|---|
| 32x32 | 0.8 | 4.3 | 5.4x | 0.7 | 9.8 |
| 64x64 | 1.6 | 123.4 | 76.2x | 2.0 | 146.4 |

## lambda_layer (5 s)

| input | measure | ours | lambda-networks | ratio | NonLocal2d | ratio |
|---|---|---|---|---|---|---|
| 2x256x32x32 | fwd+bwd time | 31 ms | 197 ms | 6.35x | 36 ms | 1.17x |
| 2x256x32x32 | peak memory | 14 MB | 27 MB | 1.94x | 27 MB | 1.93x |
| 2x256x64x64 | fwd+bwd time | 112 ms | 1068 ms | 9.56x | 605 ms | 5.42x |
"""


def test_tables_are_read_per_section_with_their_headers():
    tables = plots.read_tables(RESULTS)
    assert set(tables) == {'xvolution', 'lambda_layer'}
    assert tables['xvolution'][0][1]['SA ms'] == '123.4'
    assert len(tables['lambda_layer'][0]) == 3


def test_one_png_per_operator_with_data(tmp_path):
    path = tmp_path / 'RESULTS.md'
    path.write_text(RESULTS)
    written = plots.make_plots(str(path), str(tmp_path / 'plots'))
    assert sorted(osp.basename(p) for p in written) == ['lambda_layer.png', 'xvolution.png']
    assert all(osp.getsize(p) > 10_000 for p in written)
