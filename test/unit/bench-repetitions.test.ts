import { describe, expect, it } from 'vitest';
import { cpuPerOrderByProcess, medianRun } from '../../bench/report.ts';
import { medianAndSpread } from '../../bench/repetitions.ts';

describe('median and spread of repeated runs', () => {
  it('gives the middle value of an odd number of runs with the lowest and the highest', () => {
    expect(medianAndSpread([24.1, 19.8, 22.5])).toEqual({ median: 22.5, min: 19.8, max: 24.1, count: 3 });
  });

  it('gives the mean of the middle two of an even number of runs', () => {
    expect(medianAndSpread([0.02, 0.01, 0.015, 0.03])).toEqual({ median: 0.0175, min: 0.01, max: 0.03, count: 4 });
  });

  it('leaves out the runs that lack the figure, and has nothing when none has it', () => {
    expect(medianAndSpread([null, 300, undefined])).toEqual({ median: 300, min: 300, max: 300, count: 1 });
    expect(medianAndSpread([null, undefined])).toBeUndefined();
  });

  it('shows the repetition whose p50 to final state is the median, a run without one counting as the slowest', () => {
    const run = (name: string, p50: number | undefined) => ({
      name,
      latencyMs: { toFinalState: p50 === undefined ? undefined : { count: 1, p50, p95: p50, p99: p50, max: p50 } },
    });
    expect(medianRun([run('a', 300), run('b', 100), run('c', 200)])).toMatchObject({ name: 'c' });
    expect(medianRun([run('a', undefined), run('b', 100), run('c', 200)])).toMatchObject({ name: 'c' });
    expect(medianRun([])).toBeUndefined();
  });
});

describe('CPU per order broken down by process', () => {
  const usage = (cpuSeconds: number) => ({ cpuSeconds, cpuPercentOfOneCore: 0, cpuPercentWhileSubmitting: null, rssMb: 0 });

  it("divides each process's CPU by the orders submitted, busiest first, with its share of all processes", () => {
    const byProcess = cpuPerOrderByProcess([
      { submitted: 100, processes: { api: usage(1), postgres: usage(3) } },
      { submitted: 200, processes: { api: usage(4), postgres: usage(4) } },
      { submitted: 100, processes: { api: usage(2), postgres: usage(3) } },
    ]);
    expect(byProcess).toEqual([
      { name: 'postgres', perOrder: { median: 0.03, min: 0.02, max: 0.03, count: 3 }, share: 0.6 },
      { name: 'api', perOrder: { median: 0.02, min: 0.01, max: 0.02, count: 3 }, share: 0.4 },
    ]);
  });

  it('leaves a process out of a run in which it was not measured (restarted during it)', () => {
    const byProcess = cpuPerOrderByProcess([
      { submitted: 100, processes: { choreography: null, kafka: usage(1) } },
      { submitted: 100, processes: { choreography: usage(3), kafka: usage(1) } },
    ]);
    expect(byProcess.find((p) => p.name === 'choreography')).toEqual({
      name: 'choreography',
      perOrder: { median: 0.03, min: 0.03, max: 0.03, count: 1 },
      share: 0.75,
    });
    expect(byProcess.find((p) => p.name === 'kafka')?.perOrder.count).toBe(2);
  });
});
