/**
 * The soak run's figures and verdict (bench/soak.ts), as pure functions so the rules are written
 * once and held by test/unit/bench-soak.test.ts: memory of every process flat after the warm-up,
 * latency flat, audit passed (issue 15).
 */
import { percentiles } from './measure.ts';
import { medianAndSpread } from './repetitions.ts';

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
  auditPassed: boolean;
  passed: boolean;
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

/** The whole verdict: every process's memory flat, latency flat, the audit passed. */
export function soakVerdict(input: { samples: RssSample[]; windows: SoakWindow[]; auditPassed: boolean; warmupS: number; durationS: number }): SoakVerdict {
  const memory = memoryVerdict(input.samples, input);
  const latency = latencyVerdict(input.windows);
  const memoryFlat = Object.keys(memory).length > 0 && Object.values(memory).every((m) => m.flat);
  return { memory, latency, auditPassed: input.auditPassed, passed: memoryFlat && latency.flat && input.auditPassed };
}
