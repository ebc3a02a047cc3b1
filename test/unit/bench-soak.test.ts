import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderSoakDoc, type SoakResult } from '../../bench/soak-report.ts';
import { latencyVerdict, memoryVerdict, soakVerdict, soakWindowBounds, windowFigures, type RssSample, type SoakWindow } from '../../bench/soak-verdict.ts';

/** A 10-minute soak with 2 minutes of warm-up, sampled every 10 s. */
const soak = { warmupS: 120, durationS: 600 };

/** Samples every 10 s from 0 to 600 s, each process's RSS given by a function of the time. */
function samples(rss: Record<string, (atS: number) => number | null>): RssSample[] {
  const out: RssSample[] = [];
  for (let atS = 0; atS <= 600; atS += 10) out.push({ atS, rssMb: Object.fromEntries(Object.entries(rss).map(([name, at]) => [name, at(atS)])) });
  return out;
}

/** A process whose RSS rises steadily after the warm-up by `share` of its 100 MB at the end. */
const growingBy = (share: number) => (atS: number) => (atS < 120 ? 60 + atS / 4 : 100 + (share * 100 * (atS - 120)) / 480);

const window = (fromS: number, p50Ms: number | null, warmup = fromS < 120): SoakWindow => ({
  fromS,
  toS: fromS + 60,
  warmup,
  submitted: 600,
  ended: 600,
  throughputPerS: 10,
  p50Ms,
  p99Ms: p50Ms === null ? null : p50Ms * 3,
});

describe('the soak judges memory flat when no process grew by 10% after the warm-up', () => {
  it('finds a process that grew 15% after the warm-up not flat, and one that grew 5% flat', () => {
    const verdict = memoryVerdict(samples({ api: growingBy(0.15), worker: growingBy(0.05) }), soak);
    expect(verdict.api!.flat).toBe(false);
    expect(verdict.api!.growth).toBeGreaterThan(0.1);
    expect(verdict.api!.why).toMatch(/^grew 1\d\.\d%$/);
    expect(verdict.worker!.flat).toBe(true);
    expect(verdict.worker!.growth).toBeGreaterThan(0);
    expect(verdict.worker!.growth).toBeLessThan(0.1);
  });

  it('takes the medians of the first minute after the warm-up and of the last two minutes', () => {
    // 100 MB from 120 s to 180 s, 140 MB from 480 s on: 40% growth, whatever lies between.
    const verdict = memoryVerdict(samples({ kafka: (atS) => (atS < 180 ? 100 : atS < 480 ? 300 : 140) }), soak);
    expect(verdict.kafka).toEqual({ startMb: 100, endMb: 140, growth: 0.4, flat: false, why: 'grew 40%' });
  });

  it('leaves the warm-up samples out, however much the process grew while warming up', () => {
    // From 20 MB to 100 MB during the warm-up, then flat.
    const verdict = memoryVerdict(samples({ 'temporal-worker': (atS) => (atS < 120 ? 20 + (atS * 80) / 120 : 100) }), soak);
    expect(verdict['temporal-worker']).toEqual({ startMb: 100, endMb: 100, growth: 0, flat: true });
  });

  it('is not swayed by one sample taken at a spike (a garbage collection about to run)', () => {
    const verdict = memoryVerdict(samples({ api: (atS) => (atS === 590 || atS === 130 ? 400 : 100) }), soak);
    expect(verdict.api).toEqual({ startMb: 100, endMb: 100, growth: 0, flat: true });
  });

  it('finds a process that restarted (or went away) after the warm-up not flat, its RSS having started over', () => {
    const verdict = memoryVerdict(samples({ relay: (atS) => (atS === 300 ? null : 100) }), soak);
    expect(verdict.relay!.flat).toBe(false);
    expect(verdict.relay!.why).toBe('gone or restarted after the warm-up');
  });

  it('does not mind a process that restarted during the warm-up', () => {
    const verdict = memoryVerdict(samples({ relay: (atS) => (atS === 60 ? null : 100) }), soak);
    expect(verdict.relay!.flat).toBe(true);
  });
});

describe('the soak judges latency flat when the last window p50 is at most twice the first post-warm-up one plus 100 ms', () => {
  it('compares the last window with the first one after the warm-up, not with a warm-up window', () => {
    const windows = [window(0, 20), window(60, 25), window(120, 100), window(180, 150), window(540, 300)];
    expect(latencyVerdict(windows)).toEqual({ firstP50Ms: 100, lastP50Ms: 300, limitMs: 300, flat: true });
  });

  it('finds a p50 above twice the first plus 100 ms not flat', () => {
    const windows = [window(0, 20), window(120, 100), window(540, 301)];
    expect(latencyVerdict(windows)).toMatchObject({ flat: false, limitMs: 300, why: "last window's p50 301 ms above 300 ms" });
  });

  it('is not flat when no order of the last window ended', () => {
    expect(latencyVerdict([window(120, 100), window(540, null)]).flat).toBe(false);
  });
});

describe('the soak verdict', () => {
  const flatSamples = samples({ api: () => 100, kafka: growingBy(0.02) });
  const flatWindows = [window(0, 30), window(120, 40), window(540, 50)];

  it('passes when memory and latency are flat and the audit passed', () => {
    expect(soakVerdict({ samples: flatSamples, windows: flatWindows, auditPassed: true, ...soak }).passed).toBe(true);
  });

  it('fails when the audit failed, when one process grew, or when latency grew', () => {
    expect(soakVerdict({ samples: flatSamples, windows: flatWindows, auditPassed: false, ...soak }).passed).toBe(false);
    const grown = samples({ api: () => 100, kafka: growingBy(0.15) });
    expect(soakVerdict({ samples: grown, windows: flatWindows, auditPassed: true, ...soak }).passed).toBe(false);
    expect(soakVerdict({ samples: flatSamples, windows: [window(120, 40), window(540, 181)], auditPassed: true, ...soak }).passed).toBe(false);
  });
});

describe("the soak's windows", () => {
  it('cut the load every window, the last one shorter, and mark those that start in the warm-up', () => {
    expect(soakWindowBounds(150, 60, 60)).toEqual([
      { fromS: 0, toS: 60, warmup: true },
      { fromS: 60, toS: 120, warmup: false },
      { fromS: 120, toS: 150, warmup: false },
    ]);
  });

  it("count each window's own orders and their latency, and the orders that ended during it", () => {
    const orders = [
      { submittedAt: 1_000, terminalAt: 1_100 },
      { submittedAt: 30_000, terminalAt: 30_300 },
      { submittedAt: 59_900, terminalAt: 61_000 },
      { submittedAt: 60_000 },
      { submittedAt: 90_000, terminalAt: 90_500 },
    ];
    const [first, second] = windowFigures(orders, soakWindowBounds(120, 60, 0));
    expect(first).toMatchObject({ submitted: 3, ended: 3, p50Ms: 300, p99Ms: 1100, throughputPerS: Math.round((2 / 60) * 10) / 10 });
    expect(second).toMatchObject({ submitted: 2, ended: 1, p50Ms: 500 });
    expect(second!.throughputPerS).toBe(Math.round((2 / 60) * 10) / 10);
  });
});

describe('docs/soak-<flow>.md', () => {
  it("shows each process's memory and growth, each window's latency and the verdict, and draws the RSS and latency charts", async () => {
    // Kafka from 100 MB to 115 MB for the last two minutes.
    const rss = samples({ api: () => 100, kafka: (atS) => (atS < 480 ? 100 : 115) });
    const windows = [window(0, 30), window(60, 30), window(120, 40), window(540, 50)];
    const result: SoakResult = {
      profile: 'dev',
      flow: 'choreographed',
      startedAt: '2026-11-29T22:30:00.000Z',
      finishedAt: '2026-11-29T22:41:00.000Z',
      machine: { cpus: 2, cpuModel: 'test', memoryGb: 8 },
      tracing: 'off',
      settings: { rate: 25, minutes: 10, warmupMinutes: 2, sampleSeconds: 10, windowSeconds: 60, drainS: 60 },
      mix: [{ key: 'approved', weight: 100, scenario: 'approved card' }],
      pids: { api: 1, kafka: 2 },
      submitted: 15_000,
      ended: 15_000,
      samples: rss,
      windows,
      audit: { passed: true, checks: [{ name: 'every order ended', passed: true, detail: '15000 ended', failures: 0 }] },
      verdict: soakVerdict({ samples: rss, windows, auditPassed: true, ...soak }),
    };
    const { markdown, charts } = await renderSoakDoc(result, join('bench', 'results', 'soak-2026-11-29T22-30-00-000Z.json'));
    expect(markdown).toContain('**Verdict: FAILED (kafka: grew 15%).**');
    expect(markdown).toContain('| api | 100 | 100 | +0% | flat |');
    expect(markdown).toContain('| kafka | 100 | 115 | +15% | **not flat**: grew 15% |');
    expect(markdown).toContain('| 0–1 | warm-up | 600 | 600 | 10 | 30 ms | 90 ms |');
    expect(markdown).toContain('| 9–10 |  | 600 | 600 | 10 | 50 ms | 150 ms |');
    expect(markdown).toContain('limit 180 ms: flat');
    expect(Object.keys(charts)).toEqual([`${result.flow}-rss.svg`, `${result.flow}-latency.svg`]);
    expect(markdown).toContain(`](soak/${result.flow}-rss.svg)`);
    for (const svg of Object.values(charts)) expect(svg).toMatch(/^<svg[^>]*>/);
  });
});
