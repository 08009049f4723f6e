"""Sign-in pages: the login form, invitations and password resets by link.

Django's own views do the work; these subclasses choose the portal's templates and say what
happened. A set-password link (``password_link_path``) is both the invitation of a user without
a password and a reset: the page words itself after whether the user has a password yet.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import reverse_lazy

from apps.accounts import oidc


class PortalLoginView(auth_views.LoginView):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # The local admin of the embedded default gets a fresh link from the command line; a
        # facility's staff know their own way in, and the page does not advertise it there.
        context["show_loginlink_hint"] = not settings.PRODUCTION
        context["oidc_enabled"] = oidc.enabled()
        context["oidc_label"] = settings.OIDC_BUTTON_LABEL
        return context


def password_link_days() -> int:
    return settings.PASSWORD_RESET_TIMEOUT // 86400


class PasswordResetRequestView(auth_views.PasswordResetView):
    """Mails a reset link through ``EMAIL_BACKEND`` (the console when no mail server is set).

    Django's view answers alike whether or not the address belongs to an account, and mails
    only accounts that have a password.
    """

    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        self.extra_email_context = {"link_days": password_link_days()}
        return super().form_valid(form)


class PasswordResetSentView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_sent.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "link_days": password_link_days()}


class PasswordSetView(auth_views.PasswordResetConfirmView):
    """The page a set-password link opens; a valid form logs the user in and goes home."""

    template_name = "accounts/password_set.html"
    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"
    success_url = reverse_lazy("home")

    def form_valid(self, form: Any) -> HttpResponse:
        invited = not form.user.has_usable_password()
        response = super().form_valid(form)
        if invited:
            messages.success(self.request, f"Welcome, {form.user.username}: your password is set.")
        else:
            messages.success(self.request, "Your new password is set.")
        return response
