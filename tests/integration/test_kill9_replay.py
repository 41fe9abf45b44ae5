"""The kill -9 replay, small: signed Stripe events (30% duplicates, shuffled) against a real Celery worker
on Redis that is killed with SIGKILL twice and restarted; after the recovery sweep nothing is lost or stuck,
no order is doubled, and a download email is sent twice at most once per kill. bench/replay_kill9.py runs
the same scenario at full size."""

import os
import subprocess
import sys

import pytest
from django.db import connection

from tests.conftest import ROOT, _database_url_for_worker, _redis_url_or_skip

pytestmark = pytest.mark.integration


def test_a_worker_killed_twice_loses_doubles_and_leaves_stuck_nothing(transactional_db):
    # given PostgreSQL and Redis, as in production
    broker = _redis_url_or_skip()
    if connection.vendor != "postgresql":
        pytest.skip("the replay runs on the production stack (PostgreSQL)")
    env = {**os.environ, "DATABASE_URL": _database_url_for_worker(), "REDIS_URL": broker,
           "CELERY_BROKER_URL": broker}

    # when 60 orders' events are replayed while the worker is killed twice
    run = subprocess.run(
        [sys.executable, "bench/replay_kill9.py", "--orders", "60", "--kills", "2", "--senders", "4",
         "--busy-tasks", "5"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )

    # then every check of the replay holds
    report = run.stdout + run.stderr[-3000:]
    assert run.returncode == 0, report
    for line in ("events stuck (not processed): 0", "orders doubled: 0", "orders paid: 60",
                 "download emails lost: 0", "[ok ] download emails doubled"):
        assert line in report, report
