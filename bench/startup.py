"""Benchmark: `manage.py check` CPU time of the project against a bare Django + DRF project with the same
admin stack (admin, auth, sessions, messages, staticfiles, DRF, django-filter, drf-spectacular), in one run.

    python bench/startup.py [--runs 5]

Both run as fresh processes, alternating; CPU time (user + system) of each is read from the kernel, so a
loaded machine changes it less than wall time. Prints min/median/max per side and the median ratio.
Both sides run from cached bytecode, as a deployed image does (its build runs compileall): the warm-up run
writes the .pyc files even where PYTHONDONTWRITEBYTECODE is set in the shell, which would otherwise make the
project compile its ~300 modules from source on every run while Django's own come compiled from pip.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The admin stack of a bare Django + DRF project (bench/worker_rss.py serves the same one).
BARE_STACK = '''
INSTALLED_APPS = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
                  "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
                  "rest_framework", "django_filters", "drf_spectacular"]
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware", "django.contrib.sessions.middleware.SessionMiddleware",
              "django.middleware.common.CommonMiddleware", "django.middleware.csrf.CsrfViewMiddleware",
              "django.contrib.auth.middleware.AuthenticationMiddleware",
              "django.contrib.messages.middleware.MessageMiddleware"]
ROOT_URLCONF = "bare_urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                                 "django.contrib.auth.context_processors.auth",
                                                 "django.contrib.messages.context_processors.messages"]}}]
'''
BARE_SETTINGS = '''
SECRET_KEY = "bench"
DEBUG = True
ALLOWED_HOSTS = ["*"]
''' + BARE_STACK + '''DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
STATIC_URL = "static/"
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
'''
BARE_URLS = '''
from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView
urlpatterns = [path("admin/", admin.site.urls), path("api/schema/", SpectacularAPIView.as_view())]
'''


def cpu_seconds(command: list[str], env: dict, cwd: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as bare_dir:
        Path(bare_dir, "bare_settings.py").write_text(BARE_SETTINGS)
        Path(bare_dir, "bare_urls.py").write_text(BARE_URLS)
        base_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "PYTHONDONTWRITEBYTECODE"))}
        project_env = {**base_env, "DJANGO_DEBUG": "1", "AUTONOMAX_VAR_DIR": tempfile.mkdtemp()}
        bare_env = {**base_env, "DJANGO_SETTINGS_MODULE": "bare_settings", "PYTHONPATH": bare_dir}
        project = [sys.executable, str(ROOT / "manage.py"), "check"]
        bare = [sys.executable, "-m", "django", "check"]
        cpu_seconds(project, project_env, str(ROOT))  # warm the file cache and write the .pyc files
        cpu_seconds(bare, bare_env, bare_dir)
        ours, theirs = [], []
        for _ in range(args.runs):
            ours.append(cpu_seconds(project, project_env, str(ROOT)))
            theirs.append(cpu_seconds(bare, bare_env, bare_dir))
    ratios = sorted(o / t for o, t in zip(ours, theirs, strict=True))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.runs} runs, alternating")
    print(f"project check CPU s  min/median/max {min(ours):.3f}/{statistics.median(ours):.3f}/{max(ours):.3f}")
    print(f"bare    check CPU s  min/median/max {min(theirs):.3f}/{statistics.median(theirs):.3f}/{max(theirs):.3f}")
    print(f"ratio (per run) min/median/max {ratios[0]:.2f}/{statistics.median(ratios):.2f}/{ratios[-1]:.2f}  "
          f"(goal <= 2)")


if __name__ == "__main__":
    main()
