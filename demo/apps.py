from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The wiring level that knows every app: the shop simulator (and, later, the demo seeder)."""

    name = "demo"
    verbose_name = "Demo and simulator"
