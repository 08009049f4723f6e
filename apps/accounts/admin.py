from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.accounts.models import ApiToken, LoginLink, OidcIdentity, Quota
from apps.accounts.services import password_link_path, token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created", "last_used"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["user", "name", "prefix", "key_hash", "created", "last_used"]

    # A key is shown once to its owner at creation; the admin can only revoke (delete).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # Through the service, so the websockets opened with a revoked token close too.
    def delete_model(self, request: HttpRequest, obj: ApiToken) -> None:
        token_revoke(user=obj.user, token=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset.select_related("user"):
            token_revoke(user=token.user, token=token)


@admin.register(LoginLink)
class LoginLinkAdmin(admin.ModelAdmin):
    list_display = ["user", "created", "used"]
    readonly_fields = ["user", "key_hash", "created", "used"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OidcIdentity)
class OidcIdentityAdmin(admin.ModelAdmin):
    """Staff link a provider account to an existing portal user by adding a row here."""

    list_display = ["user", "subject", "issuer", "created", "last_login"]
    search_fields = ["user__username", "subject"]
    readonly_fields = ["created", "last_login"]
    raw_id_fields = ["user"]


user_model = get_user_model()
admin.site.unregister(user_model)


@admin.register(user_model)
class PortalUserAdmin(UserAdmin):
    actions = ["make_password_links"]

    @admin.action(description="Make a set-password link (invitation or reset)")
    def make_password_links(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # The link reaches the user the way staff choose (mail, chat); the portal sends nothing.
        for user in queryset.filter(is_active=True):
            _show_password_link(request, user)
        inactive = queryset.filter(is_active=False).count()
        if inactive:
            messages.warning(request, f"{inactive} deactivated user(s) got no link.")

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        # A user added with password-based authentication off is an invitation: show its link.
        if obj.is_active and not obj.has_usable_password():
            _show_password_link(request, obj)
        return super().response_add(request, obj, post_url_continue)


def _show_password_link(request: HttpRequest, user: Any) -> None:
    # The sign-in views import the OIDC client (requests, jwt): not in every process that
    # loads the admin (every Django setup), only when a link is shown.
    from apps.accounts.signin_views import password_link_days

    url = request.build_absolute_uri(password_link_path(user=user))
    days = password_link_days()
    messages.info(request, f"Send {user.username} this link (works once, for {days} days): {url}")


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    """Limits for one user or one group; the usage is on the staff page /usage/all/."""

    list_display = ["__str__", "result_bytes", "compute_seconds"]
    search_fields = ["user__username", "group__name"]
    raw_id_fields = ["user"]
