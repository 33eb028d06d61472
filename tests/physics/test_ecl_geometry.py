"""ECL crystal geometry: counts, direction -> cellId, neighbour tables."""

from __future__ import annotations

import numpy as np
import pytest

from b2grid.physics import ecl_geometry as g

CELLS = np.arange(1, g.N_CRYSTALS + 1)


def test_crystal_counts_per_region() -> None:
    geo = g.geometry()
    assert g.N_CRYSTALS == 8736
    assert int(geo.ring_nphi.sum()) == 8736
    assert np.bincount(g.region(CELLS), minlength=4).tolist() == [0, 1152, 6624, 960]
    assert len(g.cell_theta) == len(g.cell_phi) == g.N_CRYSTALS + 1
    assert g.region(0) == 0
    # 13 + 46 + 10 rings, phi-counts as in the spec (backward: from the beam pipe)
    fwd, bwd = geo.ring_nphi[:13], geo.ring_nphi[59:]
    assert fwd.tolist() == [48, 48, 64, 64, 64, 96, 96, 96, 96, 96, 96, 144, 144]
    assert (geo.ring_nphi[13:59] == 144).all()
    assert bwd[::-1].tolist() == [64, 64, 64, 96, 96, 96, 96, 96, 144, 144]


def test_region_theta_ranges() -> None:
    theta = np.degrees(g.cell_theta[CELLS])
    for reg, lo, hi in ((1, 12.4, 31.4), (2, 32.2, 128.7), (3, 130.7, 155.1)):
        inside = theta[g.region(CELLS) == reg]
        assert lo < inside.min() < inside.max() < hi


def test_numbering_forward_first_phi_ascending() -> None:
    geo = g.geometry()
    assert np.all(np.diff(g.cell_theta[1:]) >= 0)  # ring by ring in theta
    ring0 = g.cell_phi[1:49] % (2 * np.pi)
    assert np.all(np.diff(ring0) > 0)
    assert geo.cell_iphi[1] == 0
    assert geo.cell_iphi[48] == 47
    assert g.region(1152) == 1
    assert g.region(1153) == 2
    assert g.region(7777) == 3


def test_cell_id_round_trip_and_inside_faces() -> None:
    geo = g.geometry()
    assert (g.cell_id(g.cell_theta[CELLS], g.cell_phi[CELLS]) == CELLS).all()
    rng = np.random.default_rng(1)
    du = rng.uniform(-0.49, 0.49, (2, len(CELLS)))
    theta = g.cell_theta[CELLS] + du[0] * geo.cell_dtheta[CELLS]
    phi = g.cell_phi[CELLS] + du[1] * geo.cell_dphi[CELLS]
    assert (g.cell_id(theta, phi) == CELLS).all()
    assert g.cell_phi.min() >= -np.pi
    assert g.cell_phi.max() < np.pi


@pytest.mark.parametrize("theta_deg", [5.0, 12.0, 31.8, 129.5, 155.5, 170.0])
def test_gaps_and_outside_have_no_crystal(theta_deg: float) -> None:
    assert g.cell_id(np.radians(theta_deg), 0.3) == 0


def test_phi_wraps_around() -> None:
    theta = np.radians(90.0)
    first = int(g.cell_id(theta, 1e-6))
    assert g.cell_id(theta, -1e-6) == first + 143  # last crystal of the ring
    assert g.cell_id(theta, 2 * np.pi + 1e-6) == first
    assert g.cell_id(theta, -2 * np.pi + 1e-6) == first
    # the 3x3 of phi index 0 reaches phi index 143 of its ring
    assert first + 143 in g.NEIGHBOURS9[first]
    assert first + 142 in g.NEIGHBOURS21[first]


def test_neighbour_tables_shape_and_padding() -> None:
    nb9, nb21 = g.NEIGHBOURS9, g.NEIGHBOURS21
    assert nb9.shape == (8737, 9)
    assert nb21.shape == (8737, 21)
    assert (nb9[0] == 0).all()
    assert (nb21[0] == 0).all()
    assert (nb9[:, 0] == np.arange(8737)).all()
    assert (nb21[:, :9] == nb9).all()
    # first ring: nothing below it; next-to-first: row -2 missing
    rows9 = np.array([r for r, _ in g.OFFSETS21[:9]])
    rows21 = np.array([r for r, _ in g.OFFSETS21])
    assert (nb9[1:49][:, rows9 < 0] == 0).all()
    assert (nb9[1:49][:, rows9 >= 0] > 0).all()
    assert (nb21[49:97][:, rows21 == -2] == 0).all()
    assert (nb21[8737 - 64 :][:, rows21 > 0] == 0).all()
    # the rest of the detector is complete (neighbours cross the small gaps)
    ring = g.geometry().cell_ring[CELLS]
    inner = CELLS[(ring >= 2) & (ring <= 66)]
    assert (nb21[inner] > 0).all()
    # no crystal appears twice in a row
    srt = np.sort(nb21[inner], axis=1)
    assert (np.diff(srt, axis=1) > 0).all()


def test_barrel_neighbours_are_symmetric() -> None:
    barrel = CELLS[g.region(CELLS) == 2]
    for table in (g.NEIGHBOURS9, g.NEIGHBOURS21):
        nb = table[barrel][:, 1:]
        back = table[nb]  # (cells, k, columns): neighbours of each neighbour
        assert (back == barrel[:, None, None]).any(axis=2).all()


def test_neighbours_in_rings_with_other_phi_counts() -> None:
    geo = g.geometry()
    ring1 = np.arange(49, 97)  # 48 crystals; ring 2 above has 64
    middle = g.NEIGHBOURS9[ring1, 7]  # offset (+1, 0)
    assert (geo.cell_ring[middle] == 2).all()
    # the middle of the row is the crystal under the centre phi, then its siblings
    dphi = np.angle(np.exp(1j * (g.cell_phi[ring1] - g.cell_phi[middle])))
    assert (np.abs(dphi) <= 0.5 * geo.cell_dphi[middle] + 1e-12).all()
    assert (g.NEIGHBOURS9[ring1, 6] == np.where(middle == 97, 160, middle - 1)).all()
    assert (g.NEIGHBOURS9[ring1, 8] == np.where(middle == 160, 97, middle + 1)).all()


def test_tables_are_cached_and_read_only() -> None:
    assert g.geometry() is g.geometry()
    assert g.NEIGHBOURS9 is g.geometry().neighbours9
    with pytest.raises(ValueError, match="read-only"):
        g.NEIGHBOURS9[1, 1] = 0
    with pytest.raises(AttributeError):
        _ = g.NEIGHBOURS25


def test_locate_snaps_gaps_to_the_nearer_ring() -> None:
    geo = g.geometry()
    theta = np.radians([90.0, 31.5, 32.1, 5.0])
    cell, u, v = g.locate(theta, np.full(4, 0.2))
    assert cell[0] == g.cell_id(theta[0], 0.2)
    assert -0.5 <= u[0] < 0.5
    assert -0.5 <= v[0] < 0.5
    assert geo.cell_ring[cell[1]] == 12  # last forward ring, just above it
    assert u[1] > 0.5
    assert geo.cell_ring[cell[2]] == 13  # first barrel ring, just below it
    assert u[2] < -0.5
    assert cell[3] == 0
