"""The hand-written OpenAPI 3 description of the JSON API (DESIGN section 7), at /api/schema/.

Written by hand rather than generated: the views are plain functions, and a reader of this
file sees the whole API on one page. Keep it in step with docs/api.md.
"""

from __future__ import annotations

from typing import Any

from apps.accounts.ids import ID_MAX, ID_MIN

JSON = "application/json"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _body(schema: dict[str, Any], *, media: str = JSON) -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"$ref": f"#/components/responses/E{c}"} for c in codes}


#: Ids are the database's BigAutoField keys; a path with a larger one matches no route (404).
ID = {"type": "integer", "minimum": ID_MIN, "maximum": ID_MAX}


def _id(name: str = "id") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": ID}


INT_LIST = {"type": "array", "items": {"type": "integer", "minimum": 1}}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "fields"],
        "properties": {
            "error": {"type": "string", "description": "A sentence for the user."},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "Partition": {
        "type": "object",
        "properties": {
            "index": {"type": "integer"},
            "start": {"type": "integer", "description": "First flat frame index."},
            "stop": {"type": "integer", "description": "One past the last frame."},
            "nodes": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Dask workers holding it.",
            },
            "path": {"type": "string"},
            "offset": {"type": "integer"},
        },
    },
    "Dataset": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "owner": {"type": "string"},
            "groups": {"type": "array", "items": {"type": "string"}},
            "format": {"type": "string", "enum": ["raw", "hdf5", "npy"]},
            "path": {"type": "string"},
            "params": {"type": "object"},
            "nav_shape": INT_LIST,
            "sig_shape": INT_LIST,
            "dtype": {"type": "string", "example": "<u2"},
            "nbytes": {"type": "integer"},
            "partitions": {"type": "array", "items": _ref("Partition")},
            "status": {"type": "string", "enum": ["registered", "ingesting", "ready", "error"]},
            "error": {"type": "string"},
            "created": {"type": "string", "format": "date-time"},
            "url": {"type": "string"},
            "page": {"type": "string"},
        },
    },
    "DatasetRegister": {
        "type": "object",
        "required": ["name", "path"],
        "properties": {
            "name": {"type": "string", "maxLength": 200},
            "path": {
                "type": "string",
                "description": "Inside the data roots; HDF5 may add `:/inner/path`.",
            },
            "format": {
                "type": "string",
                "enum": ["raw", "hdf5", "npy"],
                "description": "Detected when left out.",
            },
            "params": {
                "type": "object",
                "description": "Format parameters, e.g. nav_shape, sig_shape, dtype, offset for raw.",
            },
            "groups": {"type": "array", "items": {"type": "string"}},
        },
    },
    "BrowseEntry": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "path": {"type": "string", "description": "Absolute; accepted by POST /api/datasets/."},
            "kind": {"type": "string", "enum": ["dir", "file"]},
            "size": {"type": ["integer", "null"]},
            "format": {"type": ["string", "null"], "description": "A cheap guess for files."},
        },
    },
    "Browse": {
        "type": "object",
        "properties": {
            "path": {"type": ["string", "null"], "description": "null when listing the roots."},
            "parent": {"type": ["string", "null"]},
            "root": {"type": ["string", "null"]},
            "entries": {"type": "array", "items": _ref("BrowseEntry")},
            "truncated": {"type": "boolean"},
        },
    },
    "Token": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "prefix": {"type": "string"},
            "created": {"type": "string", "format": "date-time"},
            "last_used": {"type": ["string", "null"], "format": "date-time"},
            "url": {"type": "string"},
            "key": {"type": "string", "description": "Only in the answer to POST, never again."},
        },
    },
    "Mask": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "dataset": {"type": "integer"},
            "name": {"type": "string"},
            "shape": INT_LIST,
            "dtype": {"type": "string"},
        },
    },
    "Result": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "shape": INT_LIST,
            "dtype": {"type": "string"},
            "nbytes": {"type": "integer"},
            "urls": {
                "type": "object",
                "description": "Download URL per format (npy, h5, png; tiff for 2-d results).",
                "additionalProperties": {"type": "string"},
            },
        },
    },
    "Roi": {
        "oneOf": [
            {
                "type": "object",
                "required": ["shape", "y", "x", "height", "width"],
                "properties": {
                    "shape": {"const": "rect"},
                    "y": {"type": "integer"},
                    "x": {"type": "integer"},
                    "height": {"type": "integer"},
                    "width": {"type": "integer"},
                },
            },
            {
                "type": "object",
                "required": ["shape", "cy", "cx", "r"],
                "properties": {
                    "shape": {"const": "disk"},
                    "cy": {"type": "number"},
                    "cx": {"type": "number"},
                    "r": {"type": "number"},
                },
            },
            {
                "type": "object",
                "required": ["mask"],
                "properties": {
                    "mask": {
                        "type": "array",
                        "items": {"type": "array", "items": {"type": "boolean"}},
                    }
                },
            },
        ],
    },
    "JobSubmit": {
        "type": "object",
        "required": ["dataset", "analysis"],
        "properties": {
            "dataset": {"type": "integer"},
            "analysis": {
                "type": "string",
                "enum": ["sum", "pick", "virtual", "com", "radial", "masks"],
            },
            "params": {
                "type": "object",
                "description": 'Analysis parameters (DESIGN section 8); for masks {"masks": <mask id>}.',
            },
            "roi": _ref("Roi"),
        },
    },
    "JobCreated": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string"},
            "url": {"type": "string"},
            "ws": {"type": "string", "description": "Websocket path /ws/jobs/<id>/."},
            "page": {"type": "string"},
        },
    },
    "Job": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string"},
            "ws": {"type": "string"},
            "page": {"type": "string"},
            "owner": {"type": "string"},
            "dataset": {"type": "integer"},
            "analysis": {"type": "string"},
            "params": {"type": "object"},
            "roi": {"oneOf": [_ref("Roi"), {"type": "null"}]},
            "status": {
                "type": "string",
                "enum": ["queued", "running", "finished", "failed", "cancelled"],
            },
            "cancel_requested": {"type": "boolean"},
            "shared": {
                "type": "boolean",
                "description": "Shown to everyone who may see the dataset (else owner and staff).",
            },
            "progress": {
                "type": "object",
                "description": "In frames.",
                "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}},
            },
            "bytes_read": {"type": "integer"},
            "error": {"type": "string"},
            "created": {"type": "string", "format": "date-time"},
            "started": {"type": ["string", "null"], "format": "date-time"},
            "finished": {"type": ["string", "null"], "format": "date-time"},
            "seconds": {"type": ["number", "null"]},
            "throughput_gbs": {"type": ["number", "null"]},
            "attempt": {"type": "integer"},
            "partitions": {"type": "array", "items": {"type": "object"}},
            "results": {
                "type": "array",
                "items": _ref("Result"),
                "description": "Only in GET /api/jobs/<id>/.",
            },
        },
    },
}

RESPONSES = {
    f"E{code}": _json(_ref("Error"), text)
    for code, text in {
        400: "Invalid input; `fields` names the offending fields.",
        401: "Not logged in and no valid `Authorization: Token <key>`.",
        403: "Visible, but only the owner (or staff) may do this; or a failed CSRF check.",
        404: "No such object, or not visible to you.",
        405: "Method not allowed.",
        409: "The object's state does not allow this (e.g. cancelling a job that has ended).",
        413: "The request body is larger than 1 MiB (DATA_UPLOAD_MAX_MEMORY_SIZE).",
        429: "You already have MAX_QUEUED_JOBS_PER_USER jobs waiting.",
    }.items()
}

DATASET_PATHS: dict[str, Any] = {
    "/api/datasets/": {
        "get": {
            "summary": "List the datasets you may see",
            "parameters": [
                {
                    "name": "q",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "Name contains.",
                }
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"datasets": {"type": "array", "items": _ref("Dataset")}},
                    },
                    "Visible datasets.",
                ),
                **_errors(401),
            },
        },
        "post": {
            "summary": "Register a dataset (auto-detects format and shape, validated against the file)",
            "requestBody": _body(_ref("DatasetRegister")),
            "responses": {"201": _json(_ref("Dataset"), "Registered."), **_errors(400, 401, 403)},
        },
    },
    "/api/datasets/{id}/": {
        "parameters": [_id()],
        "get": {
            "summary": "One dataset: shape, dtype, partitions, placement, status",
            "responses": {"200": _json(_ref("Dataset"), "The dataset."), **_errors(401, 404)},
        },
        "delete": {
            "summary": "Remove from the catalogue (owner or staff; files are kept)",
            "responses": {"204": {"description": "Deleted."}, **_errors(401, 403, 404)},
        },
    },
    "/api/datasets/{id}/ingest/": {
        "parameters": [_id()],
        "post": {
            "summary": "Start ingestion into partitioned raw on node storage",
            "requestBody": _body(
                {
                    "type": "object",
                    "properties": {
                        "partitions": {"type": "integer", "minimum": 1},
                        "nodes": {"type": "array", "items": {"type": "string"}},
                    },
                }
            ),
            "responses": {
                "202": _json(_ref("JobCreated"), "The ingestion job."),
                **_errors(400, 401, 403, 404, 429),
            },
        },
    },
    "/api/browse/": {
        "get": {
            "summary": "List a folder inside the data roots (the roots without a path)",
            "parameters": [{"name": "path", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": _json(_ref("Browse"), "The folder."), **_errors(400, 401)},
        },
    },
}

_RESULT_PARAMS = [
    _id(),
    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
]
_DOWNLOAD = {
    "application/octet-stream": {},
    "application/x-hdf5": {},
    "image/tiff": {},
    "image/png": {},
}

JOB_PATHS: dict[str, Any] = {
    "/api/masks/": {
        "post": {
            "summary": "Upload a mask stack (.npy, (m, sy, sx) or (sy, sx)) for a dataset",
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["file", "dataset"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "dataset": {"type": "integer"},
                        "name": {"type": "string"},
                    },
                },
                media="multipart/form-data",
            ),
            "responses": {"201": _json(_ref("Mask"), "The stored mask."), **_errors(400, 401, 404)},
        },
    },
    "/api/analyses/": {
        "get": {
            "summary": "The analyses and their parameters and results",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"analyses": {"type": "array", "items": {"type": "object"}}},
                    },
                    "The analysis catalogue.",
                ),
                **_errors(401),
            },
        },
    },
    "/api/jobs/": {
        "get": {
            "summary": "Jobs you may see, newest first (at most 200; without results)",
            "parameters": [{"name": "dataset", "in": "query", "schema": ID}],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"jobs": {"type": "array", "items": _ref("Job")}},
                    },
                    "Jobs.",
                ),
                **_errors(400, 401),
            },
        },
        "post": {
            "summary": "Submit an analysis job; answers at once",
            "requestBody": _body(_ref("JobSubmit")),
            "responses": {
                "202": _json(_ref("JobCreated"), "Queued."),
                **_errors(400, 401, 404, 429),
            },
        },
    },
    "/api/jobs/{id}/": {
        "parameters": [_id()],
        "get": {
            "summary": "Status, progress in frames, error, results",
            "responses": {"200": _json(_ref("Job"), "The job."), **_errors(401, 404)},
        },
    },
    "/api/jobs/{id}/cancel/": {
        "parameters": [_id()],
        "post": {
            "summary": "Cancel; running partitions stop at their next tile, and a job whose "
            "results are not stored yet ends cancelled",
            "responses": {
                "200": _json(_ref("Job"), "The job (without results)."),
                **_errors(401, 403, 404, 409),
            },
        },
    },
    "/api/jobs/{id}/share/": {
        "parameters": [_id()],
        "post": {
            "summary": "Share the job with everyone who may see its dataset, or stop sharing it "
            "(owner or staff)",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["shared"],
                            "properties": {"shared": {"type": "boolean"}},
                        }
                    }
                },
            },
            "responses": {
                "200": _json(_ref("Job"), "The job (without results)."),
                **_errors(400, 401, 403, 404),
            },
        },
    },
    "/api/jobs/{id}/results/{name}.{ext}": {
        "parameters": [
            *_RESULT_PARAMS,
            {
                "name": "ext",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": ["npy", "h5", "tiff", "png"]},
            },
        ],
        "get": {
            "summary": "Download a result array",
            "responses": {
                "200": {"description": "The file.", "content": _DOWNLOAD},
                **_errors(401, 404),
            },
        },
    },
    "/api/jobs/{id}/partial/{name}.{ext}": {
        "parameters": [
            *_RESULT_PARAMS,
            {
                "name": "ext",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": ["npy", "png"]},
            },
        ],
        "get": {
            "summary": "The latest partial preview of a running job",
            "responses": {
                "200": {"description": "The file.", "content": _DOWNLOAD},
                **_errors(401, 404),
            },
        },
    },
}

TOKEN_PATHS: dict[str, Any] = {
    "/api/tokens/": {
        "get": {
            "summary": "Your API tokens (never their keys)",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"tokens": {"type": "array", "items": _ref("Token")}},
                    },
                    "Tokens.",
                ),
                **_errors(401),
            },
        },
        "post": {
            "summary": "Create a token; the key is in this answer only",
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string", "maxLength": 100}},
                }
            ),
            "responses": {
                "201": _json(_ref("Token"), "The token with its key."),
                **_errors(400, 401),
            },
        },
    },
    "/api/tokens/{id}/": {
        "parameters": [_id()],
        "delete": {
            "summary": "Revoke a token",
            "responses": {"204": {"description": "Revoked."}, **_errors(401, 404)},
        },
    },
    "/api/schema/": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1 JSON."}},
        },
    },
}

DESCRIPTION = """\
JSON over HTTP for the browser and for scripts. Authenticate with the session cookie (plus the
X-CSRFToken header on writes) or with `Authorization: Token <key>` (create keys at /tokens/).
Errors are `{"error": sentence, "fields": {field: sentence}}` with a 4xx status; objects you
may not see answer 404. Job progress streams on the websocket `/ws/jobs/<id>/` (session cookie
or `?token=<key>`) as messages `{"type": "status" | "progress" | "partial" | "finished" |
"failed" | "cancelled", ...}`. See docs/api.md.
"""


def openapi_schema() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "LiberTEM Portal API", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "security": [{"token": []}, {"session": []}],
        "paths": _with_body_limit({**DATASET_PATHS, **JOB_PATHS, **TOKEN_PATHS}),
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`Token <key>`",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            },
        },
    }


def _with_body_limit(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation that takes a body may answer 413 (the body-size limit)."""
    out = {}
    for path, item in paths.items():
        out[path] = {
            method: {**op, "responses": {**op["responses"], **_errors(413)}}
            if isinstance(op, dict) and "requestBody" in op
            else op
            for method, op in item.items()
        }
    return out
