"""Principal Feature Analysis: one coordinate per cluster, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from affectflow.features.groups import FACE_COORDS
from affectflow.selection.pfa import PFAResult, complete_frames, fit_pfa

BLOCK = [60, 61, 62]  # planted coordinates driven by their own strong factor


def face_like(n: int = 3000, seed: int = 0) -> np.ndarray:
    """138 coordinates: 4 shared latent factors plus noise, and one independent 3-column block."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 4)) * np.array([6.0, 4.0, 3.0, 2.0])
    x = latent @ rng.normal(size=(4, len(FACE_COORDS))) + rng.normal(scale=0.3, size=(n, 138))
    own = rng.normal(scale=30.0, size=n)  # a leading component, orthogonal to the rest
    for j in BLOCK:
        x[:, j] = own + rng.normal(scale=0.2, size=n)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def result() -> PFAResult:
    return fit_pfa(face_like(), FACE_COORDS, n_features=30, seed=0)


def test_one_coordinate_per_cluster(result: PFAResult) -> None:
    assert len(result.selected) == 30 == len(set(result.selected))
    assert list(result.selected_idx) == sorted(result.selected_idx)
    assert [FACE_COORDS[i] for i in result.selected_idx] == list(result.selected)
    assert len(result.clusters) == 138 and set(result.clusters) == set(range(30))
    picked_clusters = [result.clusters[i] for i in result.selected_idx]
    assert sorted(picked_clusters) == list(range(30))


def test_components_reach_the_variance_target(result: PFAResult) -> None:
    x = face_like().astype(np.float64)
    eig = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False)))[::-1]
    cum = np.cumsum(eig) / eig.sum()
    q = result.n_components
    assert cum[q - 1] >= 0.95 > cum[q - 2]
    assert result.explained_variance == pytest.approx(cum[q - 1])


def test_planted_independent_block_is_represented(result: PFAResult) -> None:
    assert len(set(result.selected_idx) & set(BLOCK)) == 1  # the block is one cluster


def test_deterministic_and_json_round_trip(result: PFAResult) -> None:
    again = fit_pfa(face_like(), FACE_COORDS, n_features=30, seed=0)
    assert again == result
    assert PFAResult.from_json(result.to_json()) == result
    assert result.to_json()["features"] == list(result.selected)


def test_nan_rows_dropped_and_subsampling_is_seeded() -> None:
    x = face_like(n=2000, seed=1)
    x[::10, 5] = np.nan
    assert complete_frames(x, None, 0).shape == (1800, 138)
    sub = fit_pfa(x, FACE_COORDS, max_frames=500, seed=3)
    assert sub.n_frames == 500
    assert fit_pfa(x, FACE_COORDS, max_frames=500, seed=3) == sub
    np.testing.assert_array_equal(complete_frames(x, 500, 3), complete_frames(x, 500, 3))
    with pytest.raises(ValueError):
        fit_pfa(np.full((10, 138), np.nan), FACE_COORDS)


def test_duplicate_columns_still_give_one_coordinate_per_cluster() -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(size=(400, 3))
    x = np.repeat(base, [4, 3, 3], axis=1)  # only 3 distinct rows in the loading matrix
    res = fit_pfa(x, [f"c{i}" for i in range(10)], n_features=5, seed=0)
    assert len(set(res.selected_idx)) == 5


def near_tie_faces(seed: int, n: int = 4000) -> np.ndarray:
    """Two strong components with coarse loadings: many coordinates move together, so the loading
    rows have near-ties that floating-point rounding used to decide."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2)) * np.array([10.0, 6.0])
    load = np.round(rng.uniform(-1, 1, (2, 138)), 1)
    return z @ load + rng.normal(scale=0.05, size=(n, 138))


@pytest.mark.parametrize("seed", [2, 3])
def test_picks_do_not_depend_on_the_order_of_the_frames(seed: int) -> None:
    # Reordering the frames only reorders the covariance's sums. With np.cov / eigh / sklearn
    # this changed the picks (as other BLAS kernels did); the exact sums make them identical.
    x = near_tie_faces(seed)
    perm = np.random.default_rng(99).permutation(len(x))
    first = fit_pfa(x, FACE_COORDS, seed=0, max_frames=None)
    again = fit_pfa(x[perm], FACE_COORDS, seed=0, max_frames=None)
    assert again.selected_idx == first.selected_idx and again.clusters == first.clusters
    assert first.n_components == 2
