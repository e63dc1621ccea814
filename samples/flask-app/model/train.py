"""Trains the churn model and writes a model folder the app and Fetch Latest Model understand.

    python3 model/train.py --version 1.2.0 --out build/model

The data is a seeded synthetic customer table, so the same seed and library versions give the
same bytes and therefore the same model digest. Output:
    model.json     what the app evaluates: features, scaler, coefficients, classes (no sklearn needed)
    metadata.json  name, version, metrics on a held-out split, training details
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ("tenure_months", "monthly_charges", "support_calls", "month_to_month", "senior")
CLASSES = ("stay", "churn")


def make_customers(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A churn-like table: short tenure, high charges, many support calls and monthly contracts churn."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 73, samples).astype(float)
    charges = np.clip(rng.normal(65, 25, samples), 18, 120).round(2)
    calls = rng.poisson(1.5, samples).astype(float)
    monthly = (rng.random(samples) < 0.55).astype(float)
    senior = (rng.random(samples) < 0.16).astype(float)
    logit = -2.3 - 0.045 * tenure + 0.022 * charges + 0.5 * calls + 1.3 * monthly + 0.4 * senior
    churned = (rng.random(samples) < 1 / (1 + np.exp(-logit))).astype(int)
    return np.column_stack([tenure, charges, calls, monthly, senior]), churned


def fit(seed: int, samples: int) -> tuple[Pipeline, np.ndarray, np.ndarray, np.ndarray]:
    """The fitted pipeline, the held-out rows and labels, and the whole label vector."""
    x, y = make_customers(samples, seed)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression())
    pipeline.fit(x_train, y_train)
    return pipeline, x_test, y_test, y


def export(pipeline: Pipeline) -> dict:
    """model.json: everything needed to evaluate the pipeline without scikit-learn."""
    scaler, regression = pipeline[0], pipeline[1]
    return {
        "format": "logistic-regression/v1",
        "features": list(FEATURES),
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "coefficients": regression.coef_[0].tolist(),
        "intercept": float(regression.intercept_[0]),
        "classes": [CLASSES[c] for c in regression.classes_],
        "threshold": 0.5,
    }


def train(version: str, seed: int, samples: int) -> tuple[dict, dict]:
    pipeline, x_test, y_test, y = fit(seed, samples)
    model = export(pipeline)
    proba = pipeline.predict_proba(x_test)[:, 1]
    metadata = {
        "name": "churn",
        "version": version,
        "algorithm": "StandardScaler + LogisticRegression (lbfgs)",
        "framework": f"scikit-learn {sklearn.__version__}",
        "features": list(FEATURES),
        "classes": model["classes"],
        "training": {"seed": seed, "samples": samples, "train": len(y) - len(y_test), "test": len(y_test),
                     "churn_rate": round(float(y.mean()), 4)},
        "metrics": {
            "accuracy": round(float(accuracy_score(y_test, proba >= 0.5)), 4),
            "roc_auc": round(float(roc_auc_score(y_test, proba)), 4),
            "log_loss": round(float(log_loss(y_test, proba)), 4),
            "baseline_accuracy": round(float(max(y_test.mean(), 1 - y_test.mean())), 4),
        },
    }
    return model, metadata


def write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True, help="the model version, e.g. 1.2.0 (becomes the folder name when published)")
    parser.add_argument("--out", required=True, type=Path, help="the model folder to write (created if missing)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--samples", type=int, default=4000)
    args = parser.parse_args(argv)
    if not args.version.strip() or any(c in args.version for c in "/\\ "):
        parser.error(f"--version {args.version!r} must be a version such as 1.2.0, without slashes or spaces")
    if args.samples < 100:
        parser.error("--samples must be at least 100")
    model, metadata = train(args.version, args.seed, args.samples)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "model.json", model)
    write_json(args.out / "metadata.json", metadata)
    print(f"trained churn {args.version}: accuracy {metadata['metrics']['accuracy']}, "
          f"ROC AUC {metadata['metrics']['roc_auc']} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
