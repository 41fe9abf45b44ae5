from django.apps import AppConfig


class KpisConfig(AppConfig):
    name = "kpis"
    verbose_name = "KPIs"

    def ready(self):
        from django.db.backends.signals import connection_created
        from django.utils.module_loading import autodiscover_modules

        from .aggregates import sqlite_median_register

        connection_created.connect(sqlite_median_register, dispatch_uid="kpis_sqlite_median")
        # Each installed app registers its metrics from its own metrics.py (kpis imports no app).
        autodiscover_modules("metrics")
