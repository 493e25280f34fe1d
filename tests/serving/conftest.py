"""Session fixtures: small scikit-learn models on disk and servers started once per session.

Server processes are expensive here (importing scikit-learn costs seconds on 2 cores), so each
kind of server starts once and the tests that share it only send requests.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from serving_helpers import ModelServer, write_program, write_taxi_model_dir

# Like SageMaker's scikit-learn examples: only model_fn, every other hook is the framework default.
MODEL_FN_ONLY = textwrap.dedent(
    """
    import os

    import joblib


    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))


    if __name__ == "__main__":
        raise SystemExit("training entry point: must not run when the server imports this file")
    """
)


@dataclass
class FittedModel:
    model: Any  # a fitted RandomForestRegressor
    directory: Path
    rows: np.ndarray  # rows the tests may send

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.model.predict(rows)


def _fit(seed: int) -> tuple[Any, np.ndarray]:
    from sklearn.ensemble import RandomForestRegressor  # imported only by tests that need a model

    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(600, 10)) * 10, 3)
    y = X @ rng.normal(size=10) + rng.normal(size=600)
    model = RandomForestRegressor(n_estimators=10, max_depth=6, random_state=seed).fit(X, y)
    return model, np.round(np.random.default_rng(seed + 1).normal(size=(64, 10)) * 10, 3)


@pytest.fixture(scope="session")
def rf_model(tmp_path_factory: pytest.TempPathFactory) -> FittedModel:
    directory = tmp_path_factory.mktemp("rf-model")
    model, rows = _fit(7)
    joblib.dump(model, directory / "model.joblib")
    return FittedModel(model, directory, rows)


@pytest.fixture(scope="session")
def taxi_model(tmp_path_factory: pytest.TempPathFactory, rf_model: FittedModel) -> FittedModel:
    directory = tmp_path_factory.mktemp("taxi-model")
    write_taxi_model_dir(directory, rf_model.model)
    return FittedModel(rf_model.model, directory, rf_model.rows)


@pytest.fixture(scope="session")
def default_server(tmp_path_factory: pytest.TempPathFactory, rf_model: FittedModel) -> Iterator[ModelServer]:
    """The SageMaker sklearn container's common case: model_fn only, default input/predict/output."""
    code = tmp_path_factory.mktemp("default-code")
    write_program(code, "train_and_serve.py", MODEL_FN_ONLY)
    server = ModelServer("train_and_serve.py", code, rf_model.directory, code)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def taxi_server(tmp_path_factory: pytest.TempPathFactory, taxi_model: FittedModel) -> Iterator[ModelServer]:
    from serving_helpers import ROOT

    logs = tmp_path_factory.mktemp("taxi-logs")
    server = ModelServer("inference.py", ROOT / "inference", taxi_model.directory, logs)
    yield server
    server.stop()
