from __future__ import annotations

import json
from pathlib import Path

import pytest

import train
from app import create_app


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real trained model folder (model.json + metadata.json), trained once per session."""
    out = tmp_path_factory.mktemp("model")
    assert train.main(["--version", "1.2.0", "--out", str(out)]) == 0
    return out


@pytest.fixture()
def env(model_dir: Path) -> dict[str, str]:
    return {"MODEL_PATH": str(model_dir), "MODEL_VERSION": "1.2.0", "MODEL_DIGEST": "sha256:" + "ab" * 32}


@pytest.fixture()
def client(env: dict[str, str]):
    return create_app(env).test_client()


@pytest.fixture()
def features(model_dir: Path) -> list[str]:
    return json.loads((model_dir / "model.json").read_text())["features"]


LOYAL = {"tenure_months": 70, "monthly_charges": 25.0, "support_calls": 0, "month_to_month": 0, "senior": 0}
AT_RISK = {"tenure_months": 2, "monthly_charges": 110.5, "support_calls": 6, "month_to_month": 1, "senior": 1}
