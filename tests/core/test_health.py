import pytest


def test_healthz_answers_ok_without_auth(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_database_and_broker_ok(client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_names_the_failing_broker(client, settings):
    # given a broker nobody listens on
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert list(body["failing"]) == ["broker"]


@pytest.mark.django_db
def test_readyz_names_the_part_but_shows_no_exception_text(client, settings, monkeypatch, caplog):
    # given a broker that fails with a message holding internals, and a database that fails too
    settings.CELERY_BROKER_URL = "redis://:s3cret-password@127.0.0.1:1/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}

    def broken_cursor(*args, **kwargs):
        raise RuntimeError("connection to server at 10.1.2.3 failed: password authentication failed for user ax")

    from autonomax import health

    monkeypatch.setattr(health.connection, "cursor", broken_cursor)

    # when
    response = client.get("/readyz")

    # then: the parts are named, nothing else; the details are in the log
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable",
                               "failing": {"database": "unavailable", "broker": "unavailable"}}
    for secret in (b"s3cret", b"10.1.2.3", b"password", b"Error"):
        assert secret not in response.content
    assert "10.1.2.3" in caplog.text
