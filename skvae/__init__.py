"""skvae: PCA, autoencoders and variational autoencoders as scikit-learn transformers.

The reducers share one estimator base and run on PyTorch, on the CPU or a GPU.
"""

from ._pca import PCAReducer

__version__ = "0.1.0.dev0"

__all__ = ["PCAReducer", "__version__"]
