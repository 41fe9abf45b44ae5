"""A newcomer's start: `make run`'s local `.env`, and what `scripts/run.sh` says when it cannot start.

Settings are read once per process, so each case runs `manage.py` or the script in a process of its own.
"""

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = ["shell", "-v", "0", "-c",
                  "from django.conf import settings; print(settings.DEBUG, settings.SITE_URL, settings.SECRET_KEY)"]


def _clean_env(**extra) -> dict:
    """The test run's environment without what a `.env` is for, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG", "SITE_URL", "AUTONOMAX_ENV_FILE")}
    return {**env, **extra}


def _manage(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def _make_env_file(directory: Path) -> Path:
    subprocess.run(["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "-C", str(directory), ".env"],
                   check=True, capture_output=True, text=True, timeout=60)
    return directory / ".env"


def test_make_writes_a_private_development_env_file_once(tmp_path):
    # given two working copies
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    # when
    env_file = _make_env_file(tmp_path / "a")
    first = env_file.read_text()
    _make_env_file(tmp_path / "a")
    other = _make_env_file(tmp_path / "b").read_text()

    # then
    values = dict(line.split("=", 1) for line in first.splitlines() if line and not line.startswith("#"))
    assert values == {"DJANGO_DEBUG": "1", "DJANGO_SECRET_KEY": values["DJANGO_SECRET_KEY"]}
    assert len(values["DJANGO_SECRET_KEY"]) >= 50
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert env_file.read_text() == first, "an existing .env is never rewritten"
    assert other != first, "each .env gets its own secret key"


def test_manage_py_runs_with_the_env_file_alone(tmp_path):
    # given a shell with neither DJANGO_DEBUG nor DJANGO_SECRET_KEY, as in a second terminal
    env_file = _make_env_file(tmp_path)
    key = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)["DJANGO_SECRET_KEY"]

    # when
    result = _manage(PRINT_SETTINGS, _clean_env(AUTONOMAX_ENV_FILE=str(env_file)))

    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "http://127.0.0.1:8000", key]


def test_the_environment_wins_over_the_env_file(tmp_path):
    # given
    env_file = tmp_path / ".env"
    env_file.write_text("DJANGO_DEBUG=1\nDJANGO_SECRET_KEY=from-the-file\nSITE_URL=http://from-the-file\n")

    # when
    result = _manage(PRINT_SETTINGS, _clean_env(AUTONOMAX_ENV_FILE=str(env_file), DJANGO_DEBUG="0",
                                                 SITE_URL="http://from-the-environment"))

    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "http://from-the-environment", "from-the-file"]


def test_the_test_suite_reads_no_env_file():
    # given the suite's own switch (tests/environment.py), whatever .env the working copy holds
    assert os.environ["AUTONOMAX_ENV_FILE"] == ""

    # when settings load without DJANGO_SECRET_KEY and with DEBUG off
    result = _manage(["check"], _clean_env(AUTONOMAX_ENV_FILE="", DJANGO_DEBUG="0"))

    # then nothing filled it in from a file
    assert result.returncode != 0 and "DJANGO_SECRET_KEY is not set" in result.stderr


def test_a_missing_env_file_named_explicitly_is_a_clear_error(tmp_path):
    result = _manage(["check"], _clean_env(AUTONOMAX_ENV_FILE=str(tmp_path / "nowhere.env")))

    assert result.returncode != 0 and "AUTONOMAX_ENV_FILE names" in result.stderr


def test_the_env_file_is_never_committed():
    ignored = (ROOT / ".gitignore").read_text().splitlines()

    assert ".env" in ignored


def _run_script(port: str) -> subprocess.CompletedProcess:
    env = _clean_env(BIN=str(Path(sys.executable).parent), PORT=port)
    return subprocess.run(["bash", str(ROOT / "scripts" / "run.sh")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_run_says_clearly_when_the_port_is_taken_and_starts_nothing():
    # given a port something already listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])

        # when
        result = _run_script(port)

    # then: one clear line before migrating or starting anything, no traceback, no banner
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert f"make run PORT={int(port) + 1}" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_run_refuses_a_port_that_is_not_a_number():
    result = _run_script("80a")

    assert result.returncode == 2 and "PORT must be a number" in result.stderr and result.stdout == ""
