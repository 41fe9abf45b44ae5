from django.apps import AppConfig


class CommanderConfig(AppConfig):
    name = "chimera.commander"
    label = "commander"
    verbose_name = "Chimera commander"
