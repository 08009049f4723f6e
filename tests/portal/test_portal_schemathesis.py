"""schemathesis, a client nobody here wrote, against the served OpenAPI document.

The portal runs on a live server with a token user who owns a dataset with a finished job, so
the operations have real objects to find; schemathesis runs all its phases (examples, coverage,
fuzzing, stateful) and all its checks with a fixed seed, and any failure fails the test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from click.testing import CliRunner
from schemathesis.cli import schemathesis as schemathesis_cli

from apps.accounts.models import ApiToken
from apps.accounts.services import token_create
from apps.jobs.models import Job
from tests.jobs.support import raw_dataset, submit, wait_terminal

# About 40 s of CPU; the timeout leaves room for a machine busy with other test runs.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(900),
    # Once per 'make test': on PostgreSQL when its pass follows (it holds less than SQLite, e.g.
    # no NUL in text, so it finds more), else on SQLite.
    pytest.mark.skipif(
        bool(os.environ.get("TEST_DATABASE_URL")) and not os.environ.get("DATABASE_URL"),
        reason="runs in the PostgreSQL pass of 'make test' (TEST_DATABASE_URL is set)",
    ),
]

SEED = 20
#: Cases per operation and phase: about 1000 in all, under two minutes on a busy machine.
MAX_EXAMPLES = 10

#: Operations where the data on the server, not the shape of the request, decides whether a
#: request is accepted: their documented 400 answers schema-valid requests too.
DATA_DECIDES = {
    "api_datasets_post": "the path must name a data file in a folder the user may use",
    "api_browse_get": "the path must name a folder the user may use",
    "api_dataset_ingest_post": "ingestion needs DATA_NODES and a dataset not ingested yet",
    "api_job_list_post": "positions and radii must lie on the dataset's detector and scan",
    "api_mask_create_post": "the file must be an .npy mask of the dataset's detector shape",
    "api_dataset_frame_get": "the position must lie inside the dataset's scan",
    "result_download_get": "tiff needs a 2-d result",
}


#: Parameters (location.name) and the dictionary of real values half of theirs come from.
BINDINGS = {
    "path.pk": "datasets",
    "path.job_id": "jobs",
    "path.name": "results",
    "query.dataset": "datasets",
    "body.dataset": "datasets",
}


class RunToken:
    """The run's API token, minted again whenever the run itself revoked it: DELETE
    /api/tokens/{pk}/ is one of the operations under test, and GET /api/tokens/ hands
    schemathesis the token's id."""

    user: Any = None  # set by the fixture: schemathesis instantiates the class itself

    def __init__(self) -> None:
        self.token: ApiToken | None = None
        self.key = ""

    def get(self, case: Any, context: Any) -> str:
        if self.token is None or not ApiToken.objects.filter(pk=self.token.pk).exists():
            self.token, self.key = token_create(user=self.user, name="schemathesis")
        return self.key

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Token {data}"}


@pytest.fixture
def run_token(users: SimpleNamespace) -> Any:
    provider = type("OwnerToken", (RunToken,), {"user": users.owner})
    schemathesis.auth(refresh_interval=None)(provider)
    yield provider
    schemathesis.auths.unregister()


def _config(tmp_path: Path, *, real: dict[str, list[Any]]) -> Path:
    """The run's configuration: the same cases every run (no state kept between runs); half
    of the ids and names drawn from ``real`` (objects that exist, so the operations get past
    their lookups; DELETE of a dataset gets a dataset of its own); and where the data decides,
    a 400 is an accepted answer."""
    lines = ["cache.enabled = false", 'generation.database = "none"', ""]
    for name, values in real.items():
        lines += [f"dictionaries.{name}.values = {json.dumps(values)}"]
    lines += [""]
    for key, name in BINDINGS.items():
        lines += [f'parameters."{key}" = {{ dictionary = "{name}", probability = 0.5 }}']
    lines += [
        "",
        "[[operations]]",
        'include-operation-id = "api_dataset_delete"',
        'parameters."path.pk" = { dictionary = "doomed", probability = 0.5 }',
        "",
    ]
    for operation_id, reason in DATA_DECIDES.items():
        lines += [
            f"# {reason}",
            "[[operations]]",
            f'include-operation-id = "{operation_id}"',
            "checks.positive_data_acceptance.expected-statuses = "
            '["2xx", "400", "401", "403", "404", "409", "429"]',
            "",
        ]
    path = tmp_path / "schemathesis.toml"
    path.write_text("\n".join(lines))
    return path


def test_schemathesis_finds_nothing(
    live_server,
    client_for,
    users,
    dataset,
    data_root,
    data,
    inline_executor,
    thread_runner,
    run_token,
    tmp_path,
):
    finished = wait_terminal(submit(client_for(users.owner), dataset, "sum").json()["id"])
    assert finished.status == Job.Status.FINISHED
    doomed = raw_dataset(users.owner, data_root, data, name="doomed")
    real = {
        "datasets": [dataset.pk],
        "doomed": [doomed.pk],
        "jobs": [finished.pk],
        "results": sorted(r.name for r in finished.results.filter(partial=False)),
    }
    # The address, not "localhost": a resolver trying ::1 first costs each request a retry.
    schema = f"{live_server.url.replace('localhost', '127.0.0.1')}/api/schema/"
    operation_ids = {
        op["operationId"]
        for item in client_for(None).get("/api/schema/").json()["paths"].values()
        for op in item.values()
    }
    assert set(DATA_DECIDES) <= operation_ids
    result = CliRunner().invoke(
        schemathesis_cli,
        [
            "--config-file",
            str(_config(tmp_path, real=real)),
            "run",
            schema,
            "--checks",
            "all",
            "--seed",
            str(SEED),
            "--max-examples",
            str(MAX_EXAMPLES),
            "--workers",
            "1",
            # a request the server never answers fails naming its operation (once, under heavy
            # load, one waited until the test's timeout)
            "--request-timeout",
            "120",
            "--output-truncate",
            "false",
        ],
        catch_exceptions=False,
    )
    print(result.output)
    assert result.exit_code == 0, result.output[-20000:]
