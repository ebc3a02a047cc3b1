import { describe, expect, it } from 'vitest';
import { defaultSustainedRule, judgeSustained, latencyLimitMs, type RunFigures } from '../../bench/sustained.ts';

const steady: RunFigures = {
  offeredRate: 20,
  submitted: 400,
  ended: 400,
  throughputPerS: 19.8,
  firstQuarterP50: 180,
  lastQuarterP50: 200,
  p50ToFinalStateMs: 190,
  auditPassed: true,
};
const rule = { ...defaultSustainedRule, idleP50Ms: 100 };

describe('the sustained rule', () => {
  it('sustains a run that ended every order at the offered rate with latency near the idle one', () => {
    expect(judgeSustained(steady, rule)).toEqual({ sustained: true, failed: [] });
  });

  it('does not sustain a run whose p50 grew past the factor times the idle p50, even though it kept up and did not grow during the run', () => {
    const judged = judgeSustained({ ...steady, firstQuarterP50: 800, lastQuarterP50: 850, p50ToFinalStateMs: 853 }, { ...rule, idleP50Ms: 215 });
    expect(judged.sustained).toBe(false);
    expect(judged.failed).toEqual(['p50 to final state 853 ms, over 645 ms (3× the idle p50 of 215 ms, at least 250 ms)']);
  });

  it('never puts the latency limit under the floor, so a tiny idle p50 does not fail every run', () => {
    expect(latencyLimitMs({ ...rule, idleP50Ms: 20 })).toBe(250);
    expect(judgeSustained({ ...steady, p50ToFinalStateMs: 240 }, { ...rule, idleP50Ms: 20 }).sustained).toBe(true);
    expect(judgeSustained({ ...steady, p50ToFinalStateMs: 260 }, { ...rule, idleP50Ms: 20 }).sustained).toBe(false);
  });

  it('applies only the other rules when no idle p50 was measured', () => {
    expect(latencyLimitMs({ ...rule, idleP50Ms: null })).toBeNull();
    expect(judgeSustained({ ...steady, firstQuarterP50: 5000, lastQuarterP50: 5200, p50ToFinalStateMs: 5100 }, { ...rule, idleP50Ms: null }).sustained).toBe(
      true,
    );
  });

  it("keeps today's rules: every order ended, 90% of the offered rate, latency not growing during the run, the audit passed", () => {
    const judged = judgeSustained(
      { ...steady, ended: 390, throughputPerS: 17.9, firstQuarterP50: 100, lastQuarterP50: 701, p50ToFinalStateMs: 200, auditPassed: false },
      { ...rule, idleP50Ms: null },
    );
    expect(judged).toEqual({
      sustained: false,
      failed: [
        '10 of 400 orders never ended',
        '17.9 orders/s ended, under 90% of 20/s',
        "p50 of the last quarter 701 ms, over twice the first quarter's 100 ms + 500 ms",
        'the audit failed',
      ],
    });
  });
});
