from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

DESIGN_ENDPOINTS = {
    "/api/datasets/": {"get", "post"},
    "/api/datasets/{id}/": {"get", "delete"},
    "/api/datasets/{id}/ingest/": {"post"},
    "/api/browse/": {"get"},
    "/api/masks/": {"post"},
    "/api/jobs/": {"post"},
    "/api/jobs/{id}/": {"get"},
    "/api/jobs/{id}/cancel/": {"post"},
    "/api/jobs/{id}/results/{name}.{ext}": {"get"},
    "/api/tokens/": {"get", "post"},
    "/api/tokens/{id}/": {"delete"},
}


def test_it_describes_every_endpoint_of_the_design(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path, methods in DESIGN_ENDPOINTS.items():
        assert methods <= set(schema["paths"][path]), path


def test_it_resolves_every_reference(client):
    schema = client.get("/api/schema/").json()
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    for ref in refs:
        _, section, kind, name = ref.split("/")
        assert name in schema[section][kind], ref
