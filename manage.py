#!/usr/bin/env python
import gc
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomax.settings")
    # Start-up builds hundreds of thousands of long-lived objects (modules, classes, URL patterns); collecting
    # while it does finds no garbage and costs about a tenth of its CPU (bench/startup.py). Once the apps are
    # ready they are frozen (never scanned again: later collections only look at what came after) and
    # collection is back on.
    gc.disable()
    import django
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        django.setup()
    except ImproperlyConfigured:
        pass  # execute_from_command_line reports it, as without this
    finally:
        gc.freeze()
        gc.enable()
    execute_from_command_line(sys.argv)
