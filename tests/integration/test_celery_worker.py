import pytest

from autonomax.celery import ping

pytestmark = pytest.mark.integration


def test_real_worker_on_redis_completes_a_task(celery_worker_process):
    # given a worker process consuming from Redis
    # when a task is sent through the broker
    result = ping.apply_async(queue="default")

    # then the worker ran it: its log records the success with the task id
    from tests.conftest import wait_for

    wait_for(lambda: f"Task autonomax.ping[{result.id}] succeeded" in celery_worker_process["log"].read_text(),
             message="the worker to run autonomax.ping")
