import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isBenchResultFile, renderReport } from '../../bench/report.ts';
import type { BenchResult } from '../../bench/result.ts';
import { projectRoot } from '../../infra/stack/paths.ts';

const resultsDir = join(projectRoot, 'bench', 'results');
const committed = readdirSync(resultsDir).filter(isBenchResultFile);
/** Whether a committed result has an idle phase (recorded since issue 15) and --repeat. */
const measuredIdle = (file: string) => (JSON.parse(readFileSync(join(resultsDir, file), 'utf8')) as BenchResult).idle !== undefined;
const older = committed.filter((file) => !measuredIdle(file));
const newer = committed.filter(measuredIdle);
const scratch = mkdtempSync(join(tmpdir(), 'bench-report-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

type Run = BenchResult['runs'][number];

/** A result with what the benchmark records now, made from the newest committed dev result. */
function resultWithRepetitions(): BenchResult {
  const old = JSON.parse(
    readFileSync(
      join(
        resultsDir,
        committed
          .filter((f) => !f.includes('-cluster'))
          .sort()
          .at(-1)!,
      ),
      'utf8',
    ),
  ) as BenchResult;
  const runs: Run[] = [];
  for (const flow of ['orchestrated', 'choreographed'] as const) {
    const fixed = old.runs.find((r) => r.flow === flow && r.phase === 'fixed')!;
    const search = old.runs.filter((r) => r.flow === flow && r.phase === 'search');
    // Three fixed runs ending 5, 4.8 and 5.2 orders/s.
    for (const [i, throughputPerS] of [5, 4.8, 5.2].entries())
      runs.push({
        ...fixed,
        phase: 'fixed',
        repetition: i + 1,
        throughputPerS,
        processes: { ...fixed.processes, api: { ...fixed.processes.api!, cpuSeconds: i + 1 } },
      });
    runs.push(...search);
    const best = search.filter((r) => r.sustained).at(-1)!;
    // Three confirmation runs, one not sustained; the api process using 1, 2 and 3 CPU-s for the same orders.
    for (const [i, sustained] of [true, false, true].entries())
      runs.push({
        ...best,
        phase: 'confirm',
        repetition: i + 1,
        sustained,
        processes: { ...best.processes, api: { ...best.processes.api!, cpuSeconds: i + 1 } },
      });
  }
  return {
    ...old,
    repeat: 3,
    sustainedRule: { idleFactor: 3, floorMs: 250 },
    runs,
    idle: [
      {
        flow: 'orchestrated',
        kind: 'approved',
        orders: 50,
        confirmed: 50,
        toConfirmedMs: { count: 50, p50: 150, p95: 200, p99: 400, max: 400 },
        httpMs: { count: 50, p50: 10, p95: 20, p99: 30, max: 30 },
        audit: { passed: true, checks: [] },
      },
      {
        flow: 'choreographed',
        kind: 'approved',
        orders: 50,
        confirmed: 49,
        toConfirmedMs: { count: 49, p50: 55, p95: 90, p99: 200, max: 200 },
        httpMs: { count: 50, p50: 5, p95: 9, p99: 12, max: 12 },
        audit: { passed: true, checks: [] },
      },
    ],
  };
}

describe('the comparison report of older and newer results', () => {
  it.each(newer)("renders the committed result %s with its idle phase and issue 15's targets, met or not", async (file) => {
    const { markdown } = await renderReport(join(resultsDir, file));
    expect(markdown).not.toContain('not measured');
    expect(markdown).toContain("### Issue 15's targets");
    expect(markdown).toMatch(/\| choreographed \| ≥ 100\/s sustained \| [\d.]+\/s \(sustained in \d of \d runs at that rate\) \| (not )?met \|/);
    expect(markdown).toMatch(/\| orchestrated \| ≥ 80% of the no-op saga baseline \| \d+% \(/);
  });

  it.each(older)('renders the committed result %s, saying the idle phase and the repetitions were not measured then', async (file) => {
    const { markdown, charts } = await renderReport(join(resultsDir, file));
    expect(markdown).toContain('| orchestrated | not measured | – | – | p50 ≤ 120 ms | – |');
    expect(markdown).toContain('| choreographed | not measured | – | – | p50 ≤ 60 ms | – |');
    expect(markdown).toContain('this result is from before `--repeat`');
    expect(markdown).toContain('this result is from before the idle rule');
    expect(markdown).toContain('## CPU per order by process, at the highest sustained rate');
    expect(Object.keys(charts)).toEqual(['latency.svg', 'throughput.svg']);
  });

  it('shows the idle phase beside its targets, the median and spread of the repetitions, and CPU per order by process', async () => {
    const file = join(scratch, '2026-11-30T00-00-00-000Z.json');
    writeFileSync(file, JSON.stringify(resultWithRepetitions()));
    const { markdown } = await renderReport(file);
    expect(markdown).toContain('| orchestrated | 50 of 50 | 150 ms / 200 ms / 400 ms | 10 ms / 30 ms | p50 ≤ 120 ms: not met | 450 ms |');
    expect(markdown).toContain('| choreographed | 49 of 50 | 55 ms / 90 ms / 200 ms | 5 ms / 12 ms | p50 ≤ 60 ms: met | 250 ms |');
    expect(markdown).toMatch(/\| orchestrated \| fixed rate, 5\/s \| 3 of 3 \| 5\/s \(4\.8\/s–5\.2\/s\) \|/);
    expect(markdown).toMatch(/\| orchestrated \| highest sustained rate, [\d.]+\/s \(confirmation\) \| 2 of 3 \|/);
    expect(markdown).toContain("within 3× the flow's idle p50 below, and never less than 250 ms");
    expect(markdown).toMatch(/\*\*orchestrated\*\* at [\d.]+\/s, from 3 runs of \d+ s \(confirmation\):/);
    expect(markdown).toMatch(/\| api \| [\d.]+ \([\d.]+–[\d.]+\) \| \d+% \|/);
  });
});
