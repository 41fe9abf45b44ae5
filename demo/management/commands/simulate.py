"""`simulate`: the shop simulator (see demo/simulator.py and the README's "Shop simulator")."""

import json
import logging
import sys
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from demo.policies import POLICIES
from demo.scenario import ScenarioError, scenario_load, scenario_path
from demo.simulator import WARMUP_DAYS, SimulationError, churn_model_summary, report_chart, run_one, simulate


@contextmanager
def _logs_off(*, up_to: int):
    """Log messages at `up_to` and below are dropped while it lasts (logging.NOTSET: none)."""
    previous = logging.root.manager.disable
    logging.disable(max(previous, up_to))
    try:
        yield
    finally:
        logging.disable(previous)


def playbook_keys() -> set[str]:
    from chimera.commander.services.playbook import playbook_read  # noqa: PLC0415

    return {p["key"] for p in playbook_read().plays}


class Command(BaseCommand):
    help = "Run the real commander loop on a simulated shop whose true play effects are known."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--scenario", help="a scenario in configs/scenarios/ (default, seasonal-shock, fatigue)")
        source.add_argument("--scenario-file", help="a scenario YAML file")
        parser.add_argument("--days", type=int, default=180)
        parser.add_argument("--seed", type=int, default=1, help="the first seed")
        parser.add_argument("--seeds", type=int, default=1, help="how many seeds (seed, seed+1, ...)")
        parser.add_argument("--policy", choices=POLICIES, default="learn")
        parser.add_argument("--compare", action="store_true", help="run every policy on the same seeds")
        parser.add_argument("--cycles-per-day", type=int, default=1)
        parser.add_argument("--warmup-days", type=int, default=WARMUP_DAYS,
                            help="days of shop history before day 0 (the 30-day KPIs need 30)")
        parser.add_argument("--json", dest="json_path", help="write the report (JSON) here")
        parser.add_argument("--save", action="store_true",
                            help="keep the report and its chart for the dashboard (/simulations/)")
        parser.add_argument("--keep", metavar="SLUG", default="",
                            help="keep the run as company SLUG, its history ending today (one policy, one seed)")
        parser.add_argument("--chart", help="draw cumulative net revenue and regret here (PNG)")

    def handle(self, *args, verbosity=1, **options):
        # A run logs every simulated job and task at INFO (thousands of lines): shown from -v 2 only.
        with _logs_off(up_to=logging.INFO if verbosity < 2 else logging.NOTSET):
            self._simulate(**options)

    def _simulate(self, *, scenario, scenario_file, days, seed, seeds, policy, compare, cycles_per_day,
                  warmup_days, json_path, chart, keep, save, **options):
        if days < 1 or seeds < 1 or cycles_per_day < 1 or warmup_days < 0:
            raise CommandError("--days, --seeds and --cycles-per-day must be at least 1, --warmup-days at least 0")
        path = Path(scenario_file) if scenario_file else scenario_path(scenario)
        if scenario and not path.exists():
            raise CommandError(f"no scenario {scenario!r} in {path.parent}")
        try:
            loaded = scenario_load(path=path, known_plays=playbook_keys())
        except ScenarioError as exc:
            raise CommandError("invalid scenario:\n" + "\n".join(f"  {p}" for p in exc.problems)) from exc
        policies = list(POLICIES) if compare else [policy]
        if keep:
            if compare or seeds != 1:
                raise CommandError("--keep keeps one run: one --policy and one seed")
            try:
                result = run_one(scenario=loaded, policy=policy, seed=seed, days=days, cycles_per_day=cycles_per_day,
                                 warmup_days=warmup_days, keep_slug=keep)
            except SimulationError as exc:
                raise CommandError(str(exc)) from exc
            missions = ", ".join(f"{k} {v}" for k, v in sorted(result.approved.items())) or "none"
            self.stdout.write(f"Kept company '{keep}': {days} simulated days ending today, net revenue "
                              f"{result.net_revenue:,.2f}; missions run: {missions}; "
                              f"evidence records: {len(result.evidence)}")
            self.stdout.write(churn_text(churn_model_summary([result])))
            return
        try:
            report, timing = simulate(scenario=loaded, policies=policies, seeds=list(range(seed, seed + seeds)),
                                      days=days, cycles_per_day=cycles_per_day, warmup_days=warmup_days,
                                      progress=lambda line: self.stderr.write(line))
        except SimulationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report_text(report))
        total = timing.get("total", 0)
        if total:
            self.stderr.write(f"time: {total:.1f}s, cycle {timing['cycle'] / total:.0%}, shop model and writes "
                              f"{timing['shop'] / total:.0%}, policy and jobs {timing['policy_and_jobs'] / total:.0%}, "
                              f"churn model check {timing.get('churn_model', 0):.1f}s")
        if json_path:
            text = json.dumps(report, indent=2, sort_keys=False)
            if json_path == "-":
                sys.stdout.write(text + "\n")
            else:
                Path(json_path).write_text(text + "\n")
        if chart:
            report_chart(report, chart)
        if save:
            from demo.services import simulation_report_save  # noqa: PLC0415

            kept = simulation_report_save(report=report)
            self.stdout.write(f"Report saved: /simulations/{kept.pk}/")


def report_text(report: dict) -> str:
    lines = [f"Scenario {report['scenario']}: {report['days']} days x {len(report['seeds'])} seed(s)",
             f"{'policy':<8} {'net revenue':>12} {'lift vs none (95% interval)':>34} {'oracle share':>12} "
             f"{'evidence right':>14}  harmful runs"]
    for row in report["policies"]:
        lift = row["lift_vs_none"]
        lift_text = f"{lift['mean']:,.0f} [{lift['low']:,.0f}, {lift['high']:,.0f}]" if lift else "n/a"
        share = "n/a" if row["oracle_share"] is None else f"{row['oracle_share']:.0%}"
        acc = row["evidence_accuracy"]
        acc_text = "n/a" if acc["share"] is None else f"{acc['share']:.0%} of {acc['judged']}"
        harm = ", ".join(f"{k} {v['mean']:g} (max {v['max']})" for k, v in row["harmful_runs"].items()) or "none"
        lines.append(f"{row['policy']:<8} {row['net_revenue']:>12,.0f} {lift_text:>34} {share:>12} {acc_text:>14}"
                     f"  {harm}")
    lines += [f"{row['policy']:<8} {churn_text(row['churn_model'])}" for row in report["policies"]]
    return "\n".join(lines)


def churn_text(churn: dict) -> str:
    """One line: the churn model's holdout check on the simulated shop (a run's or a policy's mean)."""
    if churn.get("mae") is None:
        return f"churn model: {churn.get('note') or 'not checked'}"
    return (f"churn model: fit before the last {churn['holdout_days']} days, MAE {churn['mae']} purchases per "
            f"customer over {churn['customers']:g} customers; predicted {churn['predicted']:g}, "
            f"bought {churn['actual']:g}")
