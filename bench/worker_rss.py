"""Benchmark: memory of one warmed gunicorn worker of the project against a bare Django + DRF project with the
same admin stack, same Python, same gunicorn command line, in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME REDIS_URL=redis://127.0.0.1:6379/N \
        .venv/bin/python bench/worker_rss.py [--runs 3]

Each side is started with the Procfile's `web` command (sync workers, WEB_CONCURRENCY=1 so that one worker
serves every warm-up request), production settings (DEBUG off), PostgreSQL. The worker is then warmed with
the same kinds of requests on both sides, as a signed-in staff user: the admin index, a server-rendered page
(the project's Command Center; the bare project's admin user list) and an API list of 50 rows (the project's
`/api/v1/orders/` with its token; a bare DRF list of users). Then the worker's VmRSS (and PSS) is read from
/proc. The sides alternate; prints per run and min/median/max with the ratio (goal <= 1.6).

Static files are served by WhiteNoise from the finders (WHITENOISE_USE_FINDERS=1, no collectstatic).
The project database (DATABASE_URL) is migrated and a `bench-rss` company with a staff user is (re)created in
it; the bare project uses DATABASE_URL's database name + `_bare`, created when missing.
"""

import argparse
import http.client
import os
import secrets
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.startup import BARE_STACK  # noqa: E402 - after the path

BARE_SETTINGS = '''
import os
from urllib.parse import urlparse
_db = urlparse(os.environ["BARE_DATABASE_URL"])
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
''' + BARE_STACK + '''DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": _db.path.lstrip("/"),
                         "USER": _db.username or "", "PASSWORD": _db.password or "", "HOST": _db.hostname or "",
                         "PORT": _db.port or "", "CONN_MAX_AGE": 60}}
STATIC_URL = "static/"
USE_TZ = True
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
                  "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
                  "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
                  "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"]}
'''
BARE_URLS = '''
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework import generics, serializers


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "is_staff", "date_joined", "last_login"]


class UserList(generics.ListAPIView):
    queryset = User.objects.order_by("id")
    serializer_class = UserSerializer


urlpatterns = [path("admin/", admin.site.urls), path("api/schema/", SpectacularAPIView.as_view()),
               path("api/users/", UserList.as_view())]
'''
BARE_WSGI = '''
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bare_settings")
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
'''
# Run in each project's own process (Django set up with its settings): a staff user and a signed-in session,
# printed as "session-key token".
PREPARE_BARE = '''
import django
django.setup()
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
call_command("migrate", verbosity=0)
user = (User.objects.filter(username="bench-rss").first()
        or User.objects.create_superuser("bench-rss", "b@example.com", "x"))
for i in range(60 - User.objects.count()):
    User.objects.create_user(f"bench-user-{i}", f"u{i}@example.com")
session = SessionStore()
session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: user.get_session_auth_hash()})
session.create()
print(session.session_key, "-")
'''
PREPARE_PROJECT = '''
import django
django.setup()
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.core.management import call_command
from autonomax.authentication import api_token_create
from autonomax.models import Company, Membership, Role
call_command("migrate", verbosity=0)
Company.objects.filter(slug="bench-rss").delete()
User = get_user_model()
User.objects.filter(username="bench-rss").delete()
company = Company.objects.create(slug="bench-rss", name="Bench RSS")
user = User.objects.create_superuser("bench-rss", "b@example.com", "x")
Membership.objects.create(user=user, company=company, role=Role.OWNER)
_, token = api_token_create(user=user, company=company, name="bench")
session = import_module(settings.SESSION_ENGINE).SessionStore()
session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: user.get_session_auth_hash()})
session.create()
print(session.session_key, token)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile_web_command(port: int) -> list[str]:
    """The Procfile's `web` command with $PORT and $WEB_CONCURRENCY (1) filled in."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    line = line.split(":", 1)[1].replace("${PORT:-8000}", str(port)).replace("${WEB_CONCURRENCY:-2}", "1")
    words = shlex.split(line)
    assert words[0] == "gunicorn" and "$" not in line, line
    return [sys.executable, "-m", *words]


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        name = parsed.path.lstrip("/")
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def memory_kb(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    pss = next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
    return rss, pss


def worker_pid(master: int) -> int:
    deadline = time.time() + 30
    while time.time() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def get(port: int, path: str, headers: dict) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"X-Forwarded-Proto": "https", **headers})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def _tail(log) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-3000:]


def measure(*, command: list[str], env: dict, cwd: str, port: int, requests: list[tuple[str, dict]]) -> tuple:
    log = tempfile.TemporaryFile()
    server = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.time() + 60
        while True:
            try:
                get(port, "/admin/login/", {})
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(f"gunicorn did not start: {_tail(log)}") from None
                time.sleep(0.2)
        for _ in range(3):  # each request three times: caches filled, lazy imports done
            for path, headers in requests:
                status = get(port, path, headers)
                if status != 200:
                    raise RuntimeError(f"GET {path} answered {status}: {_tail(log)}")
        return memory_kb(worker_pid(server.pid))
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not os.environ.get("REDIS_URL"):
        sys.exit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the bench runs on the production stack.")
    parsed = urlparse(database_url)
    bare_database_url = parsed._replace(path=parsed.path + "_bare").geturl()
    ensure_database(database_url)
    ensure_database(bare_database_url)
    # Bytecode is cached on both sides, as in a deployed image (its build runs compileall).
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTHONDONTWRITEBYTECODE"))}
    secret = secrets.token_urlsafe(50)
    project_env = {**base_env, "DJANGO_SETTINGS_MODULE": "autonomax.settings", "DJANGO_DEBUG": "0",
                   "DJANGO_SECRET_KEY": secret, "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING",
                   "DJANGO_MEDIA_ROOT": tempfile.mkdtemp(prefix="bench-media-"),
                   "WHITENOISE_USE_FINDERS": "1"}
    bare_dir = tempfile.mkdtemp(prefix="bench-bare-")
    for name, text in (("bare_settings.py", BARE_SETTINGS), ("bare_urls.py", BARE_URLS), ("bare_wsgi.py", BARE_WSGI)):
        Path(bare_dir, name).write_text(text)
    bare_env = {**base_env, "DJANGO_SETTINGS_MODULE": "bare_settings", "DJANGO_SECRET_KEY": secret,
                "BARE_DATABASE_URL": bare_database_url, "PYTHONPATH": bare_dir}

    def prepare(script: str, env: dict, cwd: str) -> tuple[str, str]:
        done = subprocess.run([sys.executable, "-c", script], env=env, cwd=cwd, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"preparing the database failed:\n{done.stderr[-3000:]}")
        out = done.stdout.split()
        return out[-2], out[-1]

    project_session, token = prepare(PREPARE_PROJECT, project_env, str(ROOT))
    bare_session, _ = prepare(PREPARE_BARE, bare_env, bare_dir)
    project_requests = [("/admin/", {"Cookie": f"sessionid={project_session}"}),
                        ("/", {"Cookie": f"sessionid={project_session}"}),
                        ("/api/v1/orders/?limit=50", {"Authorization": f"Token {token}"})]
    bare_requests = [("/admin/", {"Cookie": f"sessionid={bare_session}"}),
                     ("/admin/auth/user/", {"Cookie": f"sessionid={bare_session}"}),
                     ("/api/users/?limit=50", {"Cookie": f"sessionid={bare_session}"})]

    port = free_port()
    command = procfile_web_command(port)
    bare_command = [word if word != "autonomax.wsgi" else "bare_wsgi" for word in command]
    print(f"worker RSS bench: {args.runs} runs, alternating; {shlex.join(command[2:])} (bare: bare_wsgi); "
          f"{os.cpu_count()} CPUs, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'run':>4}{'project RSS MB':>16}{'bare RSS MB':>13}{'ratio':>7}{'project PSS MB':>16}{'bare PSS MB':>13}"
          f"{'ratio':>7}")
    ratios, pss_ratios, ours, theirs = [], [], [], []
    for run in range(1, args.runs + 1):
        rss, pss = measure(command=command, env=project_env, cwd=str(ROOT), port=port, requests=project_requests)
        bare_rss, bare_pss = measure(command=bare_command, env=bare_env, cwd=bare_dir, port=port,
                                     requests=bare_requests)
        ours.append(rss / 1024)
        theirs.append(bare_rss / 1024)
        ratios.append(rss / bare_rss)
        pss_ratios.append(pss / bare_pss)
        print(f"{run:>4}{rss / 1024:16.1f}{bare_rss / 1024:13.1f}{ratios[-1]:6.2f}x{pss / 1024:16.1f}"
              f"{bare_pss / 1024:13.1f}{pss_ratios[-1]:6.2f}x")

    def spread(values, fmt):
        return " / ".join(format(v, fmt) for v in (min(values), statistics.median(values), max(values)))

    print(f"min / median / max: project {spread(ours, '.1f')} MB, bare {spread(theirs, '.1f')} MB; "
          f"RSS ratio {spread(ratios, '.2f')} (goal <= 1.6), PSS ratio {spread(pss_ratios, '.2f')}; "
          f"load average now {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
