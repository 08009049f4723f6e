"""Every route, every method, odd input, signed in or not: never a 500 (issue 19 point 5).

The routes are read from the URL configuration, so a route added later is swept too.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import get_resolver

from apps.web.ids import ID_MAX

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("held_jobs")]

# Django's own admin; single sign-on talks to a provider; logging out would make the rest of
# the sweep anonymous.
SKIP = ("admin/", "oidc/", "logout/")
ODD_JSON = json.dumps(
    {
        "dataset": 10**30,
        "analysis": ["virtual"],
        "params": {"r": 1e308, "shape": {"a": 1}},
        "roi": {"shape": ["disk"], "r": -1e308},
        "name": "x" * 300,
        "path": "/etc/" + "a" * 300,
        "groups": [[1]],
        "partitions": "9" * 5000,
        "nodes": [{}],
        "deep": json.loads("[" * 15 + "]" * 15),
    }
)
ODD_FORM = {
    "name": "\x00" * 3,
    "path": "a" * 300,
    "params": "[" * 2000,
    "groups": ["x"],
    "y": "9" * 5000,
}


def route_templates(patterns: list[Any], prefix: str = "") -> list[str]:
    out = []
    for entry in patterns:
        route = prefix + str(entry.pattern).lstrip("^").rstrip("$")
        if hasattr(entry, "url_patterns"):
            out += route_templates(entry.url_patterns, route)
        else:
            out.append(route)
    return [r for r in out if not r.startswith(SKIP)]


def concrete(route: str, pk: Any) -> str:
    route = re.sub(r"\(\?P<job_id>[^)]*\)", str(pk), route)
    route = re.sub(r"\(\?P<name>[^)]*\)", "intensity", route)
    route = re.sub(r"\(\?P<fmt>[^)]*\)", "npy", route)
    route = re.sub(r"<id:\w+>", str(pk), route)
    route = re.sub(r"<(?:str:)?\w+>", "x", route)
    return "/" + route.replace("\\.", ".")


def requests(client: Client, path: str) -> list[tuple[str, Any]]:
    return [
        (
            "GET",
            client.get(
                path,
                {"y": "9" * 5000, "x": "-1", "dataset": "5608482527878281428992", "path": "\x00"},
            ),
        ),
        ("HEAD", client.head(path)),
        ("POST json", client.post(path, ODD_JSON, content_type="application/json")),
        ("POST form", client.post(path, ODD_FORM)),
        ("PUT", client.put(path, "{", content_type="application/json")),
        ("DELETE", client.delete(path)),
    ]


def well_formed(path: str, response: Any) -> bool:
    """An error on an API path is JSON."""
    api_error = path.startswith("/api/") and response.status_code >= 400
    return not api_error or response["Content-Type"] == "application/json"


@pytest.mark.parametrize("who", ["owner", "outsider", None])
def test_no_route_answers_500(users, dataset, data_root, who):
    client = Client(raise_request_exception=False)
    if who:
        client.force_login(getattr(users, who))
    routes = route_templates(get_resolver().url_patterns)
    assert "api/jobs/<id:job_id>/" in routes  # the sweep sees the routes
    failures = []
    for route in routes:
        for pk in (dataset.pk, ID_MAX):
            path = concrete(route, pk)
            failures += [
                f"{method} {path}: {response.status_code} {response['Content-Type']}"
                for method, response in requests(client, path)
                if response.status_code >= 500 or not well_formed(path, response)
            ]
    assert failures == []
