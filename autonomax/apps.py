from django.apps import AppConfig


class AutonomaxConfig(AppConfig):
    name = "autonomax"
    verbose_name = "Platform core"
