"""Pages and JSON API of the jobs app (included at the root by libertem_site.urls)."""

from __future__ import annotations

from django.urls import path

from apps.jobs.views import api, ops, pages

urlpatterns = [
    path("", pages.home, name="home"),
    path("healthz", ops.healthz, name="healthz"),
    path("status/", ops.status_page, name="status"),
    path("jobs/", pages.job_list, name="job_list"),
    path("jobs/<id:job_id>/", pages.job_detail, name="job_detail"),
    path("jobs/<id:job_id>/cancel/", pages.job_cancel, name="job_cancel"),
    path("jobs/<id:job_id>/rerun/", pages.job_rerun, name="job_rerun"),
    path("jobs/<id:job_id>/share/", pages.job_share, name="job_share"),
    path("api/masks/", api.mask_create, name="api_mask_create"),
    path("api/jobs/", api.job_collection, name="api_job_list"),
    path("api/jobs/<id:job_id>/", api.job_detail, name="api_job_detail"),
    path("api/jobs/<id:job_id>/cancel/", api.job_cancel, name="api_job_cancel"),
    path("api/jobs/<id:job_id>/rerun/", api.job_rerun, name="api_job_rerun"),
    path("api/jobs/<id:job_id>/share/", api.job_share, name="api_job_share"),
    path("api/analyses/", api.analysis_list, name="api_analysis_list"),
]
