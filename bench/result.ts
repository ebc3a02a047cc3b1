import type { Baseline } from './baselines.ts';
import type { FlowRun } from './flow-run.ts';
import type { IdleLatency } from './idle.ts';

/** The steps of an approved orchestrated order, local or regular activity, in order (src/workflows/place-order.ts). */
export const orchestratedStepKinds: ('local' | 'regular')[] = ['local', 'local', 'local', 'regular', 'local', 'local', 'regular'];

/** What the result file holds; docs/comparison.md is generated from it (bench/report.ts). */
export interface BenchResult {
  /** The stack profile measured (`--profile`); files from before profiles existed are the dev profile's. */
  profile?: 'dev' | 'cluster';
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number };
  /** The tracing the services ran with, as it changes their cost. */
  tracing: string;
  mix: { key: string; weight: number; scenario: string }[];
  baselines: { postgres?: Baseline; kafka?: Baseline; temporal?: Baseline };
  /** Runs at the fixed rate, and confirmation runs at the highest sustained rate, per flow (`--repeat`); absent from older files (one fixed run, no confirmation). */
  repeat?: number;
  /**
   * `search`: the rising rates (×1.5); `bisect`: the rates between the highest sustained and the
   * lowest failed one; `confirm`: the `repeat` runs at the highest sustained rate (the last two
   * absent from older files). `repetition` numbers the fixed and confirmation runs from 1.
   */
  runs: (FlowRun & { phase: 'warmup' | 'fixed' | 'search' | 'bisect' | 'confirm'; repetition?: number })[];
  /** The latency side of the `sustained` rule this run applied (bench/sustained.ts); absent from files before it existed, whose runs had only the other rules. */
  sustainedRule?: { idleFactor: number; floorMs: number };
  /** One order on an idle system, per flow, before its warm-up (`--idle-orders`); absent from files before it was measured. */
  idle?: IdleLatency[];
}
