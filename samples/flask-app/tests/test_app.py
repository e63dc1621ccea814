from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from app import create_app
from conftest import AT_RISK, LOYAL
from scoring import MAX_INSTANCES, ModelError

APP = Path(__file__).resolve().parent.parent / "app.py"


def test_healthz_is_ready_once_the_model_is_loaded(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "model_version": "1.2.0"}


def test_version_reports_the_baked_env_and_the_models_metadata(client, env):
    body = client.get("/version").get_json()
    assert body["model_version"] == "1.2.0"
    assert body["model_digest"] == env["MODEL_DIGEST"]
    assert body["model_path"] == env["MODEL_PATH"]
    assert body["metadata"]["version"] == "1.2.0"
    assert body["metadata"]["features"][0] == "tenure_months"
    assert 0.5 < body["metadata"]["metrics"]["accuracy"] <= 1


def test_version_without_baked_env_says_null(model_dir):
    app = create_app({"MODEL_PATH": str(model_dir)})  # kept: Flask 2.2's JSON provider holds the app weakly
    body = app.test_client().get("/version").get_json()
    assert body["model_version"] is None and body["model_digest"] is None
    assert body["metadata"]["name"] == "churn"


def test_score_predicts_each_instance(client, env):
    response = client.post("/score", json={"instances": [LOYAL, AT_RISK, {**LOYAL, "monthly_charges": 70}]})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    loyal, at_risk, _ = body["predictions"]
    assert loyal["label"] == "stay" and loyal["probability"] < 0.2
    assert at_risk["label"] == "churn" and at_risk["probability"] > 0.8
    assert all(0 <= p["probability"] <= 1 for p in body["predictions"])
    assert body["model_version"] == "1.2.0" and body["model_digest"] == env["MODEL_DIGEST"]


def test_score_accepts_integers_and_floats_alike(client):
    as_floats = {name: float(value) for name, value in LOYAL.items()}
    one = client.post("/score", json={"instances": [LOYAL]}).get_json()["predictions"]
    other = client.post("/score", json={"instances": [as_floats]}).get_json()["predictions"]
    assert one == other


BAD_BODIES = [
    ({"rows": [LOYAL]}, 'must be a JSON object {"instances"'),
    ([LOYAL], 'must be a JSON object {"instances"'),
    ({"instances": []}, "non-empty array"),
    ({"instances": LOYAL}, "non-empty array"),
    ({"instances": [LOYAL] * (MAX_INSTANCES + 1)}, f"at most {MAX_INSTANCES}"),
    ({"instances": [LOYAL, 5]}, "instances[1] must be an object"),
    ({"instances": [{k: v for k, v in LOYAL.items() if k != "senior"}]}, "instances[0] lacks the feature(s) senior"),
    ({"instances": [{**LOYAL, "age": 40}]}, "instances[0] has unknown feature(s) age"),
    ({"instances": [{**LOYAL, "tenure_months": "12"}]}, 'instances[0].tenure_months must be a finite number, not "12"'),
    ({"instances": [{**LOYAL, "senior": True}]}, "instances[0].senior must be a finite number, not true"),
    ({"instances": [{**LOYAL, "support_calls": None}]}, "instances[0].support_calls must be a finite number, not null"),
]


@pytest.mark.parametrize("body,message", BAD_BODIES)
def test_score_rejects_bad_input_with_a_clear_400(client, body, message):
    response = client.post("/score", json=body)
    assert response.status_code == 400
    assert message in response.get_json()["error"]


@pytest.mark.parametrize("data,content_type", [
    ("not json", "application/json"),
    (json.dumps({"instances": [LOYAL]}), "text/plain"),
])
def test_score_rejects_bodies_that_are_not_json(client, data, content_type):
    response = client.post("/score", data=data, content_type=content_type)
    assert response.status_code == 400
    assert "send a JSON body" in response.get_json()["error"]


def test_score_rejects_nan_which_pythons_json_parser_lets_through(client):
    data = json.dumps({"instances": [{**LOYAL, "monthly_charges": float("nan")}]})
    assert "NaN" in data
    response = client.post("/score", data=data, content_type="application/json")
    assert response.status_code == 400
    assert "instances[0].monthly_charges must be a finite number, not NaN" in response.get_json()["error"]


def test_http_errors_are_json(client):
    wrong_method = client.get("/score")
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["Allow"]
    assert "error" in wrong_method.get_json()
    missing = client.get("/nope")
    assert missing.status_code == 404 and "error" in missing.get_json()
    huge = client.post("/score", data=b"x" * (2 * 1024 * 1024), content_type="application/json")
    assert huge.status_code == 413 and "error" in huge.get_json()


def test_model_path_may_name_model_json_itself(model_dir):
    app = create_app({"MODEL_PATH": str(model_dir / "model.json")})
    client = app.test_client()
    assert client.post("/score", json={"instances": [AT_RISK]}).get_json()["predictions"][0]["label"] == "churn"
    assert client.get("/version").get_json()["metadata"]["version"] == "1.2.0"


def broken(tmp_path: Path, model_dir: Path, change) -> str:
    spec = json.loads((model_dir / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps(change(spec)))
    return str(tmp_path)


@pytest.mark.parametrize("make_path,message", [
    (lambda tmp, model: "", "MODEL_PATH is not set"),
    (lambda tmp, model: str(tmp / "absent"), "does not exist"),
    (lambda tmp, model: str(tmp), "holds no model.json"),
    (lambda tmp, model: (tmp / "model.json").write_text("{oops") and str(tmp), "cannot read"),
    (lambda tmp, model: broken(tmp, model, lambda s: {**s, "format": "onnx"}), "is not a \"logistic-regression/v1\" model"),
    (lambda tmp, model: broken(tmp, model, lambda s: {**s, "coefficients": s["coefficients"][:2]}), "must each have 5 values"),
    (lambda tmp, model: broken(tmp, model, lambda s: {k: v for k, v in s.items() if k != "intercept"}), "malformed"),
    (lambda tmp, model: broken(tmp, model, lambda s: {**s, "scale": [0] * 5}), "scales must be positive"),
])
def test_a_missing_or_invalid_model_fails_at_start_up(tmp_path, model_dir, make_path, message):
    with pytest.raises(ModelError, match=re.escape(message)):
        create_app({"MODEL_PATH": make_path(tmp_path, model_dir)})


def run_app(env: dict[str, str], **kwargs) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_")}
    return subprocess.Popen([sys.executable, str(APP)], env={**clean, **env}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_the_server_exits_with_a_clear_message_without_a_model(tmp_path):
    process = run_app({"MODEL_PATH": str(tmp_path / "absent"), "PORT": "0", "HOST": "127.0.0.1"})
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    assert f"error: cannot load the model: MODEL_PATH {tmp_path / 'absent'} does not exist" in stderr


def test_the_server_refuses_a_bad_port(model_dir):
    process = run_app({"MODEL_PATH": str(model_dir), "PORT": "http"})
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2 and "PORT must be a port number" in stderr


def test_the_server_serves_on_the_port_it_announces(model_dir):
    process = run_app({"MODEL_PATH": str(model_dir), "PORT": "0", "HOST": "127.0.0.1"})
    try:
        line = process.stdout.readline()
        assert line.startswith("serving model 1.2.0 on http://127.0.0.1:"), line + process.stderr.read()
        base = line.split()[-1]
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
            assert response.status == 200
        request = urllib.request.Request(f"{base}/score", data=json.dumps({"instances": [AT_RISK]}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["predictions"][0]["label"] == "churn"
    finally:
        process.terminate()
        process.communicate(timeout=10)
