"""Bench: the AI engine's per-call overhead over calling the `openai` client directly.

Both sides talk to the same local OpenAI-compatible server (tests/ai/openai_server.py,
in its own process) on 127.0.0.1 and send the same request body (the direct side sends the messages the engine
builds: its system prompt and the redacted prompt, same model, max_tokens and temperature); calls alternate so
both see the same noise. The engine side is a full `ai_generate`: the company's settings (routing preference,
own keys: a per-process copy), PII redaction, budget reservation (one conditional UPDATE round trip), the HTTP
call, settle + AICall insert (one round trip), profanity filter.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/autonomax_ai .venv/bin/python bench/ai_router.py [N] [RUNS]

Prints, per run, p50/p95 of each side in ms and the overhead: "routing" is the engine without its call-log
write (timed apart on each call), "with call log" the whole engine; the CPU time this process spends per call
on each side (thread time, median: what the engine itself computes, apart from waiting on the database, which
a loaded machine stretches); then min/median/max of the p50 overheads and ratios over the runs.
Goals: routing <= 1 ms p50, <= 2 ms with the call-log write.
The database must be PostgreSQL; it is migrated, and the bench company's rows are removed afterwards.
The version tokens of the companies' settings are in REDIS_URL's cache (default redis://127.0.0.1:6379/15), as deployed.
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
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")


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
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3

    import django

    django.setup()
    import openai
    import yaml
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from autonomax.models import Company
    from chimera.ai import services
    from chimera.ai.config import TASK_TYPES, models_config
    from chimera.ai.models import AICall, AISpendDay
    from chimera.ai.safety import pii_redact
    from chimera.ai.services import _messages, ai_generate

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
    config = models_config()
    # The very request the engine sends: its messages (system prompt, redacted prompt), model, limits.
    messages = _messages(task_type="quick_response", prompt=pii_redact(prompt, kinds=config.redact).text, schema=None)
    temperature, max_tokens = config.temperature, config.max_tokens

    # The call-log write (settle + AICall insert), timed inside each engine call.
    log_spent = []
    record = services.ai_call_record

    def timed_record(**kwargs):
        started = time.perf_counter()
        record(**kwargs)
        log_spent.append(time.perf_counter() - started)

    services.ai_call_record = timed_record

    def call_direct():
        reply = direct.chat.completions.create(model="bench-model", messages=messages, max_tokens=max_tokens,
                                               temperature=temperature, timeout=10)
        assert reply.choices[0].message.content

    def call_engine():
        result = ai_generate(company=company, task_type="quick_response", prompt=prompt)
        assert result.provider == "local"

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"AI router bench: {runs} runs of {iterations} calls each side, PostgreSQL {connection.pg_version // 10000}, "
          f"local OpenAI-compatible server; load average {load} on {os.cpu_count()} CPUs")
    print(f"{'run':>4}{'direct p50':>12}{'engine p50':>12}{'log p50':>9}{'routing +ms':>13}{'with log +ms':>14}"
          f"{'ratio p50':>11}{'direct p95':>12}{'engine p95':>12}{'CPU direct':>12}{'CPU engine':>12}")
    routing, whole, ratios, cpu_added = [], [], [], []
    try:
        for _ in range(100):  # warm up connections, caches, the day's spend row
            call_direct()
            call_engine()
        for run in range(1, runs + 1):
            direct_ms, engine_ms, routing_ms, log_ms, direct_cpu, engine_cpu = [], [], [], [], [], []
            for _ in range(iterations):
                c0, t0 = time.thread_time(), time.perf_counter()
                call_direct()
                c1, t1 = time.thread_time(), time.perf_counter()
                log_spent.clear()
                call_engine()
                c2, t2 = time.thread_time(), time.perf_counter()
                direct_cpu.append((c1 - c0) * 1000)
                engine_cpu.append((c2 - c1) * 1000)
                direct_ms.append((t1 - t0) * 1000)
                engine_ms.append((t2 - t1) * 1000)
                log_ms.append(sum(log_spent) * 1000)
                routing_ms.append(engine_ms[-1] - log_ms[-1])
            d50, e50 = percentile(direct_ms, 50), percentile(engine_ms, 50)
            routing.append(percentile(routing_ms, 50) - d50)
            whole.append(e50 - d50)
            ratios.append(e50 / d50)
            cpu_d, cpu_e = statistics.median(direct_cpu), statistics.median(engine_cpu)
            cpu_added.append(cpu_e - cpu_d)
            print(f"{run:>4}{d50:12.3f}{e50:12.3f}{percentile(log_ms, 50):9.3f}{routing[-1]:+13.3f}{whole[-1]:+14.3f}"
                  f"{e50 / d50:10.2f}x{percentile(direct_ms, 95):12.3f}{percentile(engine_ms, 95):12.3f}"
                  f"{cpu_d:12.3f}{cpu_e:12.3f}")
    finally:
        AICall.objects.filter(company=company).delete()
        AISpendDay.objects.filter(company=company).delete()
        company.delete()
        stop_server()

    def spread(values, fmt="+.3f"):
        return " / ".join(format(v, fmt) for v in (min(values), statistics.median(values), max(values)))

    print(f"p50 overhead min / median / max over {runs} runs: routing {spread(routing)} ms (goal <= 1), "
          f"with call log {spread(whole)} ms (goal <= 2), ratio {spread(ratios, '.2f')}; "
          f"CPU added per call {spread(cpu_added)} ms; load average now "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
