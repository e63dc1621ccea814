from __future__ import annotations

import time

import pytest

import train
from scoring import ChurnModel, load_model


def test_training_is_fast_reproducible_and_beats_the_baseline(tmp_path):
    started = time.perf_counter()
    train.main(["--version", "1.2.0", "--out", str(tmp_path / "a")])
    assert time.perf_counter() - started < 5
    train.main(["--version", "1.2.0", "--out", str(tmp_path / "b")])
    for name in ("model.json", "metadata.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    metadata = load_model(tmp_path / "a").metadata
    assert metadata["version"] == "1.2.0"
    assert metadata["metrics"]["accuracy"] > metadata["metrics"]["baseline_accuracy"] + 0.05
    assert metadata["metrics"]["roc_auc"] > 0.75


def test_the_exported_model_scores_exactly_as_scikit_learn():
    pipeline, x_test, _, _ = train.fit(seed=7, samples=1000)
    spec = train.export(pipeline)
    model = ChurnModel(tuple(spec["features"]), tuple(spec["mean"]), tuple(spec["scale"]),
                       tuple(spec["coefficients"]), spec["intercept"], tuple(spec["classes"]), spec["threshold"])
    expected = pipeline.predict_proba(x_test)[:, 1]
    for row, p in zip(x_test.tolist(), expected):
        assert model.probability(row) == pytest.approx(p, abs=1e-12)
    assert [model.predict([row])[0]["label"] for row in x_test.tolist()] == [
        spec["classes"][c] for c in pipeline.predict(x_test)]


@pytest.mark.parametrize("version", ["", "churn/1.2.0", "1.2 .0"])
def test_train_refuses_versions_that_cannot_be_folder_names(tmp_path, version):
    with pytest.raises(SystemExit):
        train.main(["--version", version, "--out", str(tmp_path)])
