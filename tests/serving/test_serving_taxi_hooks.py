"""inference/inference.py: the taxi model's hooks, in-process and behind the real server."""

from __future__ import annotations

import importlib.util
import json
import pickle
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from serving_helpers import ROOT, TAXI_FEATURES, ModelServer, run_to_exit, write_taxi_model_dir

ROW = [2.5, 161, 236, 1, 14, 2, 0, -0.5, -0.866, 0]


def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("taxi_hooks_under_test", ROOT / "inference" / "inference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def hooks(taxi_model, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.delenv("SAGESTACK_MODEL_SHA256", raising=False)
    module = load_hooks()
    module.model_fn(str(taxi_model.directory))
    return module


class _Tripwire:
    """Unpickling this creates a file: proof that a refused artifact was never unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# ------------------------------------------------------------------------------------------ model_fn


def test_model_fn_loads_a_verified_model(taxi_model, hooks) -> None:
    model = hooks.model_fn(str(taxi_model.directory))
    assert np.array_equal(model.predict(taxi_model.rows), taxi_model.predict(taxi_model.rows))


def test_tampered_artifact_is_refused_before_unpickling(tmp_path: Path, taxi_model) -> None:
    digest = write_taxi_model_dir(tmp_path, taxi_model.model)
    marker = tmp_path / "unpickled"
    (tmp_path / "model.joblib").write_bytes(pickle.dumps(_Tripwire(marker)))
    with pytest.raises(
        RuntimeError,
        match=f"refusing to load .*model.joblib: its sha256 is [0-9a-f]{{64}} but model.json records {digest}",
    ):
        load_hooks().model_fn(str(tmp_path))
    assert not marker.exists()


def test_registry_pin_must_match_too(tmp_path: Path, taxi_model, monkeypatch: pytest.MonkeyPatch) -> None:
    digest = write_taxi_model_dir(tmp_path, taxi_model.model)
    monkeypatch.setenv("SAGESTACK_MODEL_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match=f"its sha256 is {digest} but SAGESTACK_MODEL_SHA256 pins 0{{64}}"):
        load_hooks().model_fn(str(tmp_path))
    monkeypatch.setenv("SAGESTACK_MODEL_SHA256", digest.upper())
    assert load_hooks().model_fn(str(tmp_path)) is not None


@pytest.mark.parametrize(
    ("card", "message"),
    [
        (None, "model.json is missing"),
        ("{not json", "is not valid JSON"),
        ({"feature_names": [], "model_sha256": "0" * 64}, "feature_names must be a non-empty list"),
        ({"feature_names": ["a", "a"], "model_sha256": "0" * 64}, "distinct names"),
        ({"feature_names": ["a"], "model_sha256": "abc"}, "model_sha256 must be the 64-digit hex sha256"),
    ],
)
def test_bad_model_card_is_a_clear_error(tmp_path: Path, taxi_model, card, message) -> None:
    write_taxi_model_dir(tmp_path, taxi_model.model)
    path = tmp_path / "model.json"
    if card is None:
        path.unlink()
    else:
        path.write_text(card if isinstance(card, str) else json.dumps(card))
    with pytest.raises(RuntimeError, match=message):
        load_hooks().model_fn(str(tmp_path))


def test_feature_count_must_match_the_model(tmp_path: Path, taxi_model) -> None:
    write_taxi_model_dir(tmp_path, taxi_model.model)
    card = json.loads((tmp_path / "model.json").read_text())
    card["feature_names"] = TAXI_FEATURES[:9]
    (tmp_path / "model.json").write_text(json.dumps(card))
    with pytest.raises(RuntimeError, match=r"the model expects 10 features but model\.json names 9"):
        load_hooks().model_fn(str(tmp_path))


# ------------------------------------------------------------------------------------------ input_fn


def csv_line(values) -> str:
    return ",".join(map(str, values))


def test_csv_single_row_and_batch(hooks) -> None:
    assert hooks.input_fn(csv_line(ROW), "text/csv").tolist() == [ROW]
    body = "\r\n".join([csv_line(ROW), "", csv_line([v + 1 for v in ROW])]) + "\r\n"
    assert hooks.input_fn(body, "text/csv; charset=utf-8").tolist() == [ROW, [v + 1 for v in ROW]]


def test_csv_header_in_any_order_is_reordered(hooks) -> None:
    order = list(reversed(range(10)))
    header = ",".join(TAXI_FEATURES[i] for i in order)
    body = header + "\n" + csv_line([ROW[i] for i in order])
    assert hooks.input_fn(body.encode(), "text/csv").tolist() == [ROW]


def test_big_csv_batch_matches_the_exact_parser(hooks) -> None:
    rows = np.round(np.random.default_rng(3).normal(size=(3000, 10)), 5)
    body = "\n".join(csv_line(r) for r in rows.tolist())
    assert len(body) > 16 * 1024
    assert np.array_equal(hooks.input_fn(body, "text/csv"), rows)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "empty request body: send CSV rows of 10 values (trip_distance, PULocationID"),
        ("1,2,3", "row 1 has 3 values; expected 10: trip_distance, PULocationID"),
        (csv_line(ROW) + "\n1,2", "row 2 has 2 values; expected 10"),
        ("2.5,161,abc,1,14,2,0,-0.5,-0.866,0", "row 1, column 3 (DOLocationID): 'abc' is not a number"),
        ("2.5,161,,1,14,2,0,-0.5,-0.866,0", "row 1, column 3 (DOLocationID): empty value"),
        ("nan,161,236,1,14,2,0,-0.5,-0.866,0", "row 1, column 1 (trip_distance): 'nan' is not a finite number"),
        ("trip_distance,foo\n1,2", "CSV header: unknown feature(s) 'foo'; missing feature(s) 'PULocationID'"),
        (",".join(TAXI_FEATURES), "the CSV body has a header but no rows"),
    ],
)
def test_csv_rejections_name_row_column_and_feature(hooks, body, message) -> None:
    with pytest.raises(ValueError, match="^" + __import__("re").escape(message)) as caught:
        hooks.input_fn(body, "text/csv")
    assert caught.value.status_code == 400


def test_json_forms(hooks) -> None:
    objects = [dict(zip(TAXI_FEATURES, ROW, strict=True))]
    for document in ({"instances": [ROW]}, [ROW], ROW, {"instances": objects}, objects, objects[0]):
        assert hooks.input_fn(json.dumps(document), "application/json").tolist() == [ROW], document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"instances": [{"trip_distance": 1}]}, "row 1: missing feature(s) 'PULocationID'"),
        ({"instances": [dict(zip(TAXI_FEATURES, ROW, strict=True)) | {"tip": 1}]}, "row 1: unknown feature(s) 'tip'"),
        ({"instances": [[1, "x", *ROW[2:]]]}, "row 1, column 2 (PULocationID): '\"x\"' is not a number"),
        ({"instances": [[True, *ROW[1:]]]}, "row 1, column 1 (trip_distance): 'true' is not a number"),
        ({"instances": [ROW[:3]]}, "row 1 has 3 values; expected 10"),
        ({"instances": []}, "expected a non-empty list of instances"),
        ({"rows": [ROW]}, 'expected {"instances": [...]}'),
        ("[[1, 2", "malformed JSON"),
    ],
)
def test_json_rejections(hooks, document, message) -> None:
    body = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(ValueError) as caught:
        hooks.input_fn(body, "application/json")
    assert str(caught.value).startswith(message), str(caught.value)


def test_unsupported_content_type_is_415(hooks) -> None:
    with pytest.raises(ValueError, match="unsupported content type 'application/xml'") as caught:
        hooks.input_fn("<x/>", "application/xml")
    assert caught.value.status_code == 415


# ----------------------------------------------------------------------------------------- output_fn


def test_output_formats(hooks) -> None:
    prediction = np.array([12.5, 0.1 + 0.2])
    assert hooks.output_fn(prediction, "text/csv") == ("12.5\n0.30000000000000004\n", "text/csv")
    body, kind = hooks.output_fn(prediction, "*/*")
    assert (json.loads(body), kind) == ({"predictions": [12.5, 0.30000000000000004]}, "application/json")
    with pytest.raises(ValueError, match="cannot answer in 'application/xml'") as caught:
        hooks.output_fn(prediction, "application/xml")
    assert caught.value.status_code == 406


# ------------------------------------------------------------------------------------ behind the server


def test_served_csv_and_json(taxi_server: ModelServer, taxi_model) -> None:
    rows = taxi_model.rows[:3]
    expected = taxi_model.predict(rows).tolist()
    csv_answer = taxi_server.invoke("\n".join(csv_line(r) for r in rows.tolist()), "text/csv", "text/csv")
    assert [float(v) for v in csv_answer.text.split()] == expected
    objects = [dict(zip(TAXI_FEATURES, r, strict=True)) for r in rows.tolist()]
    json_answer = taxi_server.invoke(json.dumps({"instances": objects}), "application/json")
    assert json.loads(json_answer.body) == {"predictions": expected}


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "message"),
    [
        ("1,2,3", "text/csv", None, 400, "row 1 has 3 values; expected 10"),
        ('{"instances": [{"tip": 1}]}', "application/json", None, 400, "row 1: missing feature(s)"),
        ("<x/>", "application/xml", None, 415, "unsupported content type"),
        (csv_line(ROW), "text/csv", "application/xml", 406, "cannot answer in 'application/xml'"),
    ],
)
def test_served_rejections(taxi_server: ModelServer, body, content_type, accept, status, message) -> None:
    answer = taxi_server.invoke(body, content_type, accept)
    assert answer.status == status
    assert message in answer.text
    assert taxi_server.invoke(csv_line(ROW), "text/csv").status == 200


def test_server_refuses_to_start_on_a_pinned_mismatch(taxi_model) -> None:
    run = run_to_exit(
        "inference.py", ROOT / "inference", taxi_model.directory, env={"SAGESTACK_MODEL_SHA256": "f" * 64}
    )
    assert run.returncode == 3
    last = run.stderr.strip().splitlines()[-1]
    assert "model_fn in" in last and "inference.py failed: ModelIntegrityError: refusing to load" in last
