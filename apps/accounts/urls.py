from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from apps.accounts import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("login/link/<str:key>/", views.login_link, name="login_link"),
    path("tokens/", views.token_list, name="token_list"),
    path("tokens/<id:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("api/tokens/", views.api_tokens, name="api_tokens"),
    path("api/tokens/<id:pk>/", views.api_token, name="api_token"),
    path("api/schema/", views.api_schema, name="api_schema"),
]
