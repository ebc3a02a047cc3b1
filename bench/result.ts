import type { Baseline } from './baselines.ts';
import type { FlowRun } from './flow-run.ts';

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
  runs: (FlowRun & { phase: 'warmup' | 'fixed' | 'search' })[];
}
