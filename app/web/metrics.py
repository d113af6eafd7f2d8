"""``GET /metrics`` (Prometheus text; ``app.observability``) and each request's id.

HTTP requests are counted and timed by ``prometheus-flask-exporter``, labelled by the route's *rule*
(``/api/admin/customers/<int:customer_id>``), never the path, so no id reaches a label. The webhook and app-proxy
fast paths answer before Flask and are not in these request metrics. With ``ATTUNE_METRICS_TOKEN`` set, the
endpoint wants ``Authorization: Bearer <token>``; without it, keep ``/metrics`` off the public network.

Every request gets an id (the caller's ``X-Request-ID`` when it is a plain token, else a new one) for the JSON
logs; a caller's own id is echoed in the response's ``X-Request-ID``.
"""

from __future__ import annotations

import hmac
import os
import re
import uuid

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_flask_exporter import PrometheusMetrics

from app.observability import REQUEST_ID, exposition

bp = Blueprint("metrics", __name__)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


@bp.get("/metrics")
def metrics() -> Response:
    token = os.environ.get("ATTUNE_METRICS_TOKEN", "")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and not hmac.compare_digest(given.encode(), token.encode()):
        return Response("metrics need the operator's token\n", status=401, mimetype="text/plain")
    body, content_type = exposition()
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # in multiprocess mode the files hold the requests too
        body += generate_latest(current_app.extensions["attune.request_metrics"])
    return Response(body, content_type=content_type)


def install(app: Flask) -> None:
    """Request metrics and request ids for ``app``. The request metrics live in a registry of the app's own (the
    exporter registers its metrics once per registry, and tests build many apps in one process)."""
    registry = CollectorRegistry()
    PrometheusMetrics(app, group_by="url_rule", path=None, registry=registry, defaults_prefix="attune")
    app.extensions["attune.request_metrics"] = registry

    @app.before_request
    def _request_id() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.echo_request_id = bool(_REQUEST_ID.match(given))
        g.request_id = given if g.echo_request_id else uuid.uuid4().hex
        REQUEST_ID.set(g.request_id)

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        # only a caller's own id is echoed: an answer without one stays byte for byte the fast paths' answer
        if getattr(g, "echo_request_id", False):
            response.headers["X-Request-ID"] = g.request_id
        return response
