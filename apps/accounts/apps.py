from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from apps.accounts.signals import user_deleted, user_saved

        user = get_user_model()
        post_save.connect(user_saved, sender=user, dispatch_uid="accounts.user_saved")
        post_delete.connect(user_deleted, sender=user, dispatch_uid="accounts.user_deleted")
