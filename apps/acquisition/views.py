"""JSON API of live sessions: the detectors a user may operate, arming, stopping, and changing
a session's analyses while it runs. Watching is the job websocket ``/ws/jobs/<id>/``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.acquisition import services
from apps.acquisition.detectors import detector_json, get_detector, usable_detectors
from apps.datasets.models import DataFolder
from apps.jobs.access import get_job
from apps.jobs.models import Job
from apps.jobs.serializers import JOB, job_json
from apps.jobs.services import JobEnded
from apps.jobs.views.api import submission_refusals
from apps.web.api import ApiError, api_view, json_body, required_id
from apps.web.apidoc import ID, STRING, Operation, Reply, array, nullable, obj

SESSION_FIELDS = {
    "detector",
    "nav_shape",
    "analyses",
    "continuous",
    "folder",
    "name",
    "share_with_groups",
}
_ANALYSIS = obj(required=("analysis",), analysis=STRING, params={"type": "object"})
DETECTOR = obj(
    "Detector",
    id=ID,
    name=STRING,
    kind={"type": "string", "enum": ["merlin", "dectris"]},
    trigger_mode=STRING,
    sig_shape=array({"type": "integer"}, minItems=2, maxItems=2),
    folder=ID,
)
_ENDED = "The session has ended already."
_NOT_OPERATOR = "You may watch the session but are not its operator (or staff)."


@api_view(
    get=Operation(
        "The detectors you may operate",
        replies={200: Reply("The detectors.", obj(results=array(DETECTOR)))},
    )
)
def detector_list(request: HttpRequest) -> HttpResponse:
    detectors = usable_detectors(request.user).select_related("folder")
    return JsonResponse({"results": [detector_json(d) for d in detectors]})


@api_view(
    post=Operation(
        "Arm a detector for a live session: reception, live analyses and the recording",
        body=obj(
            required=("detector", "nav_shape", "analyses"),
            detector=ID,
            nav_shape=array({"type": "integer", "minimum": 1}, minItems=2, maxItems=2),
            analyses=array(_ANALYSIS, minItems=1, maxItems=services.MAX_ANALYSES),
            continuous={"type": "boolean"},
            folder=nullable(ID)
            | {"description": "A data folder you may use (default: the detector's)."},
            name=nullable(STRING) | {"description": "The recording's folder name."},
            share_with_groups=array(STRING, description="Groups whose members may watch."),
        )
        | {"additionalProperties": False},
        replies={201: Reply("The session's job.", JOB)},
        errors={
            400: "A field is invalid: the field names it (analyses[1].params.ri).",
            403: "A quota of yours is used up.",
            404: "No such detector, or one you may not operate.",
            429: "",
        },
    )
)
def session_create(request: HttpRequest) -> HttpResponse:
    body = json_body(request)
    unknown = sorted(set(body) - SESSION_FIELDS)
    if unknown:
        raise ApiError(
            f"Unknown field {unknown[0]!r}; send {', '.join(sorted(SESSION_FIELDS))}.",
            fields={unknown[0]: "is not a field of a live session."},
        )
    for name in ("detector", "nav_shape", "analyses"):
        if name not in body:
            raise ApiError(f"The field {name!r} is required.", fields={name: "is required."})
    detector = get_detector(request.user, required_id(body["detector"], "detector"))
    folder = None
    if body.get("folder") is not None:
        pk = required_id(body["folder"], "folder")
        folder = DataFolder.objects.filter(pk=pk).first()
        if folder is None:
            raise ApiError(f"No data folder {pk}.", fields={"folder": "no such data folder."})
    with submission_refusals():
        job = services.session_create(
            user=request.user,
            detector=detector,
            nav_shape=body["nav_shape"],
            analyses=body["analyses"],
            continuous=body.get("continuous", False),
            folder=folder,
            name=body.get("name"),
            share_with_groups=body.get("share_with_groups") or (),
        )
    return JsonResponse(job_json(_live_job(request, job.pk), results=False), status=201)


def _live_job(request: HttpRequest, job_id: int) -> Job:
    """The live session ``job_id`` if the user may watch it, else 404 (also for other jobs)."""
    job = get_job(request.user, job_id, related=("dataset", "owner", "live__detector"))
    if job.kind != Job.Kind.LIVE:
        raise ApiError(f"Job {job.pk} is not a live session.", status=404)
    return job


@api_view(
    post=Operation(
        "Stop a live session: what arrived is kept, recorded and registered",
        replies={200: Reply("The session's job.", JOB)},
        errors={403: _NOT_OPERATOR, 409: _ENDED},
    )
)
def session_stop(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _live_job(request, job_id)
    try:
        job = services.session_stop(user=request.user, job=job)
    except JobEnded as exc:
        raise ApiError(str(exc), status=409, fields={"status": exc.job.status}) from exc
    return JsonResponse(job_json(_live_job(request, job.pk), results=False))


@api_view(
    post=Operation(
        "Add an analysis to a running session: computed over the frames received so far, then live",
        body=_ANALYSIS | {"additionalProperties": False},
        replies={201: Reply("Its index in the session.", obj(index={"type": "integer"}))},
        errors={403: _NOT_OPERATOR, 409: _ENDED},
    )
)
def session_analyses(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _live_job(request, job_id)
    body = json_body(request)
    item = {k: body[k] for k in ("analysis", "params") if k in body}
    if set(body) - {"analysis", "params"}:
        raise ApiError("Send only 'analysis' and 'params'.", fields={"analysis": "only these."})
    try:
        index, spec = services.analysis_add(user=request.user, job=job, item=item)
    except JobEnded as exc:
        raise ApiError(str(exc), status=409, fields={"status": exc.job.status}) from exc
    services.session_publish(job.pk)
    return JsonResponse({"index": index, **spec}, status=201)


@api_view(
    put=Operation(
        "Change the parameters of a running session's analysis (e.g. move a ring): computed "
        "again over the frames received so far, then live",
        body=obj(required=("params",), params={"type": "object"}) | {"additionalProperties": False},
        replies={200: Reply("The analysis.", obj(index={"type": "integer"}))},
        errors={403: _NOT_OPERATOR, 409: _ENDED},
    )
)
def session_analysis(request: HttpRequest, job_id: int, index: int) -> HttpResponse:
    job = _live_job(request, job_id)
    body = json_body(request)
    if "params" not in body:
        raise ApiError("The field 'params' is required.", fields={"params": "is required."})
    try:
        spec = services.analysis_change(
            user=request.user, job=job, index=index, params=body["params"]
        )
    except JobEnded as exc:
        raise ApiError(str(exc), status=409, fields={"status": exc.job.status}) from exc
    services.session_publish(job.pk)
    return JsonResponse({"index": index, **spec})
