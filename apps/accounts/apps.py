from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.urls import register_converter

        from apps.accounts.ids import IdConverter

        # Here, not in a URLconf: the websocket routes are built before ROOT_URLCONF is loaded.
        register_converter(IdConverter, "id")
