"""The OpenAPI 3.1 document of the JSON API, made from the routes themselves.

Why no library makes it: flask-openapi3 wants its own app class and blueprint and calls views
with its own arguments, spectree's pages load their scripts from a CDN, and neither reads the
roles that ``roles_allowed`` puts on a view. The document needs little: pydantic v2 writes JSON
Schema 2020-12, which is what OpenAPI 3.1 uses for schemas, so ``models_json_schema`` gives the
components as they are; the rest is a walk over ``app.url_map``. Paths and methods come from the
Flask rules, roles from the view's ``allowed_roles`` and bodies from the models named in
``@documented``: nothing is written twice, and a view that answers with another model fails.
The docs page (``console.api_docs``) serves Swagger UI from the flask-openapi3-swagger package.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from console.api_models import Problem
from console.auth import ROLES_ATTRIBUTE
from console.problems import PROBLEM_MEDIA_TYPE, status_problem

API_PREFIX = "/api/v1"
# Where a view keeps its description (set by ``documented``, carried up by functools.wraps).
OPERATION_ATTRIBUTE = "api_operation"
BEARER_SCHEME = "bearerAuth"
JSON = "application/json"

View = Callable[..., BaseModel | Response]


@dataclass(frozen=True)
class Operation:
    """What a view takes and answers, as the document tells it."""

    response: type[BaseModel]
    status: int
    path: type[BaseModel] | None
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    problems: tuple[int, ...]
    tags: tuple[str, ...]

    def problem_statuses(self, *, has_roles: bool) -> tuple[int, ...]:
        """Every error status the view can answer: bad input, no token, wrong role, its own."""
        parsed = self.path or self.query or self.body
        implied = ((400,) if parsed else ()) + ((401, 403) if has_roles else ())
        return tuple(sorted(set(implied) | set(self.problems)))


def documented(
    *,
    response: type[BaseModel],
    status: int = 200,
    path: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    problems: tuple[int, ...] = (),
    tags: tuple[str, ...] = (),
) -> Callable[[View], Callable[..., Response]]:
    """Parse the path, query and JSON body into the given models (400 problem+json naming the
    ``field`` otherwise), call the view with them as ``path=``, ``query=``, ``body=`` and answer
    its ``response`` model as JSON with ``status``; a ``Response`` it returns (a problem) passes.

    Goes under ``@roles_allowed`` so that nobody learns about input before showing a token.
    ``problems`` lists the view's own error statuses (404, 409, ...); 400, 401 and 403 follow
    from the rest.
    """
    operation = Operation(response, status, path, query, body, tuple(problems), tuple(tags))

    def decorate(view: View) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapper(**view_args: Any) -> Response:
            kwargs: dict[str, Any] = {} if path else dict(view_args)
            try:
                if path:
                    kwargs["path"] = path.model_validate(view_args)
                if query:
                    kwargs["query"] = query.model_validate(request.args.to_dict())
                if body:
                    kwargs["body"] = body.model_validate(request.get_json(silent=True))
            except ValidationError as error:
                return _bad_input(error)
            result = view(**kwargs)
            if isinstance(result, Response):
                documented_statuses = (*operation.problem_statuses(has_roles=True), status)
                if result.status_code not in documented_statuses:
                    warnings.warn(
                        f"{request.endpoint} answered {result.status_code}, which its "
                        f"@documented does not list",
                        stacklevel=2,
                    )
                return result
            if type(result) is not response:
                raise TypeError(
                    f"{request.endpoint} must answer {response.__name__}, "
                    f"not {type(result).__name__}"
                )
            return Response(result.model_dump_json(), status=status, mimetype=JSON)

        setattr(wrapper, OPERATION_ATTRIBUTE, operation)
        return wrapper

    return decorate


def _bad_input(error: ValidationError) -> Response:
    first = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"])
    cause = first.get("ctx", {}).get("error")
    reason = str(cause) if first["type"] == "value_error" and cause else first["msg"]
    if not field:  # the whole query or body: not a JSON object, say
        return status_problem(400, f"send a JSON object: {reason}")
    return status_problem(400, f"{field}: {reason}", field=field)


# A Flask rule's variable: <name>, <converter:name> or <converter(arguments):name>.
_VARIABLE = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
_CONVERTER_TYPES = {"int": "integer", "float": "number"}


def openapi_path(rule: str) -> str:
    """``/api/v1/service-requests/<sr_number>`` -> ``/api/v1/service-requests/{sr_number}``."""
    return _VARIABLE.sub(r"{\2}", rule)


def _rule_parameters(rule: str) -> list[dict[str, Any]]:
    """Path parameters as the rule's converters type them (a view without a ``path`` model)."""
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": _CONVERTER_TYPES.get(converter, "string")},
        }
        for converter, name in _VARIABLE.findall(rule)
    ]


def api_rules(app: Flask) -> list[tuple[str, str, Callable[..., Any]]]:
    """(Flask rule, method, view) of every route under the API prefix but the document's own."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX + "/") or rule.endpoint.startswith("api_docs."):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method, app.view_functions[rule.endpoint]))
    return found


def openapi_document(app: Flask) -> dict[str, Any]:
    """The document, made once per app: routes and models are fixed once the app is built."""
    cached: dict[str, Any] | None = app.extensions.get("hotline_openapi")
    if cached is None:
        cached = app.extensions["hotline_openapi"] = _build(app)
    return cached


def _build(app: Flask) -> dict[str, Any]:
    described = [
        (rule, method, view, getattr(view, OPERATION_ATTRIBUTE))
        for rule, method, view in api_rules(app)
        if hasattr(view, OPERATION_ATTRIBUTE)
    ]
    uses: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
    for *_, op in described:
        uses.append((op.response, "serialization"))
        uses.extend((model, "validation") for model in (op.path, op.query, op.body) if model)
    refs, top = models_json_schema(
        list(dict.fromkeys(uses)), ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = top.get("$defs", {})

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    def schema_of(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        target: str = refs[(model, mode)]["$ref"].rsplit("/", 1)[-1]
        found: dict[str, Any] = schemas[target]
        return found

    paths: dict[str, dict[str, Any]] = {}
    for rule, method, view, op in described:
        path = openapi_path(rule)
        roles = sorted(role.value for role in getattr(view, ROLES_ATTRIBUTE, ()))
        parameters = [
            *_parameters(op.path, "path", schema_of),
            *_parameters(op.query, "query", schema_of),
        ]
        if op.path is None:
            parameters[:0] = _rule_parameters(rule)
        lines = (view.__doc__ or "").strip().splitlines() or [view.__name__]
        summary = lines[0]
        entry: dict[str, Any] = {
            "operationId": view.__name__,
            "summary": summary,
            "description": "\n".join(lines[1:]).strip()
            + ("\n\n" if len(lines) > 1 else "")
            + f"Roles: {', '.join(roles) if roles else 'anyone'}.",
            "x-roles": roles,
            "tags": list(op.tags),
            "parameters": parameters,
            "responses": {
                str(op.status): {
                    "description": HTTPStatus(op.status).phrase,
                    "content": {JSON: {"schema": ref(op.response, "serialization")}},
                },
                **{
                    str(code): {
                        "description": HTTPStatus(code).phrase,
                        "content": {PROBLEM_MEDIA_TYPE: {"schema": ref(Problem, "serialization")}},
                    }
                    for code in op.problem_statuses(has_roles=bool(roles))
                },
            },
        }
        if op.body:
            entry["requestBody"] = {
                "required": True,
                "content": {JSON: {"schema": ref(op.body, "validation")}},
            }
        entry["security"] = [{BEARER_SCHEME: []}] if roles else []
        if not entry["parameters"]:
            del entry["parameters"]
        if not entry["tags"]:
            del entry["tags"]
        paths.setdefault(path, {})[method.lower()] = entry

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hotline API",
            "version": "1",
            "description": (
                "Service requests and the callback queue for agents' tools. Every call takes "
                "`Authorization: Bearer <token>` (`hotline user add`, `hotline user new-token`); "
                "each operation names the roles that may use it (`x-roles`). Errors are "
                "RFC 9457 problem details (`application/problem+json`)."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                BEARER_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API token from `hotline user add` or `new-token`",
                }
            },
        },
    }


def _parameters(
    model: type[BaseModel] | None,
    where: str,
    schema_of: Callable[[type[BaseModel], JsonSchemaMode], Mapping[str, Any]],
) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = schema_of(model, "validation")
    required = set(schema.get("required", ()))
    found = []
    for name, field_schema in schema.get("properties", {}).items():
        field = dict(field_schema)
        description = field.pop("description", None)
        field.pop("title", None)
        field.pop("default", None)
        # An optional query parameter is absent, never null.
        options = field.get("anyOf", [])
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) == 1 and len(options) == 2:
            field = {**{k: v for k, v in field.items() if k != "anyOf"}, **kept[0]}
        parameter: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": field,
        }
        if description:
            parameter["description"] = description
        found.append(parameter)
    return found
