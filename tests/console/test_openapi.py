"""The OpenAPI document says what the routes do: every /api/v1 route and no other, its roles,
its bodies; it is valid OpenAPI 3.1; the docs page shows it from this app's own files."""

from __future__ import annotations

import re
import warnings

import pytest
from flask import Flask, Response
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from pydantic import BaseModel

from console.auth import ROLES_ATTRIBUTE
from console.openapi import API_PREFIX, documented, openapi_path
from console.problems import problem, status_problem
from db.transaction import transaction
from intake.staff import Role, add_user
from tests.support.intake_rows import submit_request

# The document's own routes; everything else under the prefix must be described.
NOT_DESCRIBED = {f"{API_PREFIX}/openapi.json", f"{API_PREFIX}/docs"}
METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")  # no token: the document is public
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def token(deps, clock):
    with transaction(deps.session_factory) as session:
        _, token = add_user(session, name="manager1", role=Role.MANAGER, now=clock.now())
    return token


def _routes(app: Flask):
    """(path, method) -> view of every rule under the prefix but the document and its page."""
    found = {}
    for rule in app.url_map.iter_rules():
        path = openapi_path(rule.rule)
        if not path.startswith(API_PREFIX + "/") or path in NOT_DESCRIBED:
            continue
        if path.startswith(f"{API_PREFIX}/docs/"):  # the page's scripts and styles
            continue
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            found[(path, method.lower())] = app.view_functions[rule.endpoint]
    return found


def _operations(document):
    return {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_every_api_route_is_in_the_document_and_every_documented_operation_is_a_route(
    app, document
):
    routes, operations = set(_routes(app)), set(_operations(document))
    assert routes - operations == set(), "routes missing from the document (add @documented)"
    assert operations - routes == set(), "documented operations without a route"
    assert routes  # the walk found the API at all


def test_every_operation_names_the_roles_its_view_admits(app, document):
    views = _routes(app)
    for key, operation in _operations(document).items():
        allowed = sorted(role.value for role in getattr(views[key], ROLES_ATTRIBUTE))
        assert allowed, f"{key}: the view names no roles (@roles_allowed)"
        assert operation["x-roles"] == allowed, key
        assert f"Roles: {', '.join(allowed)}." in operation["description"], key
        assert operation["security"] == [{"bearerAuth": []}], key
        assert {"401", "403"} <= set(operation["responses"]), key


def test_path_parameters_match_the_rules(document):
    for (path, _), operation in _operations(document).items():
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{([^}]+)}", path)), path


def test_every_error_is_described_as_problem_json(document):
    for key, operation in _operations(document).items():
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                assert list(response["content"]) == ["application/problem+json"], (key, status)


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API token from `hotline user add` or `new-token`",
    }
    validate(document)  # raises OpenAPIValidationError, naming what is wrong


def _assert_matches(document, schema_name, body):
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    Draft202012Validator(schema).validate(body)


def test_the_bodies_sent_match_the_documented_schemas(
    client, document, token, demo_customers, deps, clock
):
    with transaction(deps.session_factory) as session:
        sr_number = submit_request(
            session, catalog=deps.catalog, now=clock.now(), customer_number="4711002"
        )
    headers = {"Authorization": f"Bearer {token}"}
    sr = client.get(f"/api/v1/service-requests/{sr_number}", headers=headers)
    _assert_matches(document, "ServiceRequest", sr.get_json())
    queue = client.get("/api/v1/callbacks", headers=headers)
    assert queue.get_json()["callbacks"]
    _assert_matches(document, "CallbackList", queue.get_json())
    first = queue.get_json()["callbacks"][0]["id"]
    claimed = client.post(f"/api/v1/callbacks/{first}/claim", json={}, headers=headers)
    _assert_matches(document, "Callback", claimed.get_json())
    detail = client.get(f"/api/v1/callbacks/{first}", headers=headers)
    _assert_matches(document, "CallbackWithHistory", detail.get_json())
    escalated = client.post(
        "/api/v1/escalations",
        json={"sr_number": sr_number, "reason": "business_impact"},
        headers=headers,
    )
    _assert_matches(document, "EscalationWithHistory", escalated.get_json())
    listed = client.get("/api/v1/escalations", headers=headers)
    _assert_matches(document, "EscalationList", listed.get_json())
    for bad in (
        client.get("/api/v1/callbacks"),
        client.get("/api/v1/callbacks?status=lost", headers=headers),
        client.get("/api/v1/service-requests/1", headers=headers),
    ):
        _assert_matches(document, "Problem", bad.get_json())


def test_the_docs_page_loads_only_this_apps_own_files(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 3
    for url in assets:
        assert url.startswith("/api/v1/docs/assets/"), url
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.content_length or response.get_data()
        response.close()
    assert 'url: "/api/v1/openapi.json"' in html
    assert "validatorUrl: null" in html  # no trip to validator.swagger.io


# How @documented holds a view to its description.


class _Thing(BaseModel):
    name: str


class _Other(BaseModel):
    name: str


def _app_with(view) -> Flask:
    app = Flask("documented")
    app.add_url_rule(f"{API_PREFIX}/things/<name>", view_func=view)
    return app


def test_a_view_answering_another_model_than_documented_fails():
    @documented(response=_Thing)
    def view(name: str) -> _Other:
        return _Other(name=name)

    app = _app_with(view)
    with app.test_request_context(f"{API_PREFIX}/things/x"), pytest.raises(TypeError):
        view(name="x")


def test_an_error_status_not_documented_is_warned_about():
    @documented(response=_Thing, problems=(404,))
    def view(name: str) -> Response:
        return status_problem(409 if name == "busy" else 404, "no")

    app = _app_with(view)
    with app.test_request_context(f"{API_PREFIX}/things/x"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert view(name="gone").status_code == 404
        with pytest.warns(UserWarning, match="answered 409"):
            view(name="busy")


def test_a_problem_keeps_its_extension_members_and_refuses_to_replace_standard_ones():
    response = problem(
        409,
        "Callback already claimed",
        "anna holds it",
        problem_type="/api/v1/problems/claimed",
        holder="anna",
        current_status="claimed",
    )
    assert response.mimetype == "application/problem+json"
    assert response.get_json() == {
        "type": "/api/v1/problems/claimed",
        "title": "Callback already claimed",
        "status": 409,
        "detail": "anna holds it",
        "holder": "anna",
        "current_status": "claimed",
    }
    with pytest.raises(ValueError, match="type"):
        problem(400, "Bad Request", "x", type="/elsewhere")


def test_the_document_is_made_once_per_app(client, app):
    first = client.get("/api/v1/openapi.json").get_json()
    assert app.extensions["hotline_openapi"] == first
    assert client.get("/api/v1/openapi.json").get_json() == first
