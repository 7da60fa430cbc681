"""scikit-learn's estimator checks on every public estimator, none expected to fail."""

import pytest
from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)

from skvae import AutoencoderTransformer, PCAReducer, VAETransformer

# Small, fast settings: the checks fit each estimator dozens of times.
ESTIMATORS = [
    PCAReducer(),
    PCAReducer(n_components=2, svd_solver="randomized", random_state=0),
    AutoencoderTransformer(max_iter=5),
    VAETransformer(max_iter=5),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)
