"""skvae._data.row_noise: noise owned by each row, independent of its neighbours."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_array_equal
from scipy import stats

from skvae._data import row_noise


def gaussian_rows(n_samples=50, n_features=6, seed=0):
    return np.random.default_rng(seed).standard_normal((n_samples, n_features))


@pytest.mark.parametrize("n_samples", [0, 1, 7])
@pytest.mark.parametrize("n_draws, n_dims", [(1, 1), (3, 4), (0, 2), (2, 0)])
def test_shape_and_dtype(n_samples, n_draws, n_dims):
    noise = row_noise(gaussian_rows(n_samples), n_draws, n_dims, seed=0)
    assert noise.shape == (n_draws, n_samples, n_dims)
    assert noise.dtype == np.float32
    assert np.isfinite(noise).all()


def test_permuting_rows_permutes_the_noise():
    X = gaussian_rows(200)
    noise = row_noise(X, 3, 4, seed=1)
    perm = np.random.default_rng(1).permutation(len(X))
    assert_array_equal(row_noise(X[perm], 3, 4, seed=1), noise[:, perm])
    assert_array_equal(row_noise(X[::-1], 3, 4, seed=1), noise[:, ::-1])


def test_a_subset_keeps_its_rows_noise():
    X = gaussian_rows(200)
    noise = row_noise(X, 2, 5, seed=2)
    rows = [3, 150, 7]
    assert_array_equal(row_noise(X[rows], 2, 5, seed=2), noise[:, rows])
    assert_array_equal(row_noise(X[42:43], 2, 5, seed=2), noise[:, 42:43])
    # Other rows alongside change nothing either.
    extended = np.vstack([gaussian_rows(30, seed=9), X[rows]])
    assert_array_equal(row_noise(extended, 2, 5, seed=2)[:, 30:], noise[:, rows])


def test_identical_rows_share_noise_and_distinct_rows_do_not():
    X = gaussian_rows(20)
    X[5] = X[2]
    X[9] = X[2]
    X[11, 0] = -0.0
    X[12] = X[11]
    X[12, 0] = 0.0  # equal to row 11 as numbers, with other bits
    noise = row_noise(X, 2, 3, seed=0)
    assert_array_equal(noise[:, 5], noise[:, 2])
    assert_array_equal(noise[:, 9], noise[:, 2])
    assert_array_equal(noise[:, 12], noise[:, 11])
    distinct = [i for i in range(20) if i not in (5, 9, 12)]
    flat = noise[:, distinct].transpose(1, 0, 2).reshape(len(distinct), -1)
    assert len(np.unique(flat, axis=0)) == len(distinct)
    # One ulp (in float32) is enough to make a row another row.
    Y = np.ones((2, 4), dtype=np.float32)
    Y[1, 3] = np.nextafter(np.float32(1), np.float32(2))
    a, b = row_noise(Y, 1, 8, seed=0)[0]
    assert not np.any(a == b)


def test_seeds_give_different_noise():
    X = gaussian_rows(100)
    a, b = row_noise(X, 2, 3, seed=0), row_noise(X, 2, 3, seed=1)
    assert not np.any(a == b)
    assert_array_equal(a, row_noise(X, 2, 3, seed=0))
    # Also with no features at all, where only the seed is hashed.
    assert not np.array_equal(
        row_noise(np.zeros((1, 0)), 1, 3, seed=0),
        row_noise(np.zeros((1, 0)), 1, 3, seed=1),
    )


def test_more_draws_append_to_the_earlier_ones():
    X = gaussian_rows(30)
    assert_array_equal(row_noise(X, 5, 4, seed=3)[:2], row_noise(X, 2, 4, seed=3))


def test_float64_float32_and_memory_layouts_agree():
    X = gaussian_rows(40).astype(np.float32)
    noise = row_noise(X, 2, 3, seed=4)
    assert_array_equal(row_noise(X.astype(np.float64), 2, 3, seed=4), noise)
    assert_array_equal(row_noise(np.asfortranarray(X), 2, 3, seed=4), noise)
    assert_array_equal(row_noise(X[:, ::-1][:, ::-1], 2, 3, seed=4), noise)
    assert_array_equal(row_noise(X.tolist(), 2, 3, seed=4), noise)


def _lattice(n_samples, n_features=3):
    """Rows a hash could confuse: small integers and one-ulp steps, in order."""
    X = np.zeros((n_samples, n_features), dtype=np.float32)
    X[:, 0] = np.arange(n_samples) // 2
    X[1::2, -1] = np.float32(1e-45)  # the smallest subnormal: one bit differs
    return X


def test_many_distinct_rows_never_share_noise():
    # 20k rows make 2e8 pairs, so that a 24-bit hash of random rows collides
    # about a dozen times (structured rows, like the lattice, rarely collide
    # under a multiplicative hash, so they cannot show it).
    for X in (gaussian_rows(20_000, 3), _lattice(20_000)):
        noise = row_noise(X, 1, 2, seed=0)[0]
        assert len(np.unique(noise, axis=0)) == 20_000


def test_marginal_distribution_is_standard_normal():
    noise = row_noise(_lattice(10_000), 4, 5, seed=0).ravel()  # 200k draws
    n = noise.size
    assert abs(noise.mean()) < 4 / np.sqrt(n)
    assert abs(noise.std() - 1) < 4 / np.sqrt(2 * n)
    assert stats.kstest(noise, stats.norm.cdf).pvalue > 1e-3
    # The tails as well, which the KS statistic hardly sees.
    p = 2 * stats.norm.sf(3)
    tails = np.sum(np.abs(noise) > 3)
    assert abs(tails - n * p) < 5 * np.sqrt(n * p)


def test_no_correlation_between_neighbouring_rows_draws_or_dims():
    n_rows, n_draws, n_dims = 20_000, 2, 5
    noise = row_noise(_lattice(n_rows), n_draws, n_dims, seed=0)
    bound = 4 / np.sqrt(n_rows)
    # Neighbouring rows differ by one bit or by one in a feature.
    for step in (1, 2):
        r = np.corrcoef(noise[:, :-step].ravel(), noise[:, step:].ravel())[0, 1]
        assert abs(r) < bound / np.sqrt(n_draws * n_dims), step
    # Every (draw, dim) against every other, over rows.
    columns = noise.transpose(1, 0, 2).reshape(n_rows, n_draws * n_dims)
    corr = np.corrcoef(columns, rowvar=False)
    off_diagonal = corr[~np.eye(len(corr), dtype=bool)]
    assert np.abs(off_diagonal).max() < 1.2 * bound  # 90 pairs: allow a little
    # And the squares, which catch dependence that is not linear.
    corr2 = np.corrcoef(columns**2, rowvar=False)
    assert np.abs(corr2[~np.eye(len(corr2), dtype=bool)]).max() < 1.2 * bound


def test_bad_arguments():
    X = gaussian_rows(3)
    with pytest.raises(ValueError, match="2-D"):
        row_noise(X[0], 1, 1, seed=0)
    for kwargs in ({"n_draws": -1}, {"n_dims": 1.5}, {"seed": -3}):
        args = {"n_draws": 1, "n_dims": 1, "seed": 0, **kwargs}
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            row_noise(X, **args)


@settings(max_examples=60, deadline=None)
@given(
    X=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=12),
        # Few distinct values, so that duplicate rows are common.
        elements=st.sampled_from([0.0, -0.0, 1.0, -2.5, 1e-45, 3.4e38]),
    ),
    seed=st.integers(0, 2**63),
    n_dims=st.integers(1, 3),
    data=st.data(),
)
def test_noise_is_a_function_of_each_row_alone(X, seed, n_dims, data):
    perm = np.array(data.draw(st.permutations(range(len(X))), label="perm"), int)
    noise = row_noise(X, 2, n_dims, seed)
    assert_array_equal(row_noise(X[perm], 2, n_dims, seed), noise[:, perm])
    assert_array_equal(row_noise(X.astype(np.float64), 2, n_dims, seed), noise)
    # Same rows (as numbers) <=> same noise.
    flat = noise.transpose(1, 0, 2).reshape(len(X), 2 * n_dims)
    for i in range(len(X)):
        for j in range(i):
            assert np.array_equal(flat[i], flat[j]) == np.array_equal(X[i], X[j])
