"""The API's OpenAPI document and a page that shows it (Swagger UI), both without a token.

Swagger UI's scripts and styles come from the flask-openapi3-swagger package (Swagger UI 5,
which reads OpenAPI 3.1), served from this app: the page loads nothing from another host. Only
the package's files are used, never flask-openapi3 itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, url_for
from markupsafe import escape

from console.openapi import API_PREFIX, openapi_document


def _swagger_ui_folder() -> str:
    # find_spec locates the package without importing it (its __init__ imports flask-openapi3).
    spec = importlib.util.find_spec("flask_openapi3_swagger")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("flask-openapi3-swagger is not installed (pip install -e .)")
    return str(Path(next(iter(spec.submodule_search_locations))) / "templates" / "swagger")


bp = Blueprint(
    "api_docs",
    __name__,
    url_prefix=API_PREFIX,
    static_folder=_swagger_ui_folder(),
    static_url_path="/docs/assets",
)

# validatorUrl null: Swagger UI would otherwise send the document to validator.swagger.io.
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Hotline API</title>
<link rel="icon" href="{icon}">
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{bundle}"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "{document}",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
}});
</script>
</body>
</html>
"""


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI 3.1 document of every /api/v1 route."""
    return jsonify(openapi_document(current_app))


@bp.get("/docs")
def docs() -> Response:
    """Swagger UI on the document."""

    def asset(name: str) -> str:
        return str(escape(url_for("api_docs.static", filename=name)))

    page = _PAGE.format(
        icon=asset("images/swagger.svg"),
        css=asset("css/swagger-ui.css"),
        bundle=asset("js/swagger-ui-bundle.js"),
        document=escape(url_for("api_docs.openapi_json")),
    )
    return Response(page, mimetype="text/html")
