"""The contract checker itself must be able to fail: unknown operations, stray parameters, bad bodies."""

from __future__ import annotations

import json

import pytest

from tests.forge.openapi import ContractError, OpenApiContract


def test_matches_operations_preferring_literal_segments(contract: OpenApiContract) -> None:
    assert contract.match("GET", "/api/v1/repos/o/r/pulls/7").operation_id == "repoGetPullRequest"
    assert contract.match("GET", "/api/v1/repos/o/r/pulls/pinned").operation_id == "repoListPinnedPullRequests"
    assert contract.match("POST", "/api/v1/orgs").operation_id == "orgCreate"


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "words"),
    [
        ("GET", "/api/v1/no/such/thing", {}, None, "no such operation"),
        ("PUT", "/api/v1/orgs", {}, None, "no such operation"),
        ("GET", "/api/v1/repos/o/r/pulls", {"status": ["open"]}, None, "not declared"),
        ("GET", "/api/v1/repos/o/r/pulls", {"state": ["merged"]}, None, "must be one of"),
        ("GET", "/api/v1/repos/o/r/pulls", {"page": ["0"]}, None, "below its minimum"),
        ("PATCH", "/api/v1/repos/o/r/pulls/x", {}, b"{}", "must be an integer"),
        ("POST", "/api/v1/orgs", {}, b'{"username": "x", "name": "x"}', "Additional properties"),
        ("POST", "/api/v1/orgs", {}, b'{"full_name": "x"}', "'username' is a required property"),
        ("POST", "/api/v1/repos/o/r/pulls/1/merge", {}, b'{"do": "octopus"}', "is not one of"),
        ("GET", "/api/v1/user", {}, b"{}", "takes no request body"),
    ],
)
def test_bad_requests_are_caught(
    contract: OpenApiContract, method: str, path: str, query: dict[str, list[str]], body: bytes | None, words: str
) -> None:
    with pytest.raises(ContractError, match=words):
        contract.check_request(method, path, query, body)


def test_bad_responses_are_caught(contract: OpenApiContract) -> None:
    op = contract.match("GET", "/api/v1/repos/o/r")
    contract.check_response(op, 200, json.dumps({"id": 1, "name": "r", "empty": True}).encode())
    contract.check_response(op, 404, b"")
    contract.check_response(op, 500, b'{"message": "boom"}')
    with pytest.raises(ContractError, match="not documented"):
        contract.check_response(op, 409, b"")
    with pytest.raises(ContractError, match="Additional properties"):
        contract.check_response(op, 200, b'{"id": 1, "nmae": "r"}')
    with pytest.raises(ContractError, match="is not of type"):
        contract.check_response(op, 200, b'{"id": "1"}')
    merge = contract.match("POST", "/api/v1/repos/o/r/pulls/1/merge")
    with pytest.raises(ContractError, match="no body"):
        contract.check_response(merge, 200, b'{"merged": true}')
