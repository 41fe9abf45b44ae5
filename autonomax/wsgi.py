import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomax.settings")
gc.disable()  # no collection while start-up builds its long-lived objects (see manage.py)
try:
    application = get_wsgi_application()
finally:
    gc.freeze()
    gc.enable()
