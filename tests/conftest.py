"""Fixtures shared by every suite: API clients per role and a real Celery worker."""

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import time_machine
from rest_framework.test import APIClient

from autonomax.models import Role

from .factories import CompanyFactory, member_with_token

ROOT = Path(__file__).resolve().parent.parent

# The demo data has a weekday pattern relative to "now", so its 7- and 30-day KPIs (and the
# plays they trigger) depend on the calendar. Tests that use it pin the clock to this Saturday.
DEMO_NOW = datetime(2026, 11, 7, 10, 0, tzinfo=UTC)


@pytest.fixture
def demo_clock():
    """The clock pinned at DEMO_NOW (ticking); a real worker started after it sees the same time."""
    with time_machine.travel(DEMO_NOW, tick=True) as traveller:
        yield traveller


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Under mutmut two test processes share one test database: a test that commits (transaction=True) would
    flush or show its rows to the other's test. There a committing test holds an exclusive PostgreSQL advisory
    lock and every other database test a shared one, from its setup to the end of its teardown."""
    lock = None
    if "MUTANT_UNDER_TEST" in os.environ:
        # The session's first test holds the lock exclusively: the database is emptied in its setup.
        first = not _MUTMUT_SESSION["started"]
        _MUTMUT_SESSION["started"] = True
        lock = _mutmut_database_lock(item, exclusive=first)
        _MUTMUT_SESSION["exclusive"] = first and lock is not None
    try:
        yield
    finally:
        _MUTMUT_SESSION["exclusive"] = False
        if lock is not None:
            lock.close()  # a session lock ends with its connection


_MUTMUT_SESSION = {"started": False, "exclusive": False}


def pytest_sessionstart(session):
    _MUTMUT_SESSION.update(started=False, exclusive=False)  # mutmut runs each mutant's session in a forked child


def _mutmut_database_lock(item, *, exclusive: bool):
    marker = item.get_closest_marker("django_db")
    commits = bool(marker and marker.kwargs.get("transaction")) or "transactional_db" in item.fixturenames
    if not (commits or marker or "db" in item.fixturenames):
        return None
    return _mutmut_advisory_lock(exclusive=commits or exclusive)


def _mutmut_advisory_lock(*, exclusive: bool):
    """The shared test database's advisory lock (None off PostgreSQL), held until the returned connection closes."""
    import psycopg
    from django.db import connections

    db = connections["default"].settings_dict
    if connections["default"].vendor != "postgresql":
        return None
    conn = psycopg.connect(dbname="postgres", user=db["USER"], password=db["PASSWORD"] or None,
                           host=db["HOST"] or None, port=db["PORT"] or None, autocommit=True)
    key = "mutmut:" + re.sub(r"^(test_)+", "", db["NAME"])  # the same before and after the test database is set up
    conn.execute(f"SELECT pg_advisory_lock{'' if exclusive else '_shared'}(hashtext(%s))", [key])
    return conn


@pytest.fixture(autouse=True, scope="session")
def _empty_database_under_mutmut(request, django_db_blocker):
    """mutmut kills a test process at its timeout, and a committing test killed that way never flushes its rows:
    left in the shared test database, they would fail (falsely "kill") every later mutant's tests. Each
    mutant's run starts by emptying it, under the exclusive lock."""
    if "MUTANT_UNDER_TEST" not in os.environ:
        yield
        return
    request.getfixturevalue("django_db_setup")
    from django.core.management import call_command

    with django_db_blocker.unblock():
        # Set up in the session's first test: if it uses the database it already holds the lock exclusively.
        lock = None if _MUTMUT_SESSION["exclusive"] else _mutmut_advisory_lock(exclusive=True)
        try:
            call_command("flush", interactive=False, verbosity=0)
        finally:
            if lock is not None:
                lock.close()
    yield


@pytest.fixture(autouse=True, scope="session")
def _own_cache_under_mutmut():
    """Under mutmut (scripts/mutmut.sh) two test processes run at once against one cache: each gets its own
    in-memory cache, so one's cached kill switch (waffle) never reaches the other's tests."""
    if "MUTANT_UNDER_TEST" not in os.environ:
        yield
        return
    from django.test import override_settings

    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}):
        yield


@pytest.fixture(autouse=True, scope="session")
def _fresh_sql_under_mutmut():
    """mutmut runs each mutant in a process forked from one that has already built (functools.cache) the AI
    call log's INSERT: build it again, or a mutant of the builder is never called."""
    if "MUTANT_UNDER_TEST" in os.environ:
        from chimera.ai.budget import _insert_call_sql

        _insert_call_sql.cache_clear()
    yield


@pytest.fixture
def company(db):
    return CompanyFactory(slug="acme", name="Acme Digital")


@pytest.fixture
def other_company(db):
    """A second tenant beside `company`: every service that takes a company is tested with this one's data
    present, and must neither read nor change it."""
    return CompanyFactory(slug="globex", name="Globex Other")


def _api_client(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
    return client


@pytest.fixture
def owner_api(company):
    """(membership, APIClient) for an owner of `company`."""
    membership, key = member_with_token(company=company, role=Role.OWNER)
    return membership, _api_client(key)


@pytest.fixture
def operator_api(company):
    membership, key = member_with_token(company=company, role=Role.OPERATOR)
    return membership, _api_client(key)


@pytest.fixture
def viewer_api(company):
    membership, key = member_with_token(company=company, role=Role.VIEWER)
    return membership, _api_client(key)


def _redis_url_or_skip() -> str:
    url = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL", "")
    reason = None
    if not url.startswith("redis"):
        reason = "REDIS_URL is not set"
    else:
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            reason = f"Redis at {url} does not answer: {exc}"
    if reason:
        if os.environ.get("REQUIRE_SERVICES"):
            pytest.fail(f"REQUIRE_SERVICES is set but {reason}")
        pytest.skip(f"integration test needs Redis: {reason}")
    return url


def _database_url_for_worker() -> str:
    """The URL of the *test* database, so the worker sees what the test wrote."""
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    user = quote(s.get("USER") or "")
    password = f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.fixture
def celery_worker_process(request, transactional_db, tmp_path):
    """A real `celery worker` process on Redis, sharing the test database.

    Yields a dict with the worker's `email_dir` (the worker sends mail with the
    file backend there). Tasks enqueued by the test go through Redis to it.
    """
    broker = _redis_url_or_skip()
    from autonomax.celery import app

    email_dir = tmp_path / "mail"
    email_dir.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_worker(),
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "EMAIL_URL": f"filemail:///{email_dir}",
    }
    if "demo_clock" in request.fixturenames:
        from django.utils import timezone

        request.getfixturevalue("demo_clock")  # started before the worker, so both clocks agree
        env["AUTONOMAX_TEST_NOW"] = timezone.now().isoformat()
    queues = "webhooks,ai,email,default"
    with app.connection_for_write() as conn:
        for queue in queues.split(","):
            conn.default_channel.queue_purge(queue) if _queue_exists(conn, queue) else None
    log_path = tmp_path / "worker.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.worker_main", "-A", "autonomax", "worker", "-Q", queues, "--pool", "threads",
         "--concurrency", "4", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    previous = app.conf.task_always_eager, app.conf.broker_url
    app.conf.task_always_eager = False
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"celery worker did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield {"email_dir": email_dir, "log": log_path, "process": proc}
    finally:
        app.conf.task_always_eager, app.conf.broker_url = previous
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _queue_exists(conn, queue: str) -> bool:
    try:
        conn.default_channel.queue_declare(queue=queue, passive=True)
    except Exception:  # noqa: BLE001 - a missing queue is not an error here
        return False
    return True


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    """Poll until `predicate()` is truthy; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {message}")


@pytest.fixture(autouse=True)
def _webhook_outbox_unmarked():
    """The outbox's wake-up mark lives in the shared cache (Redis): a mark left by an earlier test (a drain
    task queued for a worker that was stopped) must not silence this test's wake-ups."""
    from django.core.cache import cache

    from commerce.services.outbox import WAKE_KEY

    cache.delete(WAKE_KEY)
    yield
