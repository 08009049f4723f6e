from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "apps.portal"
    label = "portal"

    def ready(self) -> None:
        from django.urls import register_converter

        from apps.web.ids import IdConverter

        # Here, not in a URLconf: the websocket routes are built before ROOT_URLCONF is loaded.
        register_converter(IdConverter, "id")
