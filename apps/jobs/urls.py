"""Pages and JSON API of the jobs app, result downloads included (at the root by
libertem_site.urls)."""

from __future__ import annotations

from django.urls import path, register_converter

from apps.jobs.views import analysis, api, ingest, notes, pages, results, thumbnails, usage
from apps.results.exports import CONTENT_TYPES, PREVIEW_FORMATS
from apps.web.converters import ChoiceConverter, NameConverter


class ExportFormat(ChoiceConverter):
    choices = tuple(CONTENT_TYPES)


class PreviewFormat(ChoiceConverter):
    choices = PREVIEW_FORMATS


register_converter(NameConverter, "name")
register_converter(ExportFormat, "export_format")
register_converter(PreviewFormat, "preview_format")

urlpatterns = [
    path("jobs/", pages.job_list, name="job_list"),
    path("jobs/<id:job_id>/", pages.job_detail, name="job_detail"),
    path("jobs/<id:job_id>/cancel/", pages.job_cancel, name="job_cancel"),
    path("jobs/<id:job_id>/rerun/", pages.job_rerun, name="job_rerun"),
    path("jobs/<id:job_id>/share/", pages.job_share, name="job_share"),
    path("jobs/<id:job_id>/notes/", notes.job_notes, name="job_notes"),
    path("usage/", usage.usage_page, name="usage"),
    path("usage/all/", usage.usage_overview, name="usage_overview"),
    path("api/usage/", usage.api_usage, name="api_usage"),
    path("api/masks/", api.mask_create, name="api_mask_create"),
    path("api/jobs/", api.job_collection, name="api_job_list"),
    path("api/jobs/<id:job_id>/", api.job_detail, name="api_job_detail"),
    path("api/jobs/<id:job_id>/cancel/", api.job_cancel, name="api_job_cancel"),
    path("api/jobs/<id:job_id>/rerun/", api.job_rerun, name="api_job_rerun"),
    path("api/jobs/<id:job_id>/share/", api.job_share, name="api_job_share"),
    path("api/jobs/<id:job_id>/notes/", notes.api_job_notes, name="api_job_notes"),
    path("api/analyses/", api.analysis_list, name="api_analysis_list"),
    path("datasets/<id:pk>/analyze/", analysis.dataset_analyze, name="dataset_analyze"),
    path("api/datasets/<id:pk>/frame/", analysis.api_dataset_frame, name="api_dataset_frame"),
    path("datasets/<id:pk>/ingest/", ingest.dataset_ingest_page, name="dataset_ingest"),
    path("api/datasets/<id:pk>/ingest/", ingest.api_dataset_ingest, name="api_dataset_ingest"),
    path(
        "datasets/<id:pk>/thumbnails/",
        thumbnails.dataset_thumbnails_page,
        name="dataset_thumbnails",
    ),
    path(
        "api/datasets/<id:pk>/thumbnails/",
        thumbnails.api_dataset_thumbnails,
        name="api_dataset_thumbnails",
    ),
    path(
        "api/jobs/<id:job_id>/results/<name:name>.<export_format:fmt>",
        results.result_download,
        name="result_download",
    ),
    path("api/jobs/<id:job_id>/thumbnail.png", results.job_thumbnail, name="job_thumbnail"),
    path(
        "api/jobs/<id:job_id>/partial/<name:name>.<preview_format:fmt>",
        results.partial_download,
        name="partial_download",
    ),
]
