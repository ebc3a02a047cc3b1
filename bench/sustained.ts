/**
 * When a run "held" its offered rate (`sustained`): the rule the rate search stops on, written
 * once so the benchmark, its report and its tests agree on it.
 */

/** The latency side of the rule, from the run's idle phase and the options `--sustained-factor` and `--sustained-floor`. */
export interface SustainedRule {
  /** p50 of one order on an idle system, POST /orders to `confirmed` in the read model (ms); null when not measured, which turns the idle rule off. */
  idleP50Ms: number | null;
  /**
   * How many times the idle p50 a run's p50 to final state may be.
   * @default 3
   */
  idleFactor: number;
  /**
   * The latency limit is never below this (ms), so that a tiny idle p50 does not fail every run.
   * @default 250
   */
  floorMs: number;
}

/**
 * The default factor and floor. Factor 3: in an open-loop queue the time in system grows as
 * 1 / (1 - utilisation), so 3× the unloaded latency is the busiest resource about two-thirds busy;
 * past that, a small rise in rate multiplies the latency and a burst has no headroom left, which
 * is not a rate anyone would run a service at. It is also what the issue asked to stop calling
 * sustained: a choreographed p50 of 853 ms against 215-400 ms idle (2-4×). Floor 250 ms: half the
 * issue's p99 target at load (500 ms), so a run under the floor meets the latency asked anyway; it
 * covers the run's 50 ms polling of PostgreSQL (the idle phase polls every 10 ms) and the few
 * milliseconds of batching (Kafka linger and fetch waits, relay batches) that trade latency for
 * CPU, which an idle p50 near the 60 ms target would otherwise turn into a failure.
 */
export const defaultSustainedRule: Omit<SustainedRule, 'idleP50Ms'> = { idleFactor: 3, floorMs: 250 };

/** What the rule looks at in a run. */
export interface RunFigures {
  offeredRate: number;
  submitted: number;
  ended: number;
  throughputPerS: number;
  /** p50 to final state of the approved orders submitted in the first and the last quarter. */
  firstQuarterP50: number | null;
  lastQuarterP50: number | null;
  /** p50 of every order that ended, POST /orders to its final state in orders.orders. */
  p50ToFinalStateMs: number | null;
  auditPassed: boolean;
}

/** The highest p50 to final state a sustained run may have: the idle p50 times the factor, at least the floor; null when there is no idle p50. */
export function latencyLimitMs(rule: SustainedRule): number | null {
  return rule.idleP50Ms === null ? null : Math.max(rule.idleFactor * rule.idleP50Ms, rule.floorMs);
}

/**
 * Whether a run held its offered rate: every order ended; the orders that ended from the end of
 * the first quarter to the last submission came to ≥ 90% of the offered rate; the p50 of approved
 * orders submitted in the last quarter stayed within twice the first quarter's + 500 ms (latency
 * did not grow during the run); the p50 to final state stayed within {@link latencyLimitMs} (it
 * did not grow far beyond one order's on an idle system); the audit passed. `failed` says which
 * of these did not hold, for the log and the report.
 */
export function judgeSustained(run: RunFigures, rule: SustainedRule): { sustained: boolean; failed: string[] } {
  const failed: string[] = [];
  if (run.ended !== run.submitted) failed.push(`${run.submitted - run.ended} of ${run.submitted} orders never ended`);
  if (!(run.throughputPerS >= 0.9 * run.offeredRate)) failed.push(`${run.throughputPerS} orders/s ended, under 90% of ${run.offeredRate}/s`);
  if (run.firstQuarterP50 === null || run.lastQuarterP50 === null) failed.push('no approved order ended in the first or the last quarter');
  else if (run.lastQuarterP50 > 2 * run.firstQuarterP50 + 500)
    failed.push(`p50 of the last quarter ${Math.round(run.lastQuarterP50)} ms, over twice the first quarter's ${Math.round(run.firstQuarterP50)} ms + 500 ms`);
  const limit = latencyLimitMs(rule);
  if (limit !== null && (run.p50ToFinalStateMs === null || run.p50ToFinalStateMs > limit))
    failed.push(
      `p50 to final state ${run.p50ToFinalStateMs === null ? 'none' : `${Math.round(run.p50ToFinalStateMs)} ms`}, over ${Math.round(limit)} ms (${rule.idleFactor}× the idle p50 of ${rule.idleP50Ms} ms, at least ${rule.floorMs} ms)`,
    );
  if (!run.auditPassed) failed.push('the audit failed');
  return { sustained: failed.length === 0, failed };
}
