"""WSGI entry for bench/webhooks.py only: the production URLconf plus a bare JSON view as the baseline.

The bare view never reaches production URLs: gunicorn loads this module only in the benchmark.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomax.settings")

from django.conf import settings  # noqa: E402

settings.ROOT_URLCONF = __name__

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()  # sets Django up before the URL modules import models

from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

from autonomax.urls import urlpatterns as production_urlpatterns  # noqa: E402


@csrf_exempt
def bare(request):
    """The baseline: read the body, answer JSON. What any Django view costs on this server."""
    return JsonResponse({"received": True, "bytes": len(request.body)})


urlpatterns = [path("bench/bare/", bare), *production_urlpatterns]
