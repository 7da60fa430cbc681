"""skvae: PCA, autoencoders and variational autoencoders as scikit-learn transformers.

The reducers share one estimator base and run on PyTorch, on the CPU or a GPU.
"""

from ._autoencoder import AutoencoderTransformer
from ._neighbours import NeighborEmbedding
from ._novelty import NoveltyDetector
from ._pca import PCAReducer
from ._training import FitInterruptedWarning
from ._vae import HeldOutGapWarning, PosteriorCollapseWarning, VAETransformer

__version__ = "0.1.0.dev0"

__all__ = [
    "AutoencoderTransformer",
    "FitInterruptedWarning",
    "HeldOutGapWarning",
    "NeighborEmbedding",
    "NoveltyDetector",
    "PCAReducer",
    "PosteriorCollapseWarning",
    "VAETransformer",
    "__version__",
]
