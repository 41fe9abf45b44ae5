"""A web worker loads the WSGI application and the URLconf at start; heavy libraries load only where they are
used (the first AI call, a Stripe or Shopify request, a model fit, an embedding), so a worker's memory and
`manage.py check` stay close to a bare Django project's (bench/worker_rss.py, bench/startup.py).

Each case runs in a process of its own: a module imported by another test would hide the import.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HEAVY = ["openai", "stripe", "shopify", "numpy", "scipy", "statsmodels", "sklearn", "pandas", "matplotlib",
         "lifetimes", "pydantic", "jsonschema", "email_validator", "disposable_email_domains"]
# (`requests` is not in the list: Django REST framework's compat module imports it whenever it is installed, in a
# bare project too.)

LOADED = """
import json, sys
{setup}
print(json.dumps(sorted(name for name in {heavy!r} if name in sys.modules)))
"""


def _heavy_loaded(setup: str) -> list[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "autonomax.settings", "DJANGO_SECRET_KEY": "lazy-imports-test"}
    done = subprocess.run([sys.executable, "-c", LOADED.format(setup=setup, heavy=HEAVY)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_wsgi_application_and_its_urlconf_load_no_heavy_library():
    # given a web worker's start: the WSGI application, then every URL pattern resolved (all views imported)
    setup = ("from autonomax.wsgi import application\n"
             "from django.urls import get_resolver\n"
             "get_resolver().url_patterns\n"
             "import autonomax.admin, autonomax.api_urls")
    # when it has loaded, then none of the heavy libraries is in memory
    assert _heavy_loaded(setup) == []


def test_the_system_checks_load_no_heavy_library():
    # given what `manage.py check` runs (every app, its admin, its checks and the URLconf)
    setup = ("import django\n"
             "django.setup()\n"
             "from django.core.management import call_command\n"
             "call_command('check', verbosity=0)")
    # then none of the heavy libraries is in memory
    assert _heavy_loaded(setup) == []
