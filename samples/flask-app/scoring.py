"""The churn model as the app uses it: loaded from model.json and evaluated in plain Python.

model.json holds a standardised logistic regression exported by model/train.py, so the app
image needs neither scikit-learn nor numpy.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "logistic-regression/v1"
MODEL_FILE = "model.json"
METADATA_FILE = "metadata.json"
MAX_INSTANCES = 1000


class ModelError(Exception):
    """The model at MODEL_PATH is missing or invalid; the app must not start."""


class InputError(ValueError):
    """A /score request the model cannot answer; the message goes back to the caller."""


@dataclass(frozen=True)
class ChurnModel:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coefficients: tuple[float, ...]
    intercept: float
    classes: tuple[str, str]
    threshold: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def probability(self, values: list[float]) -> float:
        """P(classes[1]) for one row, in feature order."""
        z = self.intercept + sum(
            c * (x - m) / s for c, x, m, s in zip(self.coefficients, values, self.mean, self.scale)
        )
        # Split by sign so exp() never overflows.
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def predict(self, rows: list[list[float]]) -> list[dict[str, Any]]:
        predictions = []
        for values in rows:
            p = self.probability(values)
            label = self.classes[1] if p >= self.threshold else self.classes[0]
            predictions.append({"label": label, "probability": p})
        return predictions

    def parse_instances(self, body: Any) -> list[list[float]]:
        """Validates {"instances": [{feature: number, ...}, ...]} and returns rows in feature order."""
        if not isinstance(body, dict) or "instances" not in body:
            raise InputError('the body must be a JSON object {"instances": [{...}, ...]}')
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise InputError('"instances" must be a non-empty array of objects')
        if len(instances) > MAX_INSTANCES:
            raise InputError(f'"instances" holds {len(instances)} items; at most {MAX_INSTANCES} per request')
        return [self._row(i, instance) for i, instance in enumerate(instances)]

    def _row(self, index: int, instance: Any) -> list[float]:
        where = f"instances[{index}]"
        if not isinstance(instance, dict):
            raise InputError(f"{where} must be an object with the features {', '.join(self.features)}")
        missing = [name for name in self.features if name not in instance]
        if missing:
            raise InputError(f"{where} lacks the feature(s) {', '.join(missing)}")
        unknown = sorted(set(instance) - set(self.features))
        if unknown:
            raise InputError(f"{where} has unknown feature(s) {', '.join(unknown)}; expected {', '.join(self.features)}")
        row = []
        for name in self.features:
            value = instance[name]
            # bool is an int in Python, but true/false is not a measurement.
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"{where}.{name} must be a finite number, not {json.dumps(value)}")
            row.append(float(value))
        return row


def load_model(path: str | Path | None) -> ChurnModel:
    """Loads a model folder (model.json, optional metadata.json) or a model.json file itself."""
    if not path:
        raise ModelError("MODEL_PATH is not set: point it at the model folder (the one holding model.json)")
    path = Path(path)
    if not path.exists():
        raise ModelError(f"MODEL_PATH {path} does not exist")
    model_file = path / MODEL_FILE if path.is_dir() else path
    if not model_file.is_file():
        raise ModelError(f"MODEL_PATH {path} holds no {MODEL_FILE}")
    spec = _read_json(model_file)
    metadata_file = model_file.with_name(METADATA_FILE)
    metadata = _read_json(metadata_file) if metadata_file.is_file() else {}
    return _from_spec(spec, metadata, model_file)


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"cannot read {file}: {error}") from error


def _from_spec(spec: Any, metadata: Any, file: Path) -> ChurnModel:
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        found = spec.get("format") if isinstance(spec, dict) else type(spec).__name__
        raise ModelError(f'{file} is not a "{FORMAT}" model (format: {found!r})')
    try:
        features = tuple(spec["features"])
        numbers = {key: tuple(float(v) for v in spec[key]) for key in ("mean", "scale", "coefficients")}
        intercept, threshold = float(spec["intercept"]), float(spec["threshold"])
        classes = tuple(str(c) for c in spec["classes"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{file} is malformed: {error!r}") from error
    if not features or not all(isinstance(f, str) and f for f in features) or len(set(features)) != len(features):
        raise ModelError(f"{file}: features must be distinct non-empty names")
    if any(len(values) != len(features) for values in numbers.values()):
        raise ModelError(f"{file}: mean, scale and coefficients must each have {len(features)} values")
    if len(classes) != 2:
        raise ModelError(f"{file}: classes must name exactly two classes")
    if any(s <= 0 for s in numbers["scale"]) or not all(map(math.isfinite, [intercept, threshold, *sum(numbers.values(), ())])):
        raise ModelError(f"{file}: scales must be positive and every number finite")
    return ChurnModel(features, numbers["mean"], numbers["scale"], numbers["coefficients"], intercept,
                      (classes[0], classes[1]), threshold, metadata if isinstance(metadata, dict) else {})
