"""Repository-wide pytest setup; loaded before any test module or doctest."""

import os

# scikit-learn's array-API estimator check (run on numpy arrays here) is skipped
# unless this is set before SciPy is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
