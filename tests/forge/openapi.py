"""Checks HTTP exchanges against Gitea's swagger 2 document, strictly, so neither client nor test server can drift.

Strict means: the operation must exist, every path and query parameter must be declared and well typed, JSON
bodies must match their schema with no undeclared properties (the document leaves `additionalProperties` open;
we close it), and a response status must be one the operation documents, or one of the few Gitea's middleware
can return on any route.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

# Gitea's router answers these on any route (auth middleware, rate limiting, panics), documented or not.
ANY_ROUTE_STATUSES = frozenset({401, 429, 500, 502, 503})


class ContractError(AssertionError):
    """An exchange the Gitea API document does not allow."""


@dataclass(frozen=True)
class Operation:
    """A matched operation: its id, method, path template, path parameters and swagger object."""

    operation_id: str
    method: str
    template: str
    path_params: Mapping[str, str]
    spec: Mapping[str, Any]


def _close_objects(node: Any) -> Any:
    if isinstance(node, dict):
        closed = {key: _close_objects(value) for key, value in node.items()}
        if "properties" in closed and "additionalProperties" not in closed:
            closed["additionalProperties"] = False
        return closed
    if isinstance(node, list):
        return [_close_objects(item) for item in node]
    return node


class OpenApiContract:
    """The Gitea API contract loaded from swagger.v1.json."""

    def __init__(self, document: Path) -> None:
        doc = json.loads(document.read_text(encoding="utf-8"))
        self.base_path: str = doc["basePath"]
        self._definitions = _close_objects(copy.deepcopy(doc["definitions"]))
        self._responses: Mapping[str, Any] = doc["responses"]
        routes: list[tuple[int, str, str, re.Pattern[str], Mapping[str, Any]]] = []
        for template, item in doc["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")
            for method, spec in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    routes.append((template.count("{"), method.upper(), template, pattern, spec))
        # literal segments win over parameters, as in Gitea's router (/repos/{o}/{r}/pulls/pinned vs /{index})
        routes.sort(key=lambda r: r[0])
        self._routes = routes

    def match(self, method: str, path: str) -> Operation:
        """The operation for `method` and an API path (with or without the base path)."""
        relative = path.removeprefix(self.base_path)
        for _, route_method, template, pattern, spec in self._routes:
            found = pattern.match(relative)
            if found and route_method == method:
                return Operation(spec["operationId"], method, template, found.groupdict(), spec)
        raise ContractError(f"{method} {relative}: no such operation in the Gitea API")

    def check_request(
        self, method: str, path: str, query: Mapping[str, Sequence[str]], body: bytes | None
    ) -> tuple[Operation, Any]:
        """Validate a request; returns the operation and the parsed JSON body (None when there is none)."""
        op = self.match(method, path)
        where = f"{method} {op.template}"
        params = {(p["in"], p["name"]): p for p in op.spec.get("parameters", [])}
        for name, value in op.path_params.items():
            declared = params.get(("path", name))
            if declared is None:
                raise ContractError(f"{where}: path parameter {name} is not declared")
            _check_scalar(where, name, value, declared)
        for name, values in query.items():
            declared = params.get(("query", name))
            if declared is None:
                raise ContractError(f"{where}: query parameter {name!r} is not declared")
            if len(values) > 1 and declared.get("type") != "array":
                raise ContractError(f"{where}: query parameter {name!r} given {len(values)} times")
            item = declared.get("items", declared) if declared.get("type") == "array" else declared
            for value in values:
                _check_scalar(where, name, value, item)
        for (place, name), declared in params.items():
            if declared.get("required") and place == "query" and name not in query:
                raise ContractError(f"{where}: required query parameter {name!r} is missing")
        body_param = next((p for (place, _), p in params.items() if place == "body"), None)
        if not body:
            if body_param is not None and body_param.get("required"):
                raise ContractError(f"{where}: the request body is required")
            return op, None
        if body_param is None:
            raise ContractError(f"{where}: the operation takes no request body")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise ContractError(f"{where}: request body is not JSON ({exc})") from exc
        self._validate(f"{where} request body", body_param["schema"], payload)
        return op, payload

    def check_response(self, op: Operation, status: int, body: bytes) -> None:
        """Validate a response to `op`: a documented (or any-route) status and a body matching its schema."""
        where = f"{op.method} {op.template} → {status}"
        documented = op.spec.get("responses", {}).get(str(status))
        if documented is None:
            if status not in ANY_ROUTE_STATUSES:
                raise ContractError(f"{where}: status not documented for this operation")
            documented = {"schema": {"$ref": "#/definitions/APIError"}}
        if "$ref" in documented:
            documented = self._responses[documented["$ref"].rsplit("/", 1)[-1]]
        schema = documented.get("schema")
        if schema is None:
            # error/notFound/empty responses carry no schema; Gitea sends an APIError object or nothing
            schema = {"$ref": "#/definitions/APIError"} if status >= 400 else None
        if schema is None:
            if body.strip():
                raise ContractError(f"{where}: the documented response has no body but one was sent")
            return
        if not body.strip():
            if status >= 400:
                return
            raise ContractError(f"{where}: a body is documented but none was sent")
        self._validate(f"{where} response body", schema, json.loads(body))

    def _validate(self, where: str, schema: Mapping[str, Any], instance: Any) -> None:
        root = {"definitions": self._definitions, "allOf": [_close_objects(dict(schema))]}
        errors = sorted(jsonschema.Draft4Validator(root).iter_errors(instance), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            at = "/".join(str(p) for p in first.absolute_path) or "(root)"
            raise ContractError(f"{where}: at {at}: {first.message}")


def _check_scalar(where: str, name: str, value: str, declared: Mapping[str, Any]) -> None:
    kind = declared.get("type", "string")
    if kind == "integer":
        if not re.fullmatch(r"-?\d+", value):
            raise ContractError(f"{where}: parameter {name!r} must be an integer, got {value!r}")
        if "minimum" in declared and int(value) < declared["minimum"]:
            raise ContractError(f"{where}: parameter {name!r} is below its minimum {declared['minimum']}")
    elif kind == "boolean" and value not in ("true", "false"):
        raise ContractError(f"{where}: parameter {name!r} must be true or false, got {value!r}")
    if "enum" in declared and value not in declared["enum"]:
        raise ContractError(f"{where}: parameter {name!r} must be one of {declared['enum']}, got {value!r}")
