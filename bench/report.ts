/**
 * Generates docs/comparison.md and its charts (docs/comparison/*.svg) from a benchmark result
 * file, so no figure in the report is typed by hand. `npm run bench` calls it after each run;
 * `npm run bench:report -- [bench/results/<file>.json]` regenerates it (default: the newest file).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { View, parse } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { projectRoot } from '../infra/stack/paths.ts';
import type { Flow } from './drive.ts';
import type { FlowRun } from './flow-run.ts';
import { searchBounds } from './rate-search.ts';
import { medianAndSpread, type Spread } from './repetitions.ts';
import { latencyLimitMs } from './sustained.ts';
import type { BenchResult } from './result.ts';

type Run = BenchResult['runs'][number];

/** Targets of the benchmark issue, on the 2-core machine with every server on it. */
const targets: Record<Flow, { sustained: number; p99Ms: number; atRate: number }> = {
  choreographed: { sustained: 500, p99Ms: 500, atRate: 250 },
  orchestrated: { sustained: 100, p99Ms: 2000, atRate: 50 },
};

/** The source files that belong to one flow only; everything else (contexts, domain, API, read model) both share. */
const flowFiles: Record<Flow, string[]> = {
  orchestrated: [
    'src/workflows',
    'src/activities',
    'src/orchestration',
    'src/workers/temporal-worker.ts',
    'src/messaging/event-publisher.ts',
    'src/observability/temporal-tracing.ts',
    'src/observability/saga-activity-interceptor.ts',
    'src/observability/saga-metrics.ts',
  ],
  choreographed: [
    'src/choreography',
    'src/workers/choreography.ts',
    'src/messaging/consumer-runner.ts',
    'src/messaging/dead-letters.ts',
    'src/messaging/outbox.ts',
    'src/messaging/outbox-relay.ts',
    'src/observability/consumer-metrics.ts',
    'src/observability/backlog-metrics.ts',
  ],
};

/**
 * Issue 15's targets at the highest sustained rate (issue 7's above stay as the long-range goal):
 * sustained rate, CPU-s and (choreographed) PostgreSQL commits per order, the share of the no-op
 * saga baseline (orchestrated), and the p99 of approved orders at a given rate.
 */
const issue15Targets: Record<Flow, { sustained: number; cpuSeconds: number; commits?: number; ofBaseline?: number; approvedP99Ms: number; atRate: number }> = {
  choreographed: { sustained: 100, cpuSeconds: 0.015, commits: 6, approvedP99Ms: 500, atRate: 50 },
  orchestrated: { sustained: 25, cpuSeconds: 0.07, ofBaseline: 0.8, approvedP99Ms: 1000, atRate: 10 },
};

/** Issue 15's targets against this run: each target, the figure measured, met or not. */
function issue15Section(result: BenchResult, flows: Flow[]): string {
  const rows = flows.flatMap((flow) => {
    const target = issue15Targets[flow];
    const at = runsAtHighestSustained(result, flow);
    if (!at) return [[flow, 'a sustained rate', 'none of the rates tried', 'not met']];
    const confirmed = at.runs.filter((r) => r.sustained).length;
    const median = (values: number[]) => medianAndSpread(values)!.median;
    const cpu = median(at.runs.map((r) => r.perOrder.cpuSeconds));
    const commits = median(at.runs.map((r) => r.perOrder.postgresCommits));
    const verdict = (ok: boolean) => (ok ? 'met' : 'not met');
    const out = [
      [
        flow,
        `≥ ${target.sustained}/s sustained`,
        `${at.rate}/s (sustained in ${confirmed} of ${at.runs.length} runs at that rate)`,
        verdict(at.rate >= target.sustained && confirmed === at.runs.length),
      ],
      [flow, `≤ ${target.cpuSeconds} CPU-s per order`, `${cpu} at ${at.rate}/s`, verdict(cpu <= target.cpuSeconds)],
    ];
    if (target.commits !== undefined)
      out.push([flow, `≤ ${target.commits} PostgreSQL commits per order`, `${commits} at ${at.rate}/s`, verdict(commits <= target.commits)]);
    const baseline = result.baselines?.temporal?.perSecond;
    if (target.ofBaseline !== undefined && baseline) {
      const share = at.rate / baseline;
      out.push([
        flow,
        `≥ ${target.ofBaseline * 100}% of the no-op saga baseline`,
        `${Math.round(share * 100)}% (${at.rate} of ${baseline}/s)`,
        verdict(share >= target.ofBaseline),
      ]);
    }
    const atRate = result.runs.filter((r) => r.flow === flow && r.phase !== 'warmup' && r.offeredRate === target.atRate);
    const approved = medianRun(atRate)?.latencyMs.toFinalStateByKind.approved?.p99;
    out.push([
      flow,
      `p99 of approved orders ≤ ${ms(target.approvedP99Ms)} at ${target.atRate}/s`,
      approved === undefined ? `no run at ${target.atRate}/s` : ms(approved),
      approved === undefined ? 'not run' : verdict(approved <= target.approvedP99Ms),
    ]);
    return out;
  });
  return table(['flow', 'target', 'measured', ''], rows);
}

/** Issue 15's target for one order on an idle system: p50 of POST /orders to `confirmed` in the read model. */
const idleTargetsMs: Record<Flow, number> = { choreographed: 60, orchestrated: 120 };

type Profile = NonNullable<BenchResult['profile']>;

/** What each stack profile runs, as the report states it. */
const profileServers: Record<Profile, string> = {
  dev: 'PostgreSQL, one Kafka broker, the Temporal CLI dev server (SQLite, one history shard), Zipkin; one instance of each application process',
  cluster:
    'PostgreSQL, three Kafka nodes (replication factor 3, min.insync.replicas 2), the Temporal server as frontend, 2 history, 2 matching and worker services on PostgreSQL, Zipkin; two instances of each application process',
};

const profileOf = (result: BenchResult): Profile => result.profile ?? 'dev';

/**
 * Whether a file of bench/results is a benchmark result (`<time>[-<profile>].json`), not a chaos
 * run's (`chaos-<time>.json`), which shares the folder.
 */
export const isBenchResultFile = (name: string) => /^\d{4}-\d\d-\d\dT[\d-]+Z(-[a-z]+)?\.json$/.test(name);

/** The newest result file of each profile in bench/results, with `resultFile` standing for its own. */
function newestOfEachProfile(resultFile: string, result: BenchResult): Map<Profile, { file: string; result: BenchResult }> {
  const newest = new Map<Profile, { file: string; result: BenchResult }>();
  const dir = dirname(resultFile);
  for (const name of readdirSync(dir).filter(isBenchResultFile).sort()) {
    const other = JSON.parse(readFileSync(join(dir, name), 'utf8')) as BenchResult;
    newest.set(profileOf(other), { file: join(dir, name), result: other });
  }
  newest.set(profileOf(result), { file: resultFile, result });
  return newest;
}

/** The profiles side by side: the same mix and audit, each with its baselines from its own run. */
function profilesSection(resultFile: string, result: BenchResult): string {
  const newest = newestOfEachProfile(resultFile, result);
  const profiles = (['dev', 'cluster'] as Profile[]).filter((p) => newest.has(p));
  const missing = (['dev', 'cluster'] as Profile[]).filter((p) => !newest.has(p));
  const column = (profile: Profile) => newest.get(profile)!;
  const fixedRun = (r: BenchResult, flow: Flow) => medianRun(r.runs.filter((run) => run.flow === flow && run.phase === 'fixed'));
  const rows: string[][] = [
    ['servers', ...profiles.map((p) => profileServers[p])],
    [
      'result file',
      ...profiles.map((p) => `[\`${basename(column(p).file)}\`](../bench/results/${basename(column(p).file)}), ${column(p).result.startedAt.slice(0, 16)}`),
    ],
    ...(['temporal', 'kafka', 'postgres'] as const).map((name) => [
      `${name} baseline`,
      ...profiles.map((p) => {
        const b = column(p).result.baselines[name];
        return b ? `${b.perSecond} ${b.unit}` : '–';
      }),
    ]),
    ...(['orchestrated', 'choreographed'] as Flow[]).flatMap((flow) => [
      [
        `${flow}: highest sustained rate`,
        ...profiles.map((p) => {
          const best = highestSustained(column(p).result.runs.filter((r) => r.flow === flow && r.phase !== 'warmup'));
          return best ? `${best.offeredRate}/s` : '–';
        }),
      ],
      [
        `${flow}: at the fixed rate, p50 / p99 to final state`,
        ...profiles.map((p) => {
          const run = fixedRun(column(p).result, flow);
          return run ? `${ms(run.latencyMs.toFinalState?.p50)} / ${ms(run.latencyMs.toFinalState?.p99)} at ${run.offeredRate}/s` : '–';
        }),
      ],
      [
        `${flow}: CPU-s / commits / messages per order`,
        ...profiles.map((p) => {
          const run = fixedRun(column(p).result, flow);
          return run ? `${num(run.perOrder.cpuSeconds)} / ${num(run.perOrder.postgresCommits)} / ${num(run.perOrder.kafkaMessages)}` : '–';
        }),
      ],
    ]),
    [
      'audit',
      ...profiles.map((p) => {
        const failed = column(p).result.runs.filter((r) => !r.audit.passed);
        // A run whose audit failed is never sustained, so it is the search's last step or a failure to look at.
        return failed.length === 0
          ? 'passed for every run'
          : `passed, except: ${failed.map((r) => `${r.flow} at ${r.offeredRate}/s (${phaseOf(r, column(p).result)})`).join(', ')}`;
      }),
    ],
  ];
  return `${table(['', ...profiles.map((p) => `${p} profile`)], rows)}${
    missing.length > 0 ? `\n\nNot measured yet: the ${missing.join(' and ')} profile (\`npm run bench -- --profile ${missing[0]}\`).` : ''
  }\n`;
}

/** Lines of TypeScript that are neither blank nor only a comment, in a file or folder. */
function codeLines(path: string): number {
  const full = join(projectRoot, path);
  if (!path.endsWith('.ts')) return readdirSync(full).reduce((sum, entry) => sum + codeLines(join(path, entry)), 0);
  return readFileSync(full, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('//') && !line.startsWith('/*') && !line.startsWith('*')).length;
}

const ms = (value: number | null | undefined) =>
  value === null || value === undefined ? '–' : value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
const num = (value: number | undefined) => (value === undefined ? '–' : String(value));
const table = (header: string[], rows: string[][]) =>
  [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

/**
 * The run of `runs` (repetitions at one rate) whose p50 to final state is the median (the lower
 * middle one of an even count): the one the detailed tables and charts show.
 */
export function medianRun<T extends { latencyMs: { toFinalState?: { p50: number } | undefined } }>(runs: T[]): T | undefined {
  const sorted = [...runs].sort((a, b) => (a.latencyMs.toFinalState?.p50 ?? Infinity) - (b.latencyMs.toFinalState?.p50 ?? Infinity));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** The fixed-rate run each flow's detailed tables show: the median of its repetitions. */
function fixedRunsShown(result: BenchResult): Run[] {
  const flows = [...new Set(result.runs.map((r) => r.flow))];
  return flows.flatMap((flow) => medianRun(result.runs.filter((r) => r.flow === flow && r.phase === 'fixed')) ?? []);
}

/**
 * The runs a flow's figures at its highest sustained rate come from: its confirmation runs; the
 * fixed runs when that rate is the fixed one; else (results from before the confirmation runs)
 * the one search run that sustained it.
 */
function runsAtHighestSustained(result: BenchResult, flow: Flow): { rate: number; runs: Run[]; from: 'confirm' | 'fixed' | 'search' } | undefined {
  const runs = result.runs.filter((r) => r.flow === flow && r.phase !== 'warmup');
  const best = highestSustained(runs);
  if (!best) return undefined;
  const at = (phase: Run['phase']) => runs.filter((r) => r.phase === phase && r.offeredRate === best.offeredRate);
  if (at('confirm').length > 0) return { rate: best.offeredRate, runs: at('confirm'), from: 'confirm' };
  if (at('fixed').length > 0) return { rate: best.offeredRate, runs: at('fixed'), from: 'fixed' };
  return { rate: best.offeredRate, runs: [best], from: 'search' };
}

/** "median (min–max)" of a figure over runs, the median alone for one run. */
function spread(values: (number | null | undefined)[], format: (value: number) => string): string {
  return formatSpread(medianAndSpread(values), format);
}

/** "median (min–max)", the median alone when there was one run or no spread. */
function formatSpread(s: Spread | undefined, format: (value: number) => string): string {
  if (!s) return '–';
  return s.count === 1 || s.min === s.max ? format(s.median) : `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
}

/** Median and spread of the repeated runs of each flow: at the fixed rate, and at the highest sustained rate. */
function repetitionsSection(result: BenchResult, flows: Flow[]): string {
  const perSecond = (v: number) => `${Math.round(v * 10) / 10}/s`;
  const cpu = (v: number) => String(Math.round(v * 1000) / 1000);
  const row = (flow: Flow, label: string, runs: Run[]) => [
    flow,
    label,
    `${runs.filter((r) => r.sustained).length} of ${runs.length}`,
    spread(
      runs.map((r) => r.throughputPerS),
      perSecond,
    ),
    spread(
      runs.map((r) => r.latencyMs.toFinalState?.p50),
      ms,
    ),
    spread(
      runs.map((r) => r.latencyMs.toFinalState?.p99),
      ms,
    ),
    spread(
      runs.map((r) => r.perOrder.cpuSeconds),
      cpu,
    ),
  ];
  const rows = flows.flatMap((flow) => {
    const fixed = result.runs.filter((r) => r.flow === flow && r.phase === 'fixed');
    const best = runsAtHighestSustained(result, flow);
    const bestRow = !best
      ? [flow, 'highest sustained rate', 'none of the rates tried', '–', '–', '–', '–']
      : best.from === 'search'
        ? [flow, `highest sustained rate, ${best.rate}/s`, 'not measured (one search run only)', '–', '–', '–', '–']
        : best.from === 'fixed'
          ? [flow, `highest sustained rate, ${best.rate}/s`, 'the fixed rate (above)', '–', '–', '–', '–']
          : row(flow, `highest sustained rate, ${best.rate}/s (confirmation)`, best.runs);
    return [...(fixed.length > 0 ? [row(flow, `fixed rate, ${fixed[0]!.offeredRate}/s`, fixed)] : []), bestRow];
  });
  return table(['flow', 'runs', 'sustained', 'orders ended per second', 'to final state p50', 'p99', 'CPU-s per order'], rows);
}

/** One process's CPU per order over repeated runs, and its share of all processes' (median over the runs). */
export interface ProcessCpu {
  name: string;
  perOrder: Spread;
  share: number;
}

/**
 * CPU seconds per order of each process over `runs` (its CPU over the run ÷ orders submitted),
 * busiest first; a process not measured in a run (restarted during it) is left out of that run.
 */
export function cpuPerOrderByProcess(runs: Pick<FlowRun, 'submitted' | 'processes'>[]): ProcessCpu[] {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.processes)))];
  const totals = runs.map((r) => Object.values(r.processes).reduce((sum, p) => sum + (p?.cpuSeconds ?? 0), 0));
  return names
    .flatMap((name) => {
      const perOrder = medianAndSpread(runs.map((r) => (r.processes[name] && r.submitted > 0 ? r.processes[name].cpuSeconds / r.submitted : undefined)));
      const share = medianAndSpread(runs.map((r, i) => (r.processes[name] && totals[i]! > 0 ? r.processes[name].cpuSeconds / totals[i]! : undefined)));
      return perOrder && share ? [{ name, perOrder, share: share.median }] : [];
    })
    .sort((a, b) => b.perOrder.median - a.perOrder.median);
}

/** CPU per order of each process at each flow's highest sustained rate: one table per flow. */
function cpuByProcessSection(result: BenchResult, flows: Flow[]): string {
  const seconds = (v: number) => (v >= 0.01 ? v.toFixed(3) : v.toFixed(4));
  return flows
    .map((flow) => {
      const at = runsAtHighestSustained(result, flow);
      if (!at) return `**${flow}**: no rate was sustained, so there is no highest sustained rate to break down.`;
      const from =
        at.from === 'search'
          ? 'its one search run'
          : `${at.runs.length} run${at.runs.length === 1 ? '' : 's'} of ${at.runs[0]!.durationS} s (${at.from === 'confirm' ? 'confirmation' : 'the fixed rate'})`;
      const rows = cpuPerOrderByProcess(at.runs).map((p) => [p.name, formatSpread(p.perOrder, seconds), `${Math.round(p.share * 100)}%`]);
      const all = [
        'all processes',
        spread(
          at.runs.map((r) => r.perOrder.cpuSeconds),
          seconds,
        ),
        '100%',
      ];
      return `**${flow}** at ${at.rate}/s, from ${from}:\n\n${table(['process', 'CPU-s per order', 'share of all'], [...rows, all])}`;
    })
    .join('\n\n');
}

/** A run's phase, with its repetition when the result has several (`confirm 2`). */
const phaseOf = (run: Run, result: BenchResult) => (run.repetition === undefined || (result.repeat ?? 1) === 1 ? run.phase : `${run.phase} ${run.repetition}`);

/** The highest offered rate a flow sustained in this result, and the run that did. */
function highestSustained(runs: Run[]): Run | undefined {
  return runs.filter((r) => r.sustained).sort((a, b) => b.offeredRate - a.offeredRate)[0];
}

/** The throughput limit a flow's durable steps imply, from the baselines and its per-order costs. */
function impliedLimit(result: BenchResult, flow: Flow, run: FlowRun): { perSecond: number; by: string } | undefined {
  const { postgres, kafka, temporal } = result.baselines;
  const candidates: { perSecond: number; by: string }[] = [];
  if (postgres && run.perOrder.postgresCommits > 0)
    candidates.push({
      perSecond: postgres.perSecond / run.perOrder.postgresCommits,
      by: `PostgreSQL: ${postgres.perSecond} commits/s ÷ ${run.perOrder.postgresCommits} commits per order`,
    });
  if (kafka && run.perOrder.kafkaMessages > 0)
    candidates.push({
      perSecond: kafka.perSecond / run.perOrder.kafkaMessages,
      by: `Kafka: ${kafka.perSecond} messages/s ÷ ${run.perOrder.kafkaMessages} messages per order`,
    });
  if (temporal && flow === 'orchestrated')
    candidates.push({ perSecond: temporal.perSecond, by: `Temporal: ${temporal.perSecond} no-op sagas/s of the same shape` });
  const lowest = candidates.sort((a, b) => a.perSecond - b.perSecond)[0];
  return lowest && { perSecond: Math.round(lowest.perSecond * 10) / 10, by: lowest.by };
}

/** A Vega-Lite chart drawn as SVG, headless (no browser); bench/soak-report.ts draws its charts with it too. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

/** Cumulative distribution of time to final state at the fixed rate, one line per flow. */
function latencyChart(fixed: Run[]): TopLevelSpec {
  const values = fixed.flatMap((run) => {
    const sorted = run.toFinalStateMs.filter((v): v is number => v !== null).sort((a, b) => a - b);
    return sorted.map((latency, i) => ({ flow: run.flow, latency: Math.max(latency, 1), share: (i + 1) / sorted.length }));
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Time from POST /orders to the final state, ${fixed.map((r) => `${r.flow} at ${r.offeredRate}/s`).join(', ')}`,
    width: 560,
    height: 300,
    data: { values },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 'latency', type: 'quantitative', scale: { type: 'log' }, title: 'milliseconds (log scale)' },
      y: { field: 'share', type: 'quantitative', title: 'share of orders at or below', axis: { format: '%' } },
      color: { field: 'flow', type: 'nominal' },
    },
  };
}

/** Orders ended per second against orders offered per second, one line per flow, with the ideal. */
function throughputChart(runs: Run[]): TopLevelSpec {
  const points = runs.map((r) => ({
    flow: r.flow,
    offered: r.offeredRate,
    achieved: r.throughputPerS,
    sustained: r.sustained ? 'sustained' : 'not sustained',
  }));
  const top = Math.max(...points.map((p) => Math.max(p.offered, p.achieved)));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Throughput against offered load',
    width: 560,
    height: 300,
    layer: [
      {
        data: {
          values: [
            { offered: 0, achieved: 0 },
            { offered: top, achieved: top },
          ],
        },
        mark: { type: 'line', strokeDash: [4, 4], color: '#999' },
        encoding: { x: { field: 'offered', type: 'quantitative' }, y: { field: 'achieved', type: 'quantitative' } },
      },
      {
        data: { values: points },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'offered', type: 'quantitative', title: 'orders offered per second' },
          y: { field: 'achieved', type: 'quantitative', title: 'orders ended per second' },
          color: { field: 'flow', type: 'nominal' },
          shape: { field: 'sustained', type: 'nominal' },
        },
      },
    ],
  };
}

function flowSummary(result: BenchResult, flow: Flow): string[] {
  const runs = result.runs.filter((r) => r.flow === flow && r.phase !== 'warmup');
  const fixed = medianRun(runs.filter((r) => r.phase === 'fixed'));
  if (!fixed) return [];
  const best = highestSustained(runs);
  const limit = impliedLimit(result, flow, fixed);
  const target = targets[flow];
  const atTargetRate = runs.filter((r) => r.offeredRate === target.atRate)[0];
  // With confirmation runs, what ended per second is their median; else the one run's.
  const confirmation = runsAtHighestSustained(result, flow);
  const repeated = confirmation && confirmation.from !== 'search' && confirmation.runs.length > 1 ? confirmation.runs : undefined;
  const ended = repeated ? medianAndSpread(repeated.map((r) => r.throughputPerS))!.median : best?.throughputPerS;
  const fraction = ended !== undefined && limit ? `${Math.round((ended / limit.perSecond) * 100)}% of ${limit.perSecond}/s` : '–';
  const confirmed =
    confirmation && confirmation.from !== 'search'
      ? `, sustained in ${confirmation.runs.filter((r) => r.sustained).length} of ${confirmation.runs.length} runs of ${confirmation.runs[0]!.durationS} s`
      : '';
  return [
    flow,
    best ? `${best.offeredRate}/s (${repeated ? 'median ' : ''}${ended}/s ended${confirmed})` : 'none of the rates tried',
    limit ? `${limit.perSecond}/s (${limit.by})` : '–',
    fraction,
    `≥ ${target.sustained}/s: ${best && best.offeredRate >= target.sustained ? 'met' : 'not met'}`,
    `p99 ≤ ${ms(target.p99Ms)} at ${target.atRate}/s: ${atTargetRate ? (atTargetRate.latencyMs.toFinalState && atTargetRate.latencyMs.toFinalState.p99 <= target.p99Ms && atTargetRate.sustained ? 'met' : `not met (${ms(atTargetRate.latencyMs.toFinalState?.p99)})`) : `not run (${target.atRate}/s is above what it sustains)`}`,
  ];
}

/** How the highest sustained rate was found, for results from before the bisection too. */
function searchRule(result: BenchResult): string {
  const searched = result.runs.some((r) => r.phase === 'search' || r.phase === 'bisect');
  if (!searched) return 'No rate search was run (`--no-search`, or the fixed rate was not sustained).';
  const rule =
    'The **highest sustained rate** is found by rates rising ×1.5 from the fixed rate until one is not sustained, then bisection between the highest sustained and the lowest failed rate until they are within 10% of each other';
  return result.runs.some((r) => r.phase === 'bisect') || result.sustainedRule
    ? `${rule}.`
    : `${rule}; this result is from before the bisection, so its highest sustained rate may be up to a third below the first failed one.`;
}

/** The idle part of the sustained rule as the run applied it, or why it did not (bench/sustained.ts). */
function sustainedIdleRule(result: BenchResult): string {
  const rule = result.sustainedRule;
  if (!rule) return "(this result is from before the idle rule: its runs were not held to one order's idle latency) ";
  return `the p50 to final state of all its orders stayed within ${rule.idleFactor}× the flow's idle p50 below, and never less than ${rule.floorMs} ms (\`--sustained-factor\`, \`--sustained-floor\`: ${rule.idleFactor}× the unloaded latency is the busiest resource about ${Math.round((1 - 1 / rule.idleFactor) * 100)}% busy in an open-loop queue, past which latency runs away; the floor keeps a tiny idle p50 from failing every run; without an idle p50 this part is left out), `;
}

/** One order on an idle system, per flow, beside the issue's target; "not measured" for results from before the idle phase. */
function idleSection(result: BenchResult, flows: Flow[]): string {
  const rows = flows.map((flow) => {
    const idle = result.idle?.find((i) => i.flow === flow);
    const target = `p50 ≤ ${idleTargetsMs[flow]} ms`;
    if (!idle) return [flow, 'not measured', '–', '–', target, '–'];
    const t = idle.toConfirmedMs;
    const limit = result.sustainedRule && t ? latencyLimitMs({ ...result.sustainedRule, idleP50Ms: t.p50 }) : null;
    return [
      flow,
      `${idle.confirmed} of ${idle.orders}${idle.audit.passed ? '' : ' (audit FAILED)'}`,
      t ? `${ms(t.p50)} / ${ms(t.p95)} / ${ms(t.p99)}` : '–',
      `${ms(idle.httpMs?.p50)} / ${ms(idle.httpMs?.p99)}`,
      `${target}: ${t && t.p50 <= idleTargetsMs[flow] ? 'met' : 'not met'}`,
      ms(limit),
    ];
  });
  return table(
    ['flow', 'approved orders confirmed', 'to confirmed in the read model p50 / p95 / p99', 'POST /orders p50 / p99', 'target', 'p50 limit of a sustained run'],
    rows,
  );
}

/** Where the CPU went at the first rate a flow did not sustain (or its highest rate run). */
function limitingFactor(result: BenchResult, flow: Flow): string {
  // The rates of the search only: a confirmation run that failed at the highest sustained rate is not "the first rate not sustained".
  const runs = result.runs
    .filter((r) => r.flow === flow && (r.phase === 'fixed' || r.phase === 'search' || r.phase === 'bisect'))
    .sort((a, b) => a.offeredRate - b.offeredRate);
  const failedAt = searchBounds(runs.map((r) => ({ rate: r.offeredRate, sustained: r.sustained }))).failed;
  const run = runs.find((r) => r.offeredRate === failedAt && !r.sustained) ?? runs.find((r) => !r.sustained) ?? runs.at(-1);
  if (!run) return '';
  const used = Object.entries(run.processes)
    .flatMap(([name, p]) => (p ? [{ name, percent: p.cpuPercentWhileSubmitting ?? p.cpuPercentOfOneCore }] : []))
    .sort((a, b) => b.percent - a.percent);
  const total = Math.round(used.reduce((sum, p) => sum + p.percent, 0));
  return `- **${flow}** at ${run.offeredRate}/s (${run.sustained ? 'the highest rate run' : 'the first rate not sustained'}): while orders were being submitted, the processes measured used ${total}% of one core together, out of ${result.machine.cpus * 100}% on this machine; the most: ${used
    .slice(0, 4)
    .map((p) => `${p.name} ${p.percent}%`)
    .join(
      ', ',
    )}. ${run.perOrder.cpuSeconds} CPU-seconds, ${run.perOrder.postgresCommits} PostgreSQL commits and ${run.perOrder.kafkaMessages} Kafka messages per order.`;
}

/**
 * Links the newest CPU profile of each flow (`npm run bench:profile`, docs/profiles/<flow>-profile.json)
 * and shows the flame graph of its busiest process; says how to make one when there is none.
 */
function cpuProfilesSection(flows: Flow[]): string {
  const lines = flows.map((flow) => {
    const file = join(projectRoot, 'docs', 'profiles', `${flow}-profile.json`);
    if (!existsSync(file)) return `- **${flow}**: no profile yet (\`npm run bench:profile -- --flow ${flow} --rate <highest sustained>\`).`;
    const profile = JSON.parse(readFileSync(file, 'utf8')) as {
      rate: number;
      profile: string;
      generatedAt: string;
      run: { perOrder: { cpuSeconds: number } };
      processes: { process: string; summary: { cpuSeconds: number } }[];
    };
    const busiest = profile.processes.slice(0, 3);
    return [
      `- **${flow}** at ${profile.rate} orders/s (${profile.profile} profile, ${profile.generatedAt.slice(0, 16).replace('T', ' ')} UTC; [report](profiles/${flow}-profile.md)): busiest ${busiest.map((p) => `${p.process} ${p.summary.cpuSeconds.toFixed(1)} s`).join(', ')} sampled over the run.`,
      '',
      `  ![flame graph of ${busiest[0]?.process ?? 'the busiest process'}, ${flow} flow](profiles/${flow}-${busiest[0]?.process ?? ''}.svg)`,
    ].join('\n');
  });
  return lines.join('\n\n');
}

/** Writes docs/comparison.md and docs/comparison/*.svg from a result file; returns the report's path. */
export async function writeReport(resultFile: string): Promise<string> {
  const { markdown, charts } = await renderReport(resultFile);
  const docs = join(projectRoot, 'docs');
  const chartsDir = join(docs, 'comparison');
  mkdirSync(chartsDir, { recursive: true });
  for (const [name, svg] of Object.entries(charts)) writeFileSync(join(chartsDir, name), svg);
  const reportPath = join(docs, 'comparison.md');
  writeFileSync(reportPath, markdown);
  return reportPath;
}

/** docs/comparison.md's text and its charts (SVG, by file name in docs/comparison/) from a result file, written nowhere. */
export async function renderReport(resultFile: string): Promise<{ markdown: string; charts: Record<string, string> }> {
  const result = JSON.parse(readFileSync(resultFile, 'utf8')) as BenchResult;
  // With --repeat, the detailed tables and charts show the median repetition; the spread is in its own table.
  const fixed = fixedRunsShown(result);
  const charts = {
    'latency.svg': await renderSvg(latencyChart(fixed)),
    'throughput.svg': await renderSvg(throughputChart(result.runs.filter((r) => r.phase === 'search' || r.phase === 'bisect' || fixed.includes(r)))),
  };

  const flows = [...new Set(result.runs.map((r) => r.flow))];
  const processNames = [...new Set(fixed.flatMap((r) => Object.keys(r.processes)))];
  const loc = Object.fromEntries(
    (['orchestrated', 'choreographed'] as Flow[]).map((flow) => [flow, flowFiles[flow].reduce((sum, path) => sum + codeLines(path), 0)]),
  );
  const failedAudits = result.runs.filter((r) => !r.audit.passed);
  const idleRuns = result.idle ?? [];
  const failedIdleAudits = idleRuns.filter((i) => !i.audit.passed);
  const auditLine =
    failedAudits.length + failedIdleAudits.length === 0
      ? `passed for all ${result.runs.length} runs${idleRuns.length > 0 ? ` and the ${idleRuns.length} idle phase${idleRuns.length === 1 ? '' : 's'}` : ''}`
      : `FAILED for ${[...(failedAudits.length > 0 ? [`${failedAudits.length} of ${result.runs.length} runs`] : []), ...failedIdleAudits.map((i) => `the idle phase of ${i.flow}`)].join(' and ')}; their figures do not count`;

  const md = `# Orchestration and choreography, measured

<!-- Generated by \`npm run bench\` (bench/report.ts) from ${relative(projectRoot, resultFile)}; do not edit by hand. -->

Both flows of this repository, driven through the same HTTP API on the same machine, with the same
scenario mix, every server and every service on the box. The sections after the profiles are from
the **${profileOf(result)} profile**'s run (${profileServers[profileOf(result)]}). Result file: [\`${basename(resultFile)}\`](../bench/results/${basename(resultFile)}), run ${result.startedAt} – ${result.finishedAt}.

- **Machine:** ${result.machine.cpus} cores (${result.machine.cpuModel}), ${result.machine.memoryGb} GiB.
- **Tracing:** ${result.tracing}.
- **Mix:** ${result.mix.map((m) => `${m.weight}% ${m.key} (“${m.scenario}”)`).join('; ')}.
- **Audit:** ${auditLine}.

## The two stack profiles

The newest run of each profile (\`npm run bench -- --profile dev|cluster\`), each against
baselines taken in its own run on its own servers:

${profilesSection(resultFile, result)}
## Summary

${table(
  ['flow', 'highest sustained rate', 'limit its durable steps imply', 'sustained / limit', 'throughput target', 'latency target'],
  flows.map((flow) => flowSummary(result, flow)),
)}

A rate is **sustained** when every order reached its final state, the orders that ended from the
end of the first quarter of the run to its last submission came to at least 90% of the offered
rate, the p50 of approved orders submitted in the last quarter stayed within twice that of the
first quarter plus 500 ms (latency did not grow), ${sustainedIdleRule(result)}and the audit passed. The **limit** is the
lowest of the baselines below divided by what one order of that flow needs. ${searchRule(result)}

### Issue 15's targets

The figures at the highest sustained rate are the median of its runs at that rate; the idle
targets are in the next section. [throughput.md](throughput.md) says what stands between each flow
and its targets, and what each lever tried changed.

${issue15Section(result, flows)}

## One order on an idle system

Before each flow's warm-up, approved orders sent one at a time, each once the previous one reached
its final state and its whole story was in the read model; timed from \`POST /orders\` until the
read model shows it \`confirmed\` (polled every 10 ms). The p99 of 50 orders is about the
slowest, often one of the first orders on fresh processes.

${idleSection(result, flows)}

## Repetitions

${
  result.repeat === undefined
    ? 'One run at the fixed rate (this result is from before `--repeat`): no spread to show, and no confirmation run at the highest sustained rate.'
    : result.repeat === 1
      ? 'One run at the fixed rate and one confirmation run as long at the highest sustained rate (`--repeat 1`): no spread to show.'
      : `Each flow's fixed rate was run ${result.repeat} times, and its highest sustained rate ${result.repeat} times more for as long (\`--repeat ${result.repeat}\`): the figures are the median (min–max) of those runs; the other tables and the charts show the repetition whose p50 to final state is the median.`
}

${repetitionsSection(result, flows)}

## What held each flow back

${flows.map((flow) => limitingFactor(result, flow)).join('\n')}

## CPU profiles

Taken by \`npm run bench:profile\` (its own run, tracing off, every application process under
\`node --cpu-prof\`, which adds CPU of its own), not by this run; each flame graph is one
thread of one process over the measured run, the widest frames the most time.

${cpuProfilesSection(flows)}


## CPU per order by process, at the highest sustained rate

Each process's CPU over the run divided by the orders submitted (PostgreSQL with its backends,
the benchmark's own driver included); with repetitions, the median (min–max) of the runs.

${cpuByProcessSection(result, flows)}

## Baselines (same run, same servers, nothing else driven)

${table(
  ['what', 'rate', 'how'],
  Object.entries(result.baselines).map(([name, b]) => [name, `${b.perSecond} ${b.unit}`, b.how]),
)}

## At the fixed rate

${table(
  ['', ...fixed.map((r) => `${r.flow} at ${r.offeredRate}/s`)],
  [
    ['orders submitted / ended', ...fixed.map((r) => `${r.submitted} / ${r.ended}`)],
    ['orders ended per second', ...fixed.map((r) => `${r.throughputPerS}${r.sustained ? '' : ' (not sustained)'}`)],
    [
      'to final state p50 / p95 / p99',
      ...fixed.map((r) => `${ms(r.latencyMs.toFinalState?.p50)} / ${ms(r.latencyMs.toFinalState?.p95)} / ${ms(r.latencyMs.toFinalState?.p99)}`),
    ],
    ['to complete read model p50 / p99', ...fixed.map((r) => `${ms(r.latencyMs.toReadModelComplete?.p50)} / ${ms(r.latencyMs.toReadModelComplete?.p99)}`)],
    ['POST /orders p50 / p99', ...fixed.map((r) => `${ms(r.latencyMs.http?.p50)} / ${ms(r.latencyMs.http?.p99)}`)],
    ...result.mix.map((m) => [
      `${m.key}: to final state p50 / p99`,
      ...fixed.map((r) => `${ms(r.latencyMs.toFinalStateByKind[m.key]?.p50)} / ${ms(r.latencyMs.toFinalStateByKind[m.key]?.p99)}`),
    ]),
    ['PostgreSQL commits per order (the services only: the Temporal dev server keeps its own in SQLite)', ...fixed.map((r) => num(r.perOrder.postgresCommits))],
    ['Kafka messages per order', ...fixed.map((r) => num(r.perOrder.kafkaMessages))],
    ['CPU seconds per order (all processes)', ...fixed.map((r) => num(r.perOrder.cpuSeconds))],
  ],
)}

![Latency distributions](comparison/latency.svg)

The gateway_transient orders wait out the retry backoff of each flow (orchestrated: Temporal's
1 s, 2 s, 4 s; choreographed: the consumer's in-place retries), so they set the p99 of the mix.

CPU of each process at the fixed rate (% of one core while orders were being submitted / over the
whole run, drain included) and its memory at the end:

${table(
  ['process', ...fixed.map((r) => r.flow)],
  processNames.map((name) => [
    name,
    ...fixed.map((r) =>
      r.processes[name]
        ? `${r.processes[name].cpuPercentWhileSubmitting ?? '–'}% / ${r.processes[name].cpuPercentOfOneCore}%, ${r.processes[name].rssMb} MB`
        : '–',
    ),
  ]),
)}

## Throughput against offered load

![Throughput against offered load](comparison/throughput.svg)

${table(
  ['flow', 'phase', 'offered/s', 'ended/s', 'p50', 'p99', 'CPU-s/order', 'sustained', 'audit'],
  result.runs.map((r) => [
    r.flow,
    phaseOf(r, result),
    String(r.offeredRate),
    String(r.throughputPerS),
    ms(r.latencyMs.toFinalState?.p50),
    ms(r.latencyMs.toFinalState?.p99),
    num(r.perOrder.cpuSeconds),
    r.sustained ? 'yes' : r.notSustainedBecause && r.notSustainedBecause.length > 0 ? `no: ${r.notSustainedBecause.join('; ')}` : 'no',
    r.audit.passed ? 'passed' : 'FAILED',
  ]),
)}

## The audit

Every run was audited before its figures were kept:

${[
  ...idleRuns.map((i) => ({ label: `${i.flow}, one order on an idle system`, checks: i.audit.checks })),
  ...result.runs.map((r) => ({ label: `${r.flow} at ${r.offeredRate}/s (${phaseOf(r, result)})`, checks: r.audit.checks })),
]
  .map(({ label, checks }) => `- ${label}: ${checks.map((c) => `${c.passed ? '✓' : '✗'} ${c.name}${c.passed ? '' : ` (${c.detail})`}`).join('; ')}`)
  .join('\n')}

## Side by side

| | orchestrated (Temporal) | choreographed (Kafka) |
| --- | --- | --- |
| code of its own (lines, without blanks and comments) | ${loc.orchestrated} | ${loc.choreographed} |
| the rest | shared: domain, contexts, API, read model | shared |
| where the flow is written | one function, \`src/workflows/place-order.ts\` | a table of reactions, \`src/choreography/services.ts\` |
| retries | retry policies per activity (\`src/workflows/retry-profiles.ts\`), kept by the server | in-place retries with backoff in the consumer (\`src/messaging/consumer-runner.ts\`), then a dead-letter topic |
| compensation | undo stack in the workflow, run in reverse in a non-cancellable scope | each service reacts to the failure event (\`payment.failed\` → release stock, …) |
| timeouts | start-to-close / schedule-to-close per activity; the 24 h review is a durable timer | none built in: a stuck order waits until someone looks (lag and outbox-age alerts) |
| a step's process crashes | the activity is retried on another worker; the workflow resumes from history | the message is not committed and is read again; the dedupe row makes it apply once |
| a poison message | an activity failing with a non-retryable error fails the step; compensation runs | the message goes to \`dlq.<group>\` after its retries; its partition moves on |
| cost per order on this run | ${fixed.filter((r) => r.flow === 'orchestrated').map((r) => `${r.perOrder.cpuSeconds} CPU-s, ${r.perOrder.postgresCommits} commits, ${r.perOrder.kafkaMessages} messages`)[0] ?? '–'} | ${fixed.filter((r) => r.flow === 'choreographed').map((r) => `${r.perOrder.cpuSeconds} CPU-s, ${r.perOrder.postgresCommits} commits, ${r.perOrder.kafkaMessages} messages`)[0] ?? '–'} |
| what happened to order X? | the Web UI: search \`OrderId="X"\`, read its history and search attributes; \`npm run order -- status X\` | \`GET /orders/X/timeline\` (the read model); one trace in Zipkin; the services' logs by correlation id |
`;
  return { markdown: md, charts };
}

/** The newest result file. */
export function latestResult(): string {
  const dir = join(projectRoot, 'bench', 'results');
  const newest = readdirSync(dir).filter(isBenchResultFile).sort().at(-1);
  if (!newest) throw new Error(`no result in ${dir}: run npm run bench first`);
  return join(dir, newest);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2] ?? latestResult();
  writeReport(file).then(
    (path) => console.log(`[bench] report: ${relative(projectRoot, path)} (from ${relative(projectRoot, file)})`),
    (err: unknown) => {
      console.error(`[bench] ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}
