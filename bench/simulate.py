"""Benchmark: the simulator as a benchmark of the whole loop.

    python bench/simulate.py [--scenario default] [--days 180] [--seed 1] [--policies learn,static,none,random,oracle]

Uses its own PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/autonomax_bench_sim), created and migrated if needed. Every run is a
sandbox rolled back at the end, so re-runs are repeatable.

Prints per policy: simulated days per second, and where the time and the queries go: the commander
cycle (ingest, evaluate, suggest, evidence), the policy with the jobs it starts (bots, emails, the
edges), and the shop model with its writes. Query counts are exact; seconds depend on the machine's load.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomax.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL",
                                            "postgres://postgres@127.0.0.1:5432/autonomax_bench_sim")


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--policies", default="learn,static,none,random,oracle")
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])

    import django

    django.setup()
    from django.core.management import call_command

    from demo.management.commands.simulate import playbook_keys
    from demo.scenario import scenario_load, scenario_path
    from demo.simulator import WARMUP_DAYS, run_one

    call_command("migrate", verbosity=0)
    scenario = scenario_load(path=scenario_path(args.scenario), known_plays=playbook_keys())
    print(f"scenario {args.scenario}: {args.days} days (+{WARMUP_DAYS} warm-up) per policy, seed {args.seed}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    header = (f"{'policy':<8}{'days/s':>8}{'total s':>9}{'cycle':>7}{'jobs':>7}{'shop':>7}{'setup':>7}"
              f"{'q/cycle':>9}{'q/jobs':>8}{'q/shop-day':>11}{'contacts':>10}")
    print(header)
    totals = {"total": 0.0, "cycle": 0.0, "policy_and_jobs": 0.0, "shop": 0.0, "setup": 0.0}
    started = time.perf_counter()
    for policy in args.policies.split(","):
        t = run_one(scenario=scenario, policy=policy, seed=args.seed, days=args.days).timing
        for key in totals:
            totals[key] += t[key]
        cycles = max(1, t["cycles"])
        print(f"{policy:<8}{args.days / t['total']:>8.2f}{t['total']:>9.1f}{t['cycle'] / t['total']:>7.0%}"
              f"{t['policy_and_jobs'] / t['total']:>7.0%}{t['shop'] / t['total']:>7.0%}{t['setup'] / t['total']:>7.0%}"
              f"{t['queries_cycle'] / cycles:>9.1f}{t['queries_policy_and_jobs'] / cycles:>8.1f}"
              f"{t['queries_shop'] / (args.days + WARMUP_DAYS):>11.1f}{t['contacts']:>10}")
    total = totals["total"]
    print(f"all policies: {time.perf_counter() - started:.1f}s; cycle {totals['cycle'] / total:.0%}, policy and jobs "
          f"{totals['policy_and_jobs'] / total:.0%}, shop model and writes {totals['shop'] / total:.0%}, "
          f"sandbox setup {totals['setup'] / total:.0%}")


if __name__ == "__main__":
    main()
