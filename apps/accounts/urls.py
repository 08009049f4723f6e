from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from apps.accounts import oidc, signin_views, views

urlpatterns = [
    path("login/", signin_views.PortalLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("login/link/<str:key>/", views.login_link, name="login_link"),
    path(
        "password/reset/",
        signin_views.PasswordResetRequestView.as_view(),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        signin_views.PasswordResetSentView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/set/<uidb64>/<token>/",
        signin_views.PasswordSetView.as_view(),
        name="password_reset_confirm",
    ),
    path("oidc/authenticate/", oidc.SignOnStartView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", oidc.SignOnCallbackView.as_view(), name="oidc_authentication_callback"),
    path("tokens/", views.token_list, name="token_list"),
    path("tokens/<id:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("api/tokens/", views.api_tokens, name="api_tokens"),
    path("api/tokens/<id:pk>/", views.api_token, name="api_token"),
]
