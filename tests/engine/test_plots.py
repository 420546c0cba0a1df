"""The search loop's drawing of the best genotype, by genotype kind."""
import pytest

pytest.importorskip('matplotlib')


def test_plot_genotype_draws_cells_and_pyramids_and_skips_paths(tmp_path):
    from nas_det.engine.visualization import plot_genotype
    from nas_det.space.published import DETNAS_300M_FPN, NASFPN_7CELL, NASNET_A
    for name, g in (('cells', NASNET_A), ('pyramid', NASFPN_7CELL)):
        out = tmp_path / f'{name}.png'
        assert plot_genotype(g, str(out), 'best') == str(out)
        assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and out.stat().st_size > 5000
    # a DetNAS path has no diagram (its ops are listed in best_genotype.json)
    assert plot_genotype(DETNAS_300M_FPN, str(tmp_path / 'path.png')) is None
    assert not (tmp_path / 'path.png').exists()
