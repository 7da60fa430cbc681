"""Loss terms of autoencoders and VAEs, as pure functions of tensors.

Every function takes tensors and returns tensors; nothing here holds state,
draws random numbers or knows about modules or estimators. Log-likelihoods and
divergences are in nats. The last dimension indexes features (or latent
dimensions) and is always summed over; ``reduction`` says what happens to the
leading (sample) dimensions:

* ``"none"``: one value per sample, shape ``x.shape[:-1]``;
* ``"sum"``: the sum over samples, a scalar;
* ``"mean"``: the mean over samples, a scalar.

The VAE's training objective uses the ``"mean"`` forms, per sample like the
scores. The likelihoods' ``"sum"`` and ``"mean"`` forms are each a single
fused kernel (``binary_cross_entropy_with_logits``, ``mse_loss``) with a fused
backward; scoring uses ``"none"``. The autoencoder's loss is not here: it is
``mse_loss`` or ``binary_cross_entropy_with_logits`` averaged over features
and samples. Nor is the neighbour graph's loss, ``fuzzy_cross_entropy``, a
likelihood: it is at the end of this module.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_LOG_2PI = math.log(2.0 * math.pi)


def _reduce(per_sample, reduction):
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "mean":
        return per_sample.mean()
    raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {reduction!r}.")


def _n_samples(x):
    return x.numel() // x.shape[-1] if x.ndim else 1


def bernoulli_log_likelihood(logits, x, reduction="none"):
    """``log p(x | logits)`` of independent Bernoulli pixels, summed over features.

    ``x`` may be any value in [0, 1] (the "continuous Bernoulli" use of the
    cross-entropy on grey levels, as in Kingma & Welling, 2014); the result is
    then the negative binary cross-entropy.

    Parameters
    ----------
    logits : Tensor of shape (..., n_features)
        Decoder output before the sigmoid.
    x : Tensor of shape (..., n_features)
        Targets in [0, 1].
    reduction : {"none", "sum", "mean"}

    Returns
    -------
    Tensor
        Per-sample log-likelihood, or its sum or mean over samples.
    """
    if logits.shape != x.shape:
        logits, x = torch.broadcast_tensors(logits, x)
    if reduction == "none":
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    total = -F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    return total if reduction == "sum" else total / _n_samples(x)


def gaussian_log_likelihood(mean, x, variance=1.0, reduction="none"):
    """``log N(x; mean, diag(variance))``, summed over features.

    ``-sum((x - mean)^2 / (2 variance) + log(2 pi variance) / 2)``.

    Parameters
    ----------
    mean : Tensor of shape (..., n_features)
        Decoder output.
    x : Tensor of shape (..., n_features)
    variance : float or Tensor of shape (1,) or (n_features,), default=1.0
        The observation variance: a fixed number shared by all features, or
        a (learned) tensor, shared or one per feature.
    reduction : {"none", "sum", "mean"}

    Returns
    -------
    Tensor
        Per-sample log-likelihood, or its sum or mean over samples.
    """
    n_features = x.shape[-1]
    if torch.is_tensor(variance):
        log_variance = torch.log(variance).expand(n_features)
        per_feature = (x - mean).square() / variance + log_variance
        return _reduce(-0.5 * (per_feature.sum(-1) + n_features * _LOG_2PI), reduction)
    const = 0.5 * n_features * (_LOG_2PI + math.log(variance))
    scale = 0.5 / variance
    if reduction == "none":
        return -(x - mean).square().sum(-1) * scale - const
    total = -F.mse_loss(mean, x, reduction="sum") * scale
    n = _n_samples(x)
    total = total - const * n
    return total if reduction == "sum" else total / n


def gaussian_log_density(z, mean, logvar, reduction="none"):
    """``log N(z; mean, diag(exp(logvar)))``, summed over dimensions.

    Parameters
    ----------
    z, mean, logvar : Tensors broadcastable to (..., n_components)
    reduction : {"none", "sum", "mean"}

    Returns
    -------
    Tensor
    """
    per_dim = -0.5 * ((z - mean).square() * torch.exp(-logvar) + logvar + _LOG_2PI)
    return _reduce(per_dim.sum(-1), reduction)


def standard_normal_log_density(z, reduction="none"):
    """``log N(z; 0, I)``, summed over dimensions."""
    return _reduce(-0.5 * (z.square() + _LOG_2PI).sum(-1), reduction)


def gaussian_kl_standard(mean, logvar, reduction="none", per_dimension=False):
    """``KL(N(mean, diag(exp(logvar))) || N(0, I))`` in closed form.

    ``0.5 * sum(mean^2 + exp(logvar) - 1 - logvar)``.

    Parameters
    ----------
    mean, logvar : Tensor of shape (..., n_components)
    reduction : {"none", "sum", "mean"}
        Applied over samples.
    per_dimension : bool, default=False
        Keep the latent dimension instead of summing over it; ``reduction``
        then acts on the leading dimensions only.

    Returns
    -------
    Tensor
    """
    per_dim = 0.5 * (mean.square() + torch.exp(logvar) - 1.0 - logvar)
    if per_dimension:
        if reduction == "none":
            return per_dim
        flat = per_dim.reshape(-1, per_dim.shape[-1])
        return flat.sum(0) if reduction == "sum" else flat.mean(0)
    return _reduce(per_dim.sum(-1), reduction)


def gaussian_kl(mean_q, logvar_q, mean_p, logvar_p, reduction="none"):
    """``KL(N(mean_q, diag exp(logvar_q)) || N(mean_p, diag exp(logvar_p)))``.

    ``0.5 * sum(logvar_p - logvar_q + (exp(logvar_q) + (mean_q - mean_p)^2)
    / exp(logvar_p) - 1)``.

    Returns
    -------
    Tensor
    """
    per_dim = 0.5 * (
        logvar_p
        - logvar_q
        + (torch.exp(logvar_q) + (mean_q - mean_p).square()) * torch.exp(-logvar_p)
        - 1.0
    )
    return _reduce(per_dim.sum(-1), reduction)


def elbo(log_likelihood, kl, kl_weight=1.0):
    """The evidence lower bound ``E_q[log p(x|z)] - kl_weight * KL(q || p)``.

    With ``kl_weight=1`` this is a lower bound on ``log p(x)``; other weights
    give the beta-VAE objective (Higgins et al., 2017), which is not.

    Parameters
    ----------
    log_likelihood : Tensor
        A (Monte Carlo) estimate of the expected reconstruction log-likelihood.
    kl : Tensor
        The KL divergence of the posterior from the prior, same shape.
    kl_weight : float, default=1.0

    Returns
    -------
    Tensor
    """
    return log_likelihood - kl_weight * kl


def iwae_bound(log_px_given_z, log_pz, log_qz):
    """Importance-weighted bound ``log mean_k p(x, z_k) / q(z_k | x)`` (IWAE).

    Burda, Grosse & Salakhutdinov (2016).

    With one sample it is the single-sample ELBO; it tightens towards
    ``log p(x)`` as the number of samples grows.

    Parameters
    ----------
    log_px_given_z, log_pz, log_qz : Tensor of shape (n_importance_samples, ...)
        Log-densities at samples ``z_k ~ q(z | x)``, the first dimension
        indexing the samples.

    Returns
    -------
    Tensor of shape (...)
    """
    log_w = log_px_given_z + log_pz - log_qz
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


#: Added to squared distances in the neighbour graph's loss: the repulsion
#: of two codes that coincide stays finite (UMAP's constant, 0.001).
GRAPH_EPSILON = 1e-3


def fuzzy_cross_entropy(z_head, z_tail, z_negative, a, b):
    """UMAP's fuzzy-set cross-entropy of a batch of edges, with negative samples.

    Codes at squared distance ``d2`` are neighbours with probability
    ``q = 1 / (1 + a * d2**b)`` (McInnes et al., 2018). Each edge, from a
    head code to a tail code, attracts them with ``-log q``; each head is
    pushed from its negative samples with ``-log(1 - q)``. With ``t = log a
    + b log(d2 + GRAPH_EPSILON)``, the two are ``softplus(t)`` and
    ``softplus(-t)``: no ratio, no clamp, finite for coinciding codes.

    Parameters
    ----------
    z_head, z_tail : Tensor of shape (n_edges, n_components)
        The codes at the two ends of each edge.
    z_negative : Tensor of shape (n_edges, n_negative, n_components)
        Codes drawn for each head, presumed not its neighbours.
    a, b : float
        The curve's parameters (see :func:`skvae._neighbours.curve_parameters`).

    Returns
    -------
    attraction, repulsion : Tensor
        Means over the edges of the attraction and of the summed repulsion
        of each head's negative samples.
    """
    log_a = math.log(a)

    def logit(d2):
        return log_a + b * torch.log(d2 + GRAPH_EPSILON)

    d2 = (z_head - z_tail).square().sum(-1)
    d2_negative = (z_head.unsqueeze(1) - z_negative).square().sum(-1)
    attraction = F.softplus(logit(d2)).mean()
    repulsion = F.softplus(-logit(d2_negative)).sum(-1).mean()
    return attraction, repulsion
