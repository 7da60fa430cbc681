"""Diagnostics and scorers for the reducers: active units, reconstruction R².

The functions take arrays or fitted estimators (duck-typed: anything with
``transform`` and ``inverse_transform``), so this module imports no estimator.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import r2_score

from ._data import to_numpy

__all__ = ["ACTIVE_UNIT_THRESHOLD", "active_units", "reconstruction_r2"]


def __dir__():
    # dir() and tab completion show the public API, not the imports.
    return list(__all__)


#: Burda et al.'s variance threshold of an active unit (standard normal prior).
ACTIVE_UNIT_THRESHOLD = 0.01


def active_units(posterior_means, threshold=ACTIVE_UNIT_THRESHOLD):
    """Which latent dimensions are active (Burda, Grosse & Salakhutdinov, 2016).

    Dimension ``j`` is active when ``Var_x(E_q[z_j | x]) > threshold``: the
    posterior mean moves with the data. A collapsed dimension has a posterior
    equal to the prior for every x and carries no information.

    Parameters
    ----------
    posterior_means : array-like of shape (n_samples, n_components)
        ``E_q[z | x]`` for a sample of data, e.g. ``VAETransformer.transform(X)``.
    threshold : float, default=0.01
        The variance above which a unit counts as active; 0.01 is Burda et
        al.'s choice for a standard normal prior.

    Returns
    -------
    active : ndarray of bool, shape (n_components,)

    Examples
    --------
    >>> import numpy as np
    >>> from skvae.metrics import active_units
    >>> Z = np.c_[np.linspace(-1, 1, 50), np.full(50, 0.3)]
    >>> active_units(Z)
    array([ True, False])
    """
    Z = np.asarray(to_numpy(posterior_means), dtype=np.float64)
    if Z.ndim != 2:
        raise ValueError(f"posterior_means must be 2-D, got shape {Z.shape}.")
    return Z.var(axis=0) > threshold


def reconstruction_r2(estimator, X, y=None):
    """R² of the reconstruction ``inverse_transform(transform(X))`` of ``X``.

    The share of the data's variance that survives the round trip through the
    latent space, weighted by each feature's variance (for PCA this is the
    explained variance ratio of the kept components). It has the signature of
    a scikit-learn scorer, so it can be passed as ``scoring=`` to
    :class:`~sklearn.model_selection.GridSearchCV`.

    Parameters
    ----------
    estimator : fitted reducer
        Anything with ``transform`` and ``inverse_transform``.
    X : array-like of shape (n_samples, n_features)
    y : None
        Ignored.

    Returns
    -------
    r2 : float
        1 is perfect; 0 is no better than the feature means.
    """
    X = np.asarray(to_numpy(X))
    X_hat = to_numpy(estimator.inverse_transform(estimator.transform(X)))
    return float(r2_score(X, X_hat, multioutput="variance_weighted"))
