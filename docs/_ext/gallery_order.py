"""The order of the examples in the gallery: the story of the user guide.

sphinx-gallery takes a sort key by its qualified name (``conf.py`` names this
class as ``gallery_order.StoryOrder``), which keeps the configuration
picklable for Sphinx's environment cache.
"""

from __future__ import annotations

from pathlib import Path

#: PCA, then the linear autoencoder that finds PCA again, then the non-linear
#: autoencoder, then the VAE and what its KL weight does; then codes that keep
#: neighbours, and what the reducers find that does not fit.
STORY = (
    "plot_pca_scree.py",
    "plot_pca_linear_autoencoder.py",
    "plot_autoencoder_latent_space.py",
    "plot_vae_kl_weight.py",
    "plot_vae_generation.py",
    "plot_neighbor_embedding.py",
    "plot_novelty_detection.py",
)


class StoryOrder:
    """Sort key: the examples of :data:`STORY` in its order, any others after."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __repr__(self):
        return "StoryOrder"

    def __call__(self, filename):
        name = Path(filename).name
        if name in STORY:
            return (0, STORY.index(name), name)
        return (1, 0, name)
