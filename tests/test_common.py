"""scikit-learn's estimator checks on every public estimator, none expected to fail."""

import pytest
from sklearn.decomposition import PCA
from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)
from torch import nn

from skvae import (
    AutoencoderTransformer,
    NeighborEmbedding,
    NoveltyDetector,
    PCAReducer,
    VAETransformer,
)


class TinyConvEncoder(nn.Module):
    """A user's network: one 1-D convolution over the features of a row."""

    def __init__(self, input_shape, n_outputs, channels=3):
        super().__init__()
        (n_features,) = input_shape
        self.conv = nn.Conv1d(1, channels, kernel_size=3, padding=1)
        self.out = nn.Linear(channels * n_features, n_outputs)

    def forward(self, x):
        return self.out(self.conv(x.unsqueeze(1)).relu().flatten(1))


# Small, fast settings: the checks fit each estimator dozens of times.
_CONV = {
    "encoder": "conv",
    "decoder": "conv",
    "encoder__channels": (4,),
    "decoder__channels": (4,),
    "encoder__hidden_size": 8,
    "decoder__hidden_size": 8,
}
ESTIMATORS = [
    PCAReducer(),
    PCAReducer(n_components=2, svd_solver="randomized", random_state=0),
    AutoencoderTransformer(max_iter=5),
    VAETransformer(max_iter=5),
    # The built-in convolutional networks (1-D over flat rows) and a user's.
    AutoencoderTransformer(max_iter=5, **_CONV),
    VAETransformer(max_iter=5, **_CONV),
    VAETransformer(max_iter=5, encoder=TinyConvEncoder, encoder__channels=2),
    # The neighbour embedding as it comes (the checks' data has fewer than
    # 50 features: nothing is projected), projecting onto principal axes,
    # with the reconstruction shaping the codes, and on a user's network.
    NeighborEmbedding(max_iter=3),
    NeighborEmbedding(max_iter=3, pca_components=2, reconstruction_weight=1.0),
    NeighborEmbedding(max_iter=3, encoder=TinyConvEncoder, n_neighbors=4),
    # The outlier detector with each skvae reducer and each score, and a
    # scikit-learn transformer's reconstruction. The default reducer (a
    # 16-dimensional autoencoder trained for max_iter="auto" epochs) is
    # tested in test_novelty.py: here it would train 500 epochs per check.
    NoveltyDetector(AutoencoderTransformer(max_iter=5, random_state=0)),
    NoveltyDetector(
        AutoencoderTransformer(max_iter=5, random_state=0),
        method="density",
        contamination=0.1,
    ),
    NoveltyDetector(
        VAETransformer(max_iter=5, random_state=0), method="reconstruction"
    ),
    NoveltyDetector(PCAReducer(), method="density", contamination=0.2),
    NoveltyDetector(PCA(n_components=1), method="reconstruction"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)
