"""compare_reducers, kl_path and the ``benchmark`` command, on small digits."""

import builtins
import csv
import math
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.model_selection import KFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from skvae import AutoencoderTransformer, PCAReducer, VAETransformer
from skvae.__main__ import main
from skvae.benchmark import compare_reducers, kl_path

pd = pytest.importorskip("pandas")

COLUMNS = [
    "reducer",
    "n_components",
    "split",
    "estimator",
    "score",
    "fit_seconds",
    "transform_seconds",
    "estimator_seconds",
    "reconstruction_r2",
    "elbo",
    "train_elbo",
    "n_active_units",
]
TIMES = ["fit_seconds", "transform_seconds", "estimator_seconds"]
SMALL = dict(hidden_layer_sizes=(32,), max_iter=3, random_state=0)


def reducers():
    return {
        "PCA": PCAReducer(random_state=0),
        "AE": AutoencoderTransformer(**SMALL),
        "VAE": VAETransformer(**SMALL),
    }


def stable(records):
    """``records`` without the timings, with NaN as None so that == works."""
    return [
        {
            key: None if isinstance(value, float) and math.isnan(value) else value
            for key, value in row.items()
            if key not in TIMES
        }
        for row in records
    ]


@pytest.fixture(autouse=True)
def _quiet():
    # Three epochs are on purpose; a collapsed VAE is a possible outcome.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def table(digits_small):
    X, y = digits_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare_reducers(
            X, y, reducers=reducers(), n_components=(2, 4), random_state=0
        )


def test_table_shape_and_columns(table):
    # 3 reducers x 2 sizes x 1 split x 2 default estimators.
    assert list(table.columns) == COLUMNS
    assert table.shape == (12, len(COLUMNS))
    assert set(table["reducer"]) == {"PCA", "AE", "VAE"}
    assert sorted(set(table["n_components"])) == [2, 4]
    assert set(table["estimator"]) == {"5-NN", "logistic regression"}
    assert set(table["split"]) == {0}
    counts = table.groupby(["reducer", "n_components", "estimator"]).size()
    assert (counts == 1).all()


def test_scores_times_and_vae_columns(table):
    assert table["score"].between(0, 1).all()
    # Well above chance (0.1) for two PCA components of digits with k-NN.
    pca2 = table.query("reducer == 'PCA' and n_components == 2")
    assert pca2["score"].max() > 0.3
    for column in TIMES:
        assert np.isfinite(table[column]).all()
        assert (table[column] >= 0).all()
    assert np.isfinite(table["reconstruction_r2"]).all()
    vae = table["reducer"] == "VAE"
    assert np.isfinite(table.loc[vae, "elbo"]).all()
    assert table.loc[~vae, "elbo"].isna().all()
    assert table.loc[~vae, "train_elbo"].isna().all()
    assert np.isfinite(table.loc[vae, "train_elbo"]).all()
    units = table.loc[vae, "n_active_units"]
    assert ((units >= 0) & (units <= table.loc[vae, "n_components"])).all()
    assert table.loc[~vae, "n_active_units"].isna().all()
    # A reducer is fitted once per size and split: its columns repeat.
    per_fit = table.groupby(["reducer", "n_components"])
    assert (per_fit["fit_seconds"].nunique() == 1).all()
    assert (per_fit["reconstruction_r2"].nunique() == 1).all()


def test_pca_with_all_components_reconstructs(digits_small):
    X, y = digits_small
    table = compare_reducers(
        X, y, reducers=[PCAReducer()], n_components=64, random_state=0
    )
    assert set(table["reducer"]) == {"PCAReducer"}
    assert (table["reconstruction_r2"] > 0.999).all()
    # Fewer components lose variance.
    fewer = compare_reducers(
        X, y, reducers=[PCAReducer()], n_components=2, random_state=0
    )
    assert (fewer["reconstruction_r2"] < 0.5).all()


def test_held_out_data_and_cv(digits_small):
    X, y = digits_small
    held_out = compare_reducers(
        X[:300],
        y[:300],
        reducers={"PCA": PCAReducer()},
        n_components=2,
        estimators={"knn": KNeighborsClassifier(3)},
        X_test=X[300:],
        y_test=y[300:],
    )
    expected = (
        KNeighborsClassifier(3)
        .fit(PCAReducer(2).fit(X[:300]).transform(X[:300]), y[:300])
        .score(PCAReducer(2).fit(X[:300]).transform(X[300:]), y[300:])
    )
    assert held_out["score"].tolist() == pytest.approx([expected])

    folds = compare_reducers(
        X,
        y,
        reducers={"PCA": PCAReducer(), "sklearn": PCA()},
        n_components=[2],
        estimators=[KNeighborsClassifier()],
        cv=KFold(3),
        scoring="balanced_accuracy",
    )
    assert len(folds) == 2 * 3
    assert sorted(set(folds["split"])) == [0, 1, 2]
    assert set(folds["estimator"]) == {"KNeighborsClassifier"}
    # The same projection (up to signs): the same scores on every fold.
    by = folds.pivot(index="split", columns="reducer", values="score")
    np.testing.assert_allclose(by["PCA"], by["sklearn"])


def test_n_jobs_gives_the_same_results(digits_small):
    X, y = digits_small
    kwargs = dict(reducers=reducers(), n_components=[2], cv=2, random_state=0)
    serial = compare_reducers(X, y, **kwargs)
    parallel = compare_reducers(X, y, n_jobs=2, **kwargs)
    exact = ["reducer", "n_components", "split", "estimator", "score"]
    exact += ["elbo", "train_elbo", "n_active_units"]
    pd.testing.assert_frame_equal(serial[exact], parallel[exact])
    # PCA's float64 BLAS calls may round differently with another thread count
    # in the workers; the trained networks agree bitwise.
    np.testing.assert_allclose(
        serial["reconstruction_r2"], parallel["reconstruction_r2"], rtol=1e-12
    )


def test_kl_path_kl_falls_with_the_weight(digits_small):
    X, y = digits_small
    vae = VAETransformer(hidden_layer_sizes=(32,), max_iter=20, random_state=0)
    path = kl_path(X, y, kl_weights=[1.0, 1e-8], vae=vae, random_state=0)
    assert list(path.columns) == [
        "kl_weight",
        "split",
        "score",
        "elbo",
        "train_elbo",
        "kl",
        "reconstruction_r2",
        "n_active_units",
        "fit_seconds",
    ]
    assert path["kl_weight"].tolist() == [1.0, 1e-8]
    kl = dict(zip(path["kl_weight"], path["kl"], strict=True))
    # The KL term is what kl_weight penalises: nearly unpenalised, it grows.
    assert kl[1e-8] > kl[1.0] > 0
    assert path["score"].between(0, 1).all()
    assert np.isfinite(path["elbo"]).all() and (path["elbo"] < 0).all()
    assert (path["fit_seconds"] >= 0).all()


def test_kl_path_without_labels_has_no_score(digits_small):
    X, _ = digits_small
    vae = VAETransformer(**SMALL)
    path = kl_path(X, kl_weights=0.5, vae=vae, n_components=3, cv=2, as_frame=False)
    assert isinstance(path, list) and len(path) == 2
    assert [row["split"] for row in path] == [0, 1]
    assert all(math.isnan(row["score"]) for row in path)
    assert all(0 <= row["n_active_units"] <= 3 for row in path)


def test_records_without_pandas(digits_small, monkeypatch):
    X, y = digits_small
    kwargs = dict(reducers=[PCAReducer()], n_components=2, random_state=0)
    records = compare_reducers(X, y, as_frame=False, **kwargs)
    assert isinstance(records, list) and len(records) == 2
    assert all(list(row) == COLUMNS for row in records)
    assert all(isinstance(row["score"], float) for row in records)
    frame = compare_reducers(X, y, **kwargs)
    assert stable(records) == stable(frame.to_dict("records"))

    # Make `import pandas` fail as it does where pandas is not installed
    # (scikit-learn reads sys.modules itself, so that entry stays).
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    assert stable(compare_reducers(X, y, **kwargs)) == stable(records)
    with pytest.raises(ImportError, match="as_frame=True needs pandas"):
        compare_reducers(X, y, as_frame=True, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"reducers": {}}, "reducers is empty"),
        ({"reducers": []}, "reducers is empty"),
        ({"estimators": {}}, "estimators is empty"),
        ({"reducers": {"knn": KNeighborsClassifier()}}, "no n_components"),
        ({"n_components": 0}, "n_components"),
        ({"n_components": [2, 0]}, "n_components"),
        ({"n_components": []}, "n_components is empty"),
        ({"X_test": "X", "y_test": "y", "cv": 3}, "not both"),
        ({"X_test": "X"}, "without y_test"),
        ({"y_test": "y"}, "without X_test"),
        ({"scoring": "no such scorer"}, "no such scorer"),
        ({"as_frame": "yes"}, "as_frame"),
    ],
)
def test_compare_reducers_rejects_nonsense(digits_small, kwargs, message):
    X, y = digits_small
    data = {"X": X, "y": y}
    kwargs = {
        key: data[value] if isinstance(value, str) and value in data else value
        for key, value in kwargs.items()
    }
    kwargs.setdefault("reducers", [PCAReducer()])
    with pytest.raises(ValueError, match=message):
        compare_reducers(X, y, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kl_weights": []}, "kl_weights is empty"),
        ({"kl_weights": [1.0, -1.0]}, "kl_weights"),
        ({"kl_weights": -1.0}, "kl_weights"),
        ({"vae": PCAReducer()}, "vae"),
        ({"estimator": KNeighborsClassifier(), "y": None}, "no labels"),
        ({"cv": 2, "X_test": "X"}, "not both"),
    ],
)
def test_kl_path_rejects_nonsense(digits_small, kwargs, message):
    X, y = digits_small
    kwargs = {
        key: X if isinstance(value, str) else value for key, value in kwargs.items()
    }
    kwargs.setdefault("y", y)
    with pytest.raises(ValueError, match=message):
        kl_path(X, **kwargs)


def test_benchmark_command_writes_csv(tmp_path, capsys):
    out = tmp_path / "table.csv"
    argv = ["benchmark", "--dataset", "digits", "--components", "2"]
    argv += ["--max-iter", "1", "--out", str(out)]
    assert main(argv) == 0
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == COLUMNS
    # The default reducers and estimators, one split.
    assert len(rows) == 3 * 2
    assert {row["reducer"] for row in rows} == {"PCA", "autoencoder", "VAE"}
    assert all(0 <= float(row["score"]) <= 1 for row in rows)

    captured = capsys.readouterr()
    printed = captured.out
    # Captured streams are no terminal: no progress bar over the fits.
    assert "compare_reducers" not in captured.err and "\r" not in captured.err
    assert "ELBO: the VAE's evidence lower bound" in printed
    table = [line for line in printed.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| reducer | latent size | estimator | score |")
    assert len(table) == 1 + 6
    assert any(line.startswith("| PCA | 2 | 5-NN | 0.") for line in table)


def test_warns_when_one_feature_dominates_the_variance():
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    kwargs = dict(reducers={"PCA": PCAReducer()}, n_components=2, random_state=0)
    # Proline (feature 12, standard deviation 314 against 0.12 for the
    # smallest) holds 99.8 % of the variance: R² near 1 says nothing.
    with pytest.warns(UserWarning, match="of its total variance") as record:
        table = compare_reducers(X, y, **kwargs)
    (warning,) = [w for w in record if "of its total variance" in str(w.message)]
    message = str(warning.message)
    assert message.startswith("Feature 12 of X holds 99.8% of its total variance")
    assert "StandardScaler" in message and "Pipeline" in message
    assert warning.filename == __file__  # it points at the call
    assert (table["reconstruction_r2"] > 0.99).all()
    assert (table["score"] < 0.8).all()

    # Standardised, no feature dominates: no warning, and better codes.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scaled = compare_reducers(StandardScaler().fit_transform(X), y, **kwargs)
    assert not [w for w in caught if "of its total variance" in str(w.message)]
    assert (scaled["score"] > 0.9).all()


def test_kl_path_reports_each_vaes_training_elbo(digits_small):
    X, y = digits_small
    vae = VAETransformer(hidden_layer_sizes=(32,), max_iter=5, random_state=0)
    path = kl_path(
        X, y, kl_weights=[1.0], vae=vae, random_state=0, return_estimators=True
    )
    fitted = path["estimator"].iloc[0]
    assert path["train_elbo"].iloc[0] == fitted.train_elbo_
    assert path["elbo"].iloc[0] != fitted.train_elbo_


def test_compare_detectors_against_scikit_learns_metrics(digits):
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import average_precision_score, roc_auc_score

    from skvae import NoveltyDetector
    from skvae.benchmark import DETECTOR_COLUMNS, compare_detectors

    X, y = digits
    X_train, X_test, outlier = X[:1200][y[:1200] != 1], X[1200:], y[1200:] == 1
    detectors = {
        "PCA": NoveltyDetector(PCAReducer(n_components=10)),
        "forest": IsolationForest(random_state=0),
    }
    table = compare_detectors(X_train, X_test, outlier, detectors=detectors)
    assert list(table.columns) == list(DETECTOR_COLUMNS)
    assert list(table["detector"]) == ["PCA", "forest"]
    for name, row in zip(detectors, table.itertuples(), strict=True):
        reference = clone(detectors[name]).fit(X_train)
        abnormality = -reference.score_samples(X_test)
        assert row.auroc == pytest.approx(roc_auc_score(outlier, abnormality))
        assert row.average_precision == pytest.approx(
            average_precision_score(outlier, abnormality)
        )
        assert row.fit_seconds > 0 and row.score_seconds > 0
    records = compare_detectors(
        X_train,
        X_test,
        outlier,
        detectors=[IsolationForest(random_state=0)],
        as_frame=False,
    )
    assert records[0]["detector"] == "IsolationForest"
    assert records[0]["auroc"] == pytest.approx(table["auroc"][1])


@pytest.mark.parametrize(
    "outlier, message",
    [
        (np.zeros(597), "both outliers and inliers"),
        (np.ones(597), "both outliers and inliers"),
        (np.full(597, 2), "True/False"),
        (np.zeros(5), "inconsistent numbers of samples"),
    ],
)
def test_compare_detectors_rejects_nonsense(digits, outlier, message):
    from skvae.benchmark import compare_detectors

    X, _ = digits
    with pytest.raises(ValueError, match=message):
        compare_detectors(X[:1200], X[1200:], outlier)
    with pytest.raises(ValueError, match="neither score_samples"):
        compare_detectors(
            X[:1200], X[1200:], np.arange(597) < 9, detectors=[StandardScaler()]
        )
