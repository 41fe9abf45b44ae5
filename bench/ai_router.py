"""Bench: the AI engine's per-call overhead over calling the `openai` client directly.

Both sides talk to the same local OpenAI-compatible server (tests/ai/openai_server.py,
in its own process) on 127.0.0.1; calls alternate so both see the same noise. The engine side is a full
`ai_generate`: routing preference read, PII redaction, budget reservation (conditional
UPDATE), the HTTP call, settle + AICall insert, profanity filter.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/autonomax_ai .venv/bin/python bench/ai_router.py [N]

Prints p50/p95 of each side in ms, the overhead in ms, and the ratio engine/direct.
The database must be PostgreSQL; it is migrated, and the bench company's rows are removed afterwards.
"""

import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomax.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def _serve(queue) -> None:
    from tests.ai.openai_server import OpenAIServer, ok

    server = OpenAIServer(default=ok("Charge $19 and bundle the printable.", prompt_tokens=42,
                                     completion_tokens=9)).start()
    queue.put(server.url)
    while True:
        time.sleep(3600)


def _start_server_process():
    """The server runs in its own process, so it does not compete with the measured calls for the GIL."""
    import multiprocessing

    queue = multiprocessing.get_context("fork").Queue()
    process = multiprocessing.get_context("fork").Process(target=_serve, args=(queue,), daemon=True)
    process.start()
    url = queue.get(timeout=30)

    def stop():
        process.terminate()
        process.join(5)

    return url, stop


def main() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit("set DATABASE_URL to a PostgreSQL database (the bench measures the call log write there)")
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 2000

    import django

    django.setup()
    import openai
    import yaml
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from autonomax.models import Company
    from chimera.ai.config import TASK_TYPES
    from chimera.ai.models import AICall, AISpendDay
    from chimera.ai.services import ai_generate

    server_url, stop_server = _start_server_process()  # fork before any database connection is open
    call_command("migrate", verbosity=0)
    os.environ["BENCH_AI_KEY"] = "sk-bench"
    models = {
        "providers": [{"name": "local", "base_url": server_url, "api_key_env": "BENCH_AI_KEY", "timeout_s": 10,
                       "models": [{"name": "bench-model", "input_per_1k": 0.00015, "output_per_1k": 0.0006}]}],
        "routing": {task: ["local", "offline"] for task in TASK_TYPES},
        "defaults": {"max_tokens": 64},
    }
    models_file = Path(tempfile.mkdtemp()) / "models.yml"
    models_file.write_text(yaml.safe_dump(models))
    settings.AUTONOMAX_MODELS_FILE = str(models_file)

    company, _ = Company.objects.update_or_create(
        slug="bench-ai", defaults={"name": "Bench AI", "ai_max_cost_usd_per_day": Decimal("100000")})
    prompt = "Suggest a price for the habit tracker printable; customer asked at jane@example.com."
    direct = openai.OpenAI(base_url=server_url, api_key="sk-bench", max_retries=0, timeout=10)
    messages = [{"role": "system", "content": "You are the AutonomaX quick response assistant. Answer briefly."},
                {"role": "user", "content": prompt}]

    def call_direct():
        reply = direct.chat.completions.create(model="bench-model", messages=messages, max_tokens=64,
                                               temperature=0.4)
        assert reply.choices[0].message.content

    def call_engine():
        result = ai_generate(company=company, task_type="quick_response", prompt=prompt)
        assert result.provider == "local"

    try:
        for _ in range(100):  # warm up connections, caches, the day's spend row
            call_direct()
            call_engine()
        direct_ms, engine_ms = [], []
        for _ in range(iterations):
            t0 = time.perf_counter()
            call_direct()
            t1 = time.perf_counter()
            call_engine()
            t2 = time.perf_counter()
            direct_ms.append((t1 - t0) * 1000)
            engine_ms.append((t2 - t1) * 1000)
    finally:
        AICall.objects.filter(company=company).delete()
        AISpendDay.objects.filter(company=company).delete()
        company.delete()
        stop_server()

    d50, d95 = percentile(direct_ms, 50), percentile(direct_ms, 95)
    e50, e95 = percentile(engine_ms, 50), percentile(engine_ms, 95)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"AI router bench: {iterations} calls each, PostgreSQL {connection.pg_version // 10000}, "
          f"local OpenAI-compatible server; load average {load} on {os.cpu_count()} CPUs")
    print(f"{'':22}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    print(f"{'openai client direct':22}{d50:10.3f}{d95:10.3f}{statistics.mean(direct_ms):10.3f}")
    print(f"{'ai_generate (engine)':22}{e50:10.3f}{e95:10.3f}{statistics.mean(engine_ms):10.3f}")
    print(f"overhead: p50 {e50 - d50:+.3f} ms, p95 {e95 - d95:+.3f} ms; ratio engine/direct: "
          f"p50 {e50 / d50:.2f}x, p95 {e95 / d95:.2f}x (goal: p50 overhead < 2 ms)")


if __name__ == "__main__":
    main()
