import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderSoakDoc, type SoakResult } from '../../bench/soak-report.ts';
import { shortRetentionEnv, soakStoreSpecs, topicOfLogFolder, type StoreSample } from '../../bench/soak-stores.ts';
import {
  latencyVerdict,
  memoryVerdict,
  soakVerdict,
  soakWindowBounds,
  storeVerdict,
  windowFigures,
  type RssSample,
  type SoakWindow,
  type StoreSpec,
} from '../../bench/soak-verdict.ts';

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
    expect(markdown).not.toContain('### Stores');
  });

  it("shows each store's rows and bytes after the warm-up, where retention is in and at the end, with its retention and whether it levelled off, and draws their sizes", async () => {
    const rss = Array.from({ length: 61 }, (_, i) => ({ atS: i * 30, rssMb: { api: 100 } }));
    const windows = [window(0, 30), window(120, 40), window(1740, 50)];
    const stores = storeSamples(sawTooth);
    const result: SoakResult = {
      profile: 'dev',
      flow: 'orchestrated',
      startedAt: '2026-11-30T20:00:00.000Z',
      finishedAt: '2026-11-30T20:31:00.000Z',
      machine: { cpus: 2, cpuModel: 'test', memoryGb: 8 },
      tracing: 'off',
      settings: { rate: 5, minutes: 30, warmupMinutes: 2, sampleSeconds: 10, windowSeconds: 60, drainS: 60, storeSampleSeconds: 30 },
      retention: {
        short: true,
        settings: { DEDUPE_RETENTION_MS: 420_000 },
        kept: ['READ_MODEL_RETENTION_MS'],
        kafkaRetentionCheckMs: 60_000,
        systemStartedHere: true,
      },
      storeSpecs: specs,
      storeSamples: stores,
      mix: [{ key: 'approved', weight: 100, scenario: 'approved card' }],
      pids: { api: 1 },
      submitted: 9000,
      ended: 9000,
      samples: rss,
      windows,
      audit: { passed: true, checks: [{ name: 'every order ended', passed: true, detail: '9000 ended', failures: 0 }] },
      verdict: soakVerdict({ samples: rss, windows, auditPassed: true, ...longSoak, stores: { samples: stores, specs } }),
    };
    const { markdown, charts } = await renderSoakDoc(result, join('bench', 'results', 'soak-2026-11-30T20-00-00-000Z.json'));
    expect(markdown).toContain('**Verdict: passed.**');
    expect(markdown).toContain('`DEDUPE_RETENTION_MS`=420000 (7 min)');
    expect(markdown).toContain('`READ_MODEL_RETENTION_MS`');
    expect(markdown).toMatch(
      /\| dedupe \| DEDUPE_RETENTION_MS 7 min \| \d+ rows, [\d.]+ MB \| \d+ rows, [\d.]+ MB \(from 8\.33 min\) \| \d+ rows, [\d.]+ MB \| [+-][\d.]+% \| yes \|/,
    );
    expect(markdown).toContain('| orders | kept | 1200 rows, 0.47 MB | – | ');
    expect(markdown).toContain('not judged (kept longer than the soak) |');
    expect(markdown).toContain('| table orders.orders | 1200 rows, 0.47 MB | 18000 rows, 7.03 MB |');
    expect(markdown).toContain('| topic orders.events | 10 MB | 10 MB |');
    expect(markdown).toContain('| data folder postgres/ | 200 MB | 200 MB |');
    expect(Object.keys(charts)).toContain('orchestrated-stores.svg');
    expect(markdown).toContain('](soak/orchestrated-stores.svg)');
    expect(charts['orchestrated-stores.svg']).toMatch(/^<svg[^>]*>/);
  });
});

/** A 30-minute soak with 2 minutes of warm-up, its stores sampled every 30 s. */
const longSoak = { warmupS: 120, durationS: 1800 };
const mib = 2 ** 20;

/** Store samples every 30 s over the long soak: the dedupe table's rows and bytes, and the topics' bytes, as functions of the time. */
function storeSamples(dedupe: (atS: number) => number, topics: (atS: number) => number = () => 10 * mib, withTemporal = true): StoreSample[] {
  const out: StoreSample[] = [];
  for (let atS = 0; atS <= 1800; atS += 30)
    out.push({
      atS,
      tables: {
        'messaging.processed_events': { rows: Math.round(dedupe(atS) / 100), bytes: dedupe(atS) },
        'messaging.outbox': { rows: 50, bytes: 64 * 1024 },
        'api.idempotency_keys': { rows: 900, bytes: 512 * 1024 },
        'api.dead_letter_replays': { rows: 0, bytes: 16 * 1024 },
        'orders.orders': { rows: atS * 10, bytes: atS * 4096 },
      },
      databases: { order_saga: 100 * mib + atS * 4096 },
      topics: { 'orders.events': topics(atS), __consumer_offsets: 1 * mib },
      dataDirs: { postgres: 200 * mib, kafka: 20 * mib, ...(withTemporal ? { temporal: 30 * mib } : {}) },
    });
  return out;
}

/** The dedupe table: 7 minutes' retention in 1-minute partitions swept every 20 s (in by 8 min 20 s); the orders kept. */
const specs: StoreSpec[] = [
  {
    name: 'dedupe',
    source: { kind: 'table', name: 'messaging.processed_events' },
    retention: 'DEDUPE_RETENTION_MS 7 min',
    retentionMs: 420_000,
    periodMs: 80_000,
  },
  { name: 'orders', source: { kind: 'table', name: 'orders.orders' }, retention: 'kept', retentionMs: null, periodMs: 60_000 },
];

/** 20 MB a minute from the start: what a store without enforcement draws. */
const linear = (atS: number) => (20 * mib * atS) / 60;
/** The same until the retention is in at 480 s, then a saw-tooth: a minute's partition gained, then dropped whole. */
const sawTooth = (atS: number) => (atS < 480 ? linear(atS) : linear(420) + ((atS - 480) % 60 < 30 ? 0 : linear(30)) + ((atS - 480) % 60) * 0.2 * mib);

describe('the soak judges a store with a retention shorter than the soak levelled off when it stays within 25% of its size once the retention is in', () => {
  it('finds a store that grows in a straight line not levelled off', () => {
    const verdict = storeVerdict(storeSamples(linear), specs, longSoak);
    expect(verdict.dedupe).toMatchObject({ bounded: true, settledAtS: 500, levelledOff: false });
    expect(verdict.dedupe!.why).toMatch(/^still growing: [\d.]+ → [\d.]+ MB, \d+ → \d+ rows$/);
    expect(verdict.dedupe!.growth).toBeGreaterThan(1);
  });

  it('finds a store that grows slowly but steadily (a quarter of the rate) not levelled off either', () => {
    const verdict = storeVerdict(
      storeSamples((atS) => (atS < 500 ? linear(atS) : linear(500) + linear(atS - 500) / 4)),
      specs,
      longSoak,
    );
    expect(verdict.dedupe!.levelledOff).toBe(false);
  });

  it('finds a saw-tooth (partitions dropped whole) levelled off', () => {
    const verdict = storeVerdict(storeSamples(sawTooth), specs, longSoak);
    expect(verdict.dedupe).toMatchObject({ bounded: true, levelledOff: true });
    expect(Math.abs(verdict.dedupe!.growth!)).toBeLessThan(0.25);
  });

  it('finds a plateau levelled off, not swayed by one sample at a spike', () => {
    const verdict = storeVerdict(
      storeSamples((atS) => (atS === 1770 ? 400 * mib : Math.min(linear(atS), 150 * mib))),
      specs,
      longSoak,
    );
    expect(verdict.dedupe).toMatchObject({ levelledOff: true, growth: 0, settled: { bytes: 150 * mib }, end: { bytes: 150 * mib } });
  });

  it('reports a store kept longer than the soak without judging it, however it grows', () => {
    const verdict = storeVerdict(storeSamples(sawTooth), specs, longSoak);
    expect(verdict.orders).toMatchObject({ bounded: false, settledAtS: null, settled: null, levelledOff: null });
    expect(verdict.orders!.start).toEqual({ rows: 1200, bytes: 120 * 4096 });
    expect(verdict.orders!.end!.bytes).toBeGreaterThan(verdict.orders!.start!.bytes);
  });

  it('fails a bounded store when the soak is too short to tell a plateau from a straight line', () => {
    // In by 8 min 20 s of a 12-minute soak: a straight line would grow by less than half between the two spans.
    const short = storeSamples(sawTooth).filter((s) => s.atS <= 720);
    const verdict = storeVerdict(short, specs, { warmupS: 120, durationS: 720 });
    expect(verdict.dedupe!.levelledOff).toBe(false);
    expect(verdict.dedupe!.why).toMatch(/^the soak is too short to see it level off/);
  });

  it('fails the soak when a bounded store keeps growing, and passes it when it levels off', () => {
    const rss = Array.from({ length: 61 }, (_, i) => ({ atS: i * 30, rssMb: { api: 100 } }));
    const windows = [window(0, 30), window(120, 40), window(1740, 50)];
    const base = { samples: rss, windows, auditPassed: true, ...longSoak };
    expect(soakVerdict({ ...base, stores: { samples: storeSamples(sawTooth), specs } }).passed).toBe(true);
    expect(soakVerdict({ ...base, stores: { samples: storeSamples(linear), specs } }).passed).toBe(false);
    expect(soakVerdict(base).stores).toBeUndefined();
  });
});

describe("the soak's short retention and its stores", () => {
  it('scales the retentions to the soak: for 30 minutes, topics 5 min in 1-minute segments, dedupe 7 min, outbox 2 min, a sweep every 20 s', () => {
    expect(shortRetentionEnv(30)).toEqual({
      KAFKA_TOPIC_RETENTION_MS: 300_000,
      KAFKA_TOPIC_SEGMENT_MS: 60_000,
      DEDUPE_RETENTION_MS: 420_000,
      DEDUPE_PARTITION_MS: 60_000,
      OUTBOX_RETENTION_MS: 120_000,
      API_IDEMPOTENCY_KEY_TTL_MS: 300_000,
      API_DEAD_LETTER_REPLAYS_RETENTION_MS: 300_000,
      RETENTION_SWEEP_INTERVAL_MS: 20_000,
      TEMPORAL_NAMESPACE_RETENTION_MS: 300_000,
      PAYMENT_VAULT_RETENTION_MS: 300_000,
      STACK_LOG_MAX_MB: 8,
    });
  });

  it('keeps dedupe rows at least as long as a message can stay in its topic, whatever the length of the soak', () => {
    for (const minutes of [1, 4, 10, 30, 120]) {
      const env = shortRetentionEnv(minutes);
      expect(env.DEDUPE_RETENTION_MS).toBeGreaterThanOrEqual(env.KAFKA_TOPIC_RETENTION_MS + env.KAFKA_TOPIC_SEGMENT_MS);
      const { STACK_LOG_MAX_MB: _size, ...durations } = env;
      for (const ms of Object.values(durations)) expect(ms).toBeGreaterThanOrEqual(1000);
    }
  });

  it('judges, for a 30-minute soak with short retention, the dedupe rows, outbox, Idempotency-Keys, replays, topics and Temporal, not the records', () => {
    const verdict = storeVerdict(storeSamples(sawTooth), soakStoreSpecs(shortRetentionEnv(30), 60_000), longSoak);
    expect(
      Object.entries(verdict)
        .filter(([, s]) => s.bounded)
        .map(([name]) => name),
    ).toEqual([
      'messaging.processed_events',
      'messaging.outbox',
      'api.idempotency_keys',
      'api.dead_letter_replays',
      'Kafka topics (event and dead-letter)',
      'Temporal data folder',
    ]);
    expect(verdict['orders.orders']!.levelledOff).toBeNull();
    expect(verdict['messaging.processed_events']).toMatchObject({ settledAtS: 500, levelledOff: true });
  });

  it('does not judge a store this system does not have (the cluster profile has no Temporal folder)', () => {
    const verdict = storeVerdict(storeSamples(sawTooth, undefined, false), soakStoreSpecs(shortRetentionEnv(30), 60_000), longSoak);
    expect(verdict['Temporal data folder']).toMatchObject({ bounded: false, levelledOff: null, why: 'not on this system' });
  });

  it("reads a topic's name from its partitions' folders in Kafka's log folder", () => {
    expect(topicOfLogFolder('orders.events-2')).toBe('orders.events');
    expect(topicOfLogFolder('payments.dlq-0.4a5b6c7d8e9f-delete')).toBe('payments.dlq');
    expect(topicOfLogFolder('__consumer_offsets-7')).toBe('__consumer_offsets');
    expect(topicOfLogFolder('meta.properties')).toBeUndefined();
  });
});
