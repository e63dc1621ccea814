"""The sample AI app: serves the churn model found at MODEL_PATH.

POST /score   {"instances": [{"tenure_months": 3, ...}]} -> {"predictions": [{"label", "probability"}], ...}
GET  /healthz 200 once the model is loaded (the process exits before listening if it cannot load)
GET  /version MODEL_VERSION and MODEL_DIGEST (set by Bake Model Into Image) and the model's metadata

Run: MODEL_PATH=/path/to/model python3 app.py   (PORT defaults to 5000, HOST to 0.0.0.0)
"""
from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from scoring import ChurnModel, InputError, ModelError, load_model

MAX_BODY_BYTES = 1024 * 1024


def create_app(env: Mapping[str, str] = os.environ) -> Flask:
    """Loads the model first, so a bad MODEL_PATH raises ModelError before anything serves."""
    model = load_model(env.get("MODEL_PATH"))
    identity = {
        "model_version": env.get("MODEL_VERSION") or None,
        "model_digest": env.get("MODEL_DIGEST") or None,
        "model_path": env.get("MODEL_PATH"),
    }
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["MODEL"] = model

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", model_version=identity["model_version"] or model.metadata.get("version"))

    @app.get("/version")
    def version():
        return jsonify(**identity, metadata=model.metadata)

    @app.post("/score")
    def score():
        # Checked here too: Werkzeug 2.2 (Debian 12) truncates an oversized body instead of refusing it.
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return _error(413, f"the body is larger than {MAX_BODY_BYTES} bytes; send fewer instances per request")
        body = request.get_json(silent=True)
        if body is None:
            return _error(400, 'send a JSON body {"instances": [...]} with Content-Type: application/json')
        try:
            rows = model.parse_instances(body)
        except InputError as error:
            return _error(400, str(error))
        return jsonify(predictions=model.predict(rows), model_version=identity["model_version"],
                       model_digest=identity["model_digest"])

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        # JSON, not Flask's HTML pages, for 404, 405, 413 and the like; headers such as Allow stay.
        response = error.get_response()
        response.data = json.dumps({"error": error.description or error.name})
        response.content_type = "application/json"
        return response

    return app


def _error(status: int, message: str):
    return jsonify(error=message), status


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host = os.environ.get("HOST", "0.0.0.0")
    port_text = os.environ.get("PORT", "5000")
    if not port_text.isdigit() or int(port_text) > 65535:
        print(f"error: PORT must be a port number (0 picks a free one), not {port_text!r}", file=sys.stderr)
        return 2
    try:
        app = create_app()
    except ModelError as error:
        print(f"error: cannot load the model: {error}", file=sys.stderr)
        return 1
    # waitress: a production WSGI server in pure Python (Debian's python3-waitress, PyPI's waitress).
    from waitress import create_server

    server = create_server(app, host=host, port=int(port_text))
    model: ChurnModel = app.config["MODEL"]
    version = os.environ.get("MODEL_VERSION") or model.metadata.get("version", "unknown")
    # The real port, for PORT=0; tests read this line.
    print(f"serving model {version} on http://{host}:{server.effective_port}", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
