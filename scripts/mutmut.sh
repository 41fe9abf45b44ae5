#!/usr/bin/env bash
# Mutation testing of the four critical modules (issue 9 §5): webhook processing, the commander's
# autopilot/approval/kill switches, the AI budget and KPI evaluation. Config: [mutmut] in setup.cfg.
#
#   make mutmut                      # the critical functions below (hours on 2 shared cores: run batches)
#   make mutmut MUTANTS='chimera.ai.budget.*'   # any mutmut name globs
#
# It needs PostgreSQL (DATABASE_URL): the test database is kept between mutants (--reuse-db). Then
# scripts/mutation_score.py prints the score per module, and `.venv/bin/mutmut show NAME` a survivor's diff.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
MUTANTS=${MUTANTS:-}
if [ -z "$MUTANTS" ]; then
  W=commerce.services.webhooks
  M=chimera.commander.services.missions
  J=chimera.commander.services.jobs
  MUTANTS="$W.x_webhook_process__* $W.x_webhook_process_next__* $W.x__process_locked__* $W.x__stripe_order__*
    $W.x__stripe_company__* $W.x_stripe_checkout_session_completed__* $W.x_stripe_payment_intent_succeeded__*
    $W.x_webhook_store__* $W.x_stripe_charge_refunded__* $W.x_shopify_refunds_create__* $W.x__shopify_company__*
    $W.x__resolve_pending__*
    $M.x_missions_suggest__* $M.x_missions_auto_approve__* $M.x__role__* $M.x_mission_can_decide__* $M.x_mission_decider_require__* $M.x__decide__*
    $M.x_missions_start__* $M.x_mission_retry__* $M.x_mission_approve__* $M.x_mission_reject__* $M.x_mission_cancel__*
    $M.x_mission_escalate__* $M.x_play_set_under_review__* $M.x_company_autopilot_set__*
    $J.x_execution_blocked__* $J.x_global_halt_set__* $J.x_job_run__* $J.xǁBotContextǁguard__*
    $J.x_mission_continue__* $J.x__queue__* $J.x_mission_undo__* $J.x_missions_resume__* $J.x_jobs_mark_stuck__*
    $J.x__jobs_requeue_or_stuck__*
    $J.x__job_finish__* $J.x__job_succeed__* $J.x__job_skip__* $J.x__job_note__* $J.x_job_fail__*
    chimera.ai.budget.* kpis.services.evaluate.*"
fi
# shellcheck disable=SC2086 - the globs are mutmut's, not the shell's
set -f
exec "$BIN/mutmut" run --max-children "${MUTMUT_CHILDREN:-2}" $MUTANTS
