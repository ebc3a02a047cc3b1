/**
 * The soak run's figures and verdict (bench/soak.ts), as pure functions so the rules are written
 * once and held by test/unit/bench-soak.test.ts: memory of every process flat after the warm-up,
 * latency flat, audit passed (issue 15).
 */
import { percentiles } from './measure.ts';
import { medianAndSpread } from './repetitions.ts';
import { storeSize, type StoreSample, type StoreSource } from './soak-stores.ts';

/** Resident memory of every process of the system at one moment of the soak. */
export interface RssSample {
  /** Seconds since the soak's first order was due. */
  atS: number;
  /** MB by process name; null: the process was gone, or ran under another pid than at the start (it restarted). */
  rssMb: Record<string, number | null>;
}

/** An order as the soak times it: ms since the soak's first order was due. */
export interface TimedOrder {
  submittedAt: number;
  /** When its final state was seen in orders.orders; undefined: it never ended. */
  terminalAt?: number;
}

/** The figures of one window of the load (one minute by default). */
export interface SoakWindow {
  fromS: number;
  toS: number;
  /** Inside the warm-up: shown, never judged. */
  warmup: boolean;
  /** Orders submitted in the window, and how many of them ended. */
  submitted: number;
  ended: number;
  /** Orders (of any window) that reached their final state during the window, per second. */
  throughputPerS: number;
  /** p50/p99 to final state of the window's orders that ended (ms); null when none did. */
  p50Ms: number | null;
  p99Ms: number | null;
}

/**
 * Memory is flat when each process's RSS grew by less than this from the first minute after the
 * warm-up to the last two minutes of the load (the "< 10% growth").
 */
export const memoryGrowthLimit = 0.1;
/** The samples the start of the judged part is taken from: this many seconds from the end of the warm-up. */
export const memoryStartSpanS = 60;
/** The samples the end is taken from: the load's last this many seconds. */
export const memoryEndSpanS = 120;

/**
 * Latency is flat when the last window's p50 to final state is at most `factor` × the first
 * window after the warm-up's p50 + `slackMs`. 2×, as in the sustained rule's quarters
 * (bench/sustained.ts): a queue that builds up over the soak doubles its latency within minutes,
 * while the noise of a shared 2-core box does not. The slack is 100 ms, not the sustained rule's
 * 500: over ten minutes there is time enough for a slow leak to show, and a p50 of tens of ms
 * that wanders by a poll interval or two (the driver polls PostgreSQL every 50 ms) is not growth.
 */
export const latencyFlatRule = { factor: 2, slackMs: 100 };

/** One process's memory over the judged part of the soak. */
export interface ProcessMemoryVerdict {
  /** Median RSS of the first minute's samples after the warm-up, and of the last two minutes' (MB). */
  startMb: number | null;
  endMb: number | null;
  /** endMb / startMb - 1; null without both. */
  growth: number | null;
  flat: boolean;
  /** Why it is not flat; absent when it is. */
  why?: string;
}

/** The soak's verdict: every part must hold. */
export interface SoakVerdict {
  memory: Record<string, ProcessMemoryVerdict>;
  latency: { firstP50Ms: number | null; lastP50Ms: number | null; limitMs: number | null; flat: boolean; why?: string };
  /** Every store the soak followed (absent in results of soaks before issue 19); only the bounded ones are judged. */
  stores?: Record<string, StoreVerdict>;
  auditPassed: boolean;
  passed: boolean;
}

/** A store the soak follows, and the retention that should bound it. */
export interface StoreSpec {
  name: string;
  source: StoreSource;
  /** The retention as configured, in words (e.g. "DEDUPE_RETENTION_MS 7 min, partitions of 1 min"). */
  retention: string;
  /** How long the store keeps what it holds; null: as long as the business needs (longer than any soak), not judged. */
  retentionMs: number | null;
  /**
   * How much longer than the retention something can stay: the partition or segment width (a
   * partition or segment goes whole, once its newest row is past the retention) plus the interval
   * of the sweep (or of Kafka's retention check). Also the period of the saw-tooth the store draws.
   */
  periodMs: number;
}

/** Rows and bytes of a store at one point of the soak (medians of the samples of a span); rows null for stores without rows. */
export interface StoreFigures {
  rows: number | null;
  bytes: number;
}

/** One store over the soak. */
export interface StoreVerdict {
  retention: string;
  retentionMs: number | null;
  /** Whether its retention is shorter than the soak: only then is it judged. */
  bounded: boolean;
  /** When the retention should have kicked in (s into the soak): retention + period; null when not bounded. */
  settledAtS: number | null;
  /** The first sample after the warm-up, the medians of the span from settledAtS, and of the load's last span. */
  start: StoreFigures | null;
  settled: StoreFigures | null;
  end: StoreFigures | null;
  /** end / settled - 1, of the bytes; null without both. */
  growth: number | null;
  /** null: not judged (not bounded by a retention shorter than the soak). */
  levelledOff: boolean | null;
  why?: string;
}

/**
 * A bounded store levelled off when, past the point its retention should have kicked in, its size
 * stays within `growthLimit` (plus a small absolute slack, see below) of its size at that point:
 * the median of the samples over the span of the load's end at most 1.25 × the median over the
 * span from that point (the span: a minute, or the store's period when longer, so that both
 * medians cover a whole tooth of the saw-tooth that dropping partitions or segments draws). Both
 * bytes and rows (of a table) must hold. The slack (256 KiB, 100 rows) keeps a store of a few
 * pages from failing on one more page. So that a store that grows in a straight line cannot pass,
 * the end span's middle must lie at least 1.5 × as far into the soak as the settled span's: a
 * store growing linearly from nothing then grows by 50% or more between the two, twice the limit.
 * A soak too short for that fails the store rather than passing it unseen.
 */
export const storeLevelRule = { growthLimit: 0.25, minSpanS: 60, endToSettledRatio: 1.5, slackBytes: 256 * 1024, slackRows: 100 };

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 100) / 100;
const medianOf = (values: (number | null)[]) => medianAndSpread(values)?.median ?? null;

/** The medians of a store's samples in [fromS, toS]; null when none has it. */
function figuresIn(samples: StoreSample[], source: StoreSource, fromS: number, toS: number): StoreFigures | null {
  const sizes = samples.filter((s) => s.atS >= fromS && s.atS <= toS).flatMap((s) => storeSize(s, source) ?? []);
  const bytes = medianOf(sizes.map((s) => s.bytes));
  return bytes === null ? null : { rows: medianOf(sizes.map((s) => s.rows)), bytes };
}

/** Each store's verdict by {@link storeLevelRule}; stores whose retention is not shorter than the soak are only reported. */
export function storeVerdict(samples: StoreSample[], specs: StoreSpec[], options: { warmupS: number; durationS: number }): Record<string, StoreVerdict> {
  const { warmupS, durationS } = options;
  const rule = storeLevelRule;
  return Object.fromEntries(
    specs.map((spec): [string, StoreVerdict] => {
      const firstAfterWarmup = samples.find((s) => s.atS >= warmupS && storeSize(s, spec.source) !== undefined);
      const startSize = firstAfterWarmup && storeSize(firstAfterWarmup, spec.source);
      const start = startSize ? { rows: startSize.rows, bytes: startSize.bytes } : null;
      const spanS = Math.max(rule.minSpanS, spec.periodMs / 1000);
      const end = figuresIn(samples, spec.source, durationS - spanS, durationS);
      const base = { retention: spec.retention, retentionMs: spec.retentionMs, start, end };
      const settledAtS = spec.retentionMs === null ? null : (spec.retentionMs + spec.periodMs) / 1000;
      if (settledAtS === null || settledAtS >= durationS)
        return [
          spec.name,
          {
            ...base,
            bounded: false,
            settledAtS: null,
            settled: null,
            growth: null,
            levelledOff: null,
            why:
              settledAtS === null || spec.retentionMs === null || spec.retentionMs >= durationS * 1000
                ? 'kept longer than the soak'
                : `its retention is in only after ${round1(settledAtS / 60)} min (retention and period), past the soak's end`,
          },
        ];
      // A store this system does not have (the cluster profile keeps Temporal in PostgreSQL, not in a folder of its own).
      if (!samples.some((s) => storeSize(s, spec.source) !== undefined))
        return [spec.name, { ...base, bounded: false, settledAtS: null, settled: null, growth: null, levelledOff: null, why: 'not on this system' }];
      const settled = figuresIn(samples, spec.source, settledAtS, settledAtS + spanS);
      const growth = settled && end && settled.bytes > 0 ? Math.round((end.bytes / settled.bytes - 1) * 1000) / 1000 : null;
      const judged = { ...base, bounded: true, settledAtS, settled, growth };
      if (settledAtS + spanS > durationS - spanS || durationS - spanS / 2 < rule.endToSettledRatio * (settledAtS + spanS / 2))
        return [
          spec.name,
          {
            ...judged,
            levelledOff: false,
            why: `the soak is too short to see it level off (retention in by ${round1(settledAtS / 60)} min, spans of ${round1(spanS / 60)} min)`,
          },
        ];
      if (settled === null || end === null) return [spec.name, { ...judged, levelledOff: false, why: 'no sample where retention is in, or at the end' }];
      const over = [
        ...(end.bytes > settled.bytes * (1 + rule.growthLimit) + rule.slackBytes ? [`${mb(settled.bytes)} → ${mb(end.bytes)} MB`] : []),
        ...(settled.rows !== null && end.rows !== null && end.rows > settled.rows * (1 + rule.growthLimit) + rule.slackRows
          ? [`${Math.round(settled.rows)} → ${Math.round(end.rows)} rows`]
          : []),
      ];
      return [spec.name, over.length === 0 ? { ...judged, levelledOff: true } : { ...judged, levelledOff: false, why: `still growing: ${over.join(', ')}` }];
    }),
  );
}

const round1 = (value: number) => Math.round(value * 10) / 10;

/**
 * The windows of a load of `durationS` seconds cut every `windowS` seconds (the last one shorter
 * when it does not divide), each marked as warm-up when it starts before `warmupS`.
 */
export function soakWindowBounds(durationS: number, windowS: number, warmupS: number): { fromS: number; toS: number; warmup: boolean }[] {
  const bounds: { fromS: number; toS: number; warmup: boolean }[] = [];
  for (let fromS = 0; fromS < durationS; fromS += windowS) bounds.push({ fromS, toS: Math.min(fromS + windowS, durationS), warmup: fromS < warmupS });
  return bounds;
}

/** Each window's figures from every order of the soak (on the soak's clock). */
export function windowFigures(orders: TimedOrder[], bounds: { fromS: number; toS: number; warmup: boolean }[]): SoakWindow[] {
  return bounds.map(({ fromS, toS, warmup }) => {
    const [from, to] = [fromS * 1000, toS * 1000];
    const own = orders.filter((o) => o.submittedAt >= from && o.submittedAt < to);
    const latencies = own.flatMap((o) => (o.terminalAt === undefined ? [] : [o.terminalAt - o.submittedAt]));
    const endedDuring = orders.filter((o) => o.terminalAt !== undefined && o.terminalAt >= from && o.terminalAt < to).length;
    const p = percentiles(latencies);
    return {
      fromS,
      toS,
      warmup,
      submitted: own.length,
      ended: latencies.length,
      throughputPerS: round1(endedDuring / (toS - fromS)),
      p50Ms: p?.p50 ?? null,
      p99Ms: p?.p99 ?? null,
    };
  });
}

/**
 * Each process's memory growth: the median RSS of the samples in the load's last
 * {@link memoryEndSpanS} seconds over the median of those in the first {@link memoryStartSpanS}
 * seconds after the warm-up, less 1. Medians, so that one sample taken before a garbage collection
 * does not decide it. The warm-up's samples never count (a fresh process fills its heap, JIT and
 * pools then). A process gone or restarted after the warm-up is not flat: its RSS started over.
 */
export function memoryVerdict(samples: RssSample[], options: { warmupS: number; durationS: number }): Record<string, ProcessMemoryVerdict> {
  const judged = samples.filter((s) => s.atS >= options.warmupS && s.atS <= options.durationS);
  const start = judged.filter((s) => s.atS < options.warmupS + memoryStartSpanS);
  const end = judged.filter((s) => s.atS >= options.durationS - memoryEndSpanS);
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.rssMb)))];
  return Object.fromEntries(
    names.map((name): [string, ProcessMemoryVerdict] => {
      const [startMb, endMb] = [start, end].map((part) => medianAndSpread(part.map((s) => s.rssMb[name]))?.median ?? null) as [number | null, number | null];
      if (judged.some((s) => s.rssMb[name] === null || s.rssMb[name] === undefined))
        return [name, { startMb, endMb, growth: null, flat: false, why: 'gone or restarted after the warm-up' }];
      if (startMb === null || endMb === null || startMb === 0)
        return [name, { startMb, endMb, growth: null, flat: false, why: 'no sample after the warm-up or at the end' }];
      const growth = Math.round((endMb / startMb - 1) * 1000) / 1000;
      return [
        name,
        growth < memoryGrowthLimit ? { startMb, endMb, growth, flat: true } : { startMb, endMb, growth, flat: false, why: `grew ${round1(growth * 100)}%` },
      ];
    }),
  );
}

/** Whether latency stayed flat by {@link latencyFlatRule}: the last window against the first one after the warm-up. */
export function latencyVerdict(windows: SoakWindow[]): SoakVerdict['latency'] {
  const first = windows.find((w) => !w.warmup);
  const last = windows.at(-1);
  const [firstP50Ms, lastP50Ms] = [first?.p50Ms ?? null, last?.p50Ms ?? null];
  if (!first || firstP50Ms === null || lastP50Ms === null)
    return { firstP50Ms, lastP50Ms, limitMs: null, flat: false, why: 'no order ended in the first window after the warm-up or in the last one' };
  const limitMs = round1(latencyFlatRule.factor * firstP50Ms + latencyFlatRule.slackMs);
  return lastP50Ms <= limitMs
    ? { firstP50Ms, lastP50Ms, limitMs, flat: true }
    : { firstP50Ms, lastP50Ms, limitMs, flat: false, why: `last window's p50 ${lastP50Ms} ms above ${limitMs} ms` };
}

/** The whole verdict: every process's memory flat, latency flat, every bounded store levelled off, the audit passed. */
export function soakVerdict(input: {
  samples: RssSample[];
  windows: SoakWindow[];
  auditPassed: boolean;
  warmupS: number;
  durationS: number;
  /** The stores' samples and what bounds each (issue 19); without them no store is judged. */
  stores?: { samples: StoreSample[]; specs: StoreSpec[] };
}): SoakVerdict {
  const memory = memoryVerdict(input.samples, input);
  const latency = latencyVerdict(input.windows);
  const memoryFlat = Object.keys(memory).length > 0 && Object.values(memory).every((m) => m.flat);
  const stores = input.stores && storeVerdict(input.stores.samples, input.stores.specs, input);
  const storesLevel = Object.values(stores ?? {}).every((s) => s.levelledOff !== false);
  return {
    memory,
    latency,
    ...(stores ? { stores } : {}),
    auditPassed: input.auditPassed,
    passed: memoryFlat && latency.flat && storesLevel && input.auditPassed,
  };
}
