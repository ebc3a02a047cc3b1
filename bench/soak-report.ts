/**
 * The soak run's result file (bench/soak.ts) and docs/soak-<flow>.md with its charts (docs/soak/<flow>-*.svg),
 * generated from it: `npm run bench:soak -- --report bench/results/soak-<time>.json` regenerates them.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { projectRoot } from '../infra/stack/paths.ts';
import type { AuditCheck } from './audit.ts';
import type { Flow } from './drive.ts';
import { renderSvg } from './report.ts';
import { durationText, storeSize, type RetentionSettings, type StoreSample } from './soak-stores.ts';
import {
  latencyFlatRule,
  memoryEndSpanS,
  memoryGrowthLimit,
  memoryStartSpanS,
  storeLevelRule,
  type RssSample,
  type SoakVerdict,
  type SoakWindow,
  type StoreFigures,
  type StoreSpec,
} from './soak-verdict.ts';

/** What a soak run writes to bench/results/soak-<time>.json. */
export interface SoakResult {
  profile: 'dev' | 'cluster';
  flow: Flow;
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number };
  /** The tracing the services ran with, as it changes their cost. */
  tracing: string;
  settings: { rate: number; minutes: number; warmupMinutes: number; sampleSeconds: number; windowSeconds: number; drainS: number; storeSampleSeconds?: number };
  /** The retentions of the system under soak (issue 19; absent in older results). */
  retention?: {
    /** Whether --short-retention set them (minutes, in proportion to the soak). */
    short: boolean;
    /** In ms, as in force (the variables the soak set, else this environment's or the defaults). */
    settings: RetentionSettings;
    /** The variables of the business's records, left long: the audit reads every order from them. */
    kept: string[];
    /** The broker's log.retention.check.interval.ms. */
    kafkaRetentionCheckMs: number;
    /** false: the soak ran on a system started before it, whose retentions may differ. */
    systemStartedHere: boolean;
  };
  storeSpecs?: StoreSpec[];
  /** Sizes of the stores over the soak (absent in older results). */
  storeSamples?: StoreSample[];
  mix: { key: string; weight: number; scenario: string }[];
  /** The pid of each process when the soak began; a sample of another pid counts as the process gone. */
  pids: Record<string, number | undefined>;
  submitted: number;
  ended: number;
  samples: RssSample[];
  windows: SoakWindow[];
  audit: { passed: boolean; checks: AuditCheck[] };
  verdict: SoakVerdict;
}

const round1 = (value: number | null) => (value === null ? null : Math.round(value * 10) / 10);
const minutes = (seconds: number) => Math.round((seconds / 60) * 100) / 100;
const orDash = (value: number | null | undefined, unit = '') => (value === null || value === undefined ? '–' : `${value}${unit}`);
const percent = (share: number | null) => (share === null ? '–' : `${share >= 0 ? '+' : ''}${Math.round(share * 1000) / 10}%`);

/** RSS of every process over the soak, one line per process, the end of the warm-up marked. */
function rssChart(result: SoakResult): TopLevelSpec {
  const values = result.samples.flatMap((s) =>
    Object.entries(s.rssMb).flatMap(([process, mb]) => (mb === null ? [] : [{ process, minute: minutes(s.atS), mb }])),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Resident memory of each process, ${result.flow} at ${result.settings.rate} orders/s (dashed: end of the warm-up)`,
    width: 560,
    height: 320,
    layer: [
      {
        data: { values },
        mark: { type: 'line' },
        encoding: {
          x: { field: 'minute', type: 'quantitative', title: 'minutes into the soak' },
          y: { field: 'mb', type: 'quantitative', title: 'RSS (MB)' },
          color: { field: 'process', type: 'nominal' },
        },
      },
      {
        data: { values: [{ minute: result.settings.warmupMinutes }] },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#999' },
        encoding: { x: { field: 'minute', type: 'quantitative' } },
      },
    ],
  };
}

/** p50 and p99 to final state of each window's orders, with the latency rule's limit. */
function latencyChart(result: SoakResult): TopLevelSpec {
  const values = result.windows.flatMap((w) => [
    ...(w.p50Ms === null ? [] : [{ minute: minutes(w.fromS), ms: w.p50Ms, figure: 'p50' }]),
    ...(w.p99Ms === null ? [] : [{ minute: minutes(w.fromS), ms: w.p99Ms, figure: 'p99' }]),
  ]);
  const limit = result.verdict.latency.limitMs;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Time to final state per window, by the minute it started${limit === null ? '' : ` (dashed: the p50 limit, ${limit} ms)`}`,
    width: 560,
    height: 260,
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'minute', type: 'quantitative', title: 'window start (minutes into the soak)' },
          y: { field: 'ms', type: 'quantitative', title: 'milliseconds' },
          color: { field: 'figure', type: 'nominal', title: '' },
        },
      },
      ...(limit === null
        ? []
        : [
            {
              data: { values: [{ ms: limit }] },
              mark: { type: 'rule' as const, strokeDash: [4, 4], color: '#999' },
              encoding: { y: { field: 'ms', type: 'quantitative' as const } },
            },
          ]),
    ],
  };
}

const mbOf = (bytes: number) => Math.round((bytes / 2 ** 20) * 100) / 100;
const sizeOf = (f: StoreFigures | null) => (f === null ? '–' : `${f.rows === null ? '' : `${Math.round(f.rows)} rows, `}${mbOf(f.bytes)} MB`);

/** Bytes of each bounded store over the soak (log scale: the stores differ by orders of magnitude), the end of the warm-up marked. */
function storesChart(result: SoakResult): TopLevelSpec {
  const bounded = (result.storeSpecs ?? []).filter((spec) => result.verdict.stores?.[spec.name]?.bounded);
  const values = (result.storeSamples ?? []).flatMap((sample) =>
    bounded.flatMap((spec) => {
      const size = storeSize(sample, spec.source);
      // A log scale has no 0: an empty store is drawn at 8 KiB, one page.
      return size === undefined ? [] : [{ store: spec.name, minute: minutes(sample.atS), mb: Math.max(mbOf(size.bytes), 8 / 1024) }];
    }),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Size of each store with a retention shorter than the soak (dashed: end of the warm-up)`,
    width: 560,
    height: 320,
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'minute', type: 'quantitative', title: 'minutes into the soak' },
          y: { field: 'mb', type: 'quantitative', title: 'MB on disk (log scale)', scale: { type: 'log' } },
          color: { field: 'store', type: 'nominal' },
        },
      },
      {
        data: { values: [{ minute: result.settings.warmupMinutes }] },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#999' },
        encoding: { x: { field: 'minute', type: 'quantitative' } },
      },
    ],
  };
}

/** The "Stores" section: the retentions, a table per store, every table and topic at the start and the end, the chart. */
function storesSection(result: SoakResult): string {
  const stores = result.verdict.stores;
  if (!stores || !result.retention) return '';
  const { retention } = result;
  const settings = Object.entries(retention.settings)
    .map(([name, ms]) => `\`${name}\`=${ms} (${durationText(ms)})`)
    .join(', ');
  const storeRows = Object.entries(stores).map(
    ([name, s]) =>
      `| ${name} | ${s.retention} | ${sizeOf(s.start)} | ${s.settledAtS === null ? '–' : `${sizeOf(s.settled)} (from ${minutes(s.settledAtS)} min)`} | ${sizeOf(s.end)} | ${percent(s.growth)} | ${
        s.levelledOff === null ? `not judged (${s.why})` : s.levelledOff ? 'yes' : `**no**: ${s.why}`
      } |`,
  );
  const samples = result.storeSamples ?? [];
  const first = samples.find((s) => s.atS >= result.settings.warmupMinutes * 60) ?? samples[0];
  const last = samples.at(-1);
  const row = (name: string, at: (s: StoreSample) => string) => `| ${name} | ${first ? at(first) : '–'} | ${last ? at(last) : '–'} |`;
  const tableNames = [...new Set(samples.flatMap((s) => Object.keys(s.tables)))].sort();
  const tableSize = (name: string) => (s: StoreSample) => {
    const t = s.tables[name];
    return t ? `${t.rows} rows, ${mbOf(t.bytes)} MB` : '–';
  };
  const bytesAt = (pick: (s: StoreSample) => Record<string, number>, name: string) => (s: StoreSample) =>
    pick(s)[name] === undefined ? '–' : `${mbOf(pick(s)[name]!)} MB`;
  const topicNames = [...new Set(samples.flatMap((s) => Object.keys(s.topics)))].sort();
  const dirNames = [...new Set(samples.flatMap((s) => Object.keys(s.dataDirs)))].sort();
  const databaseNames = [...new Set(samples.flatMap((s) => Object.keys(s.databases)))].sort();
  const topicsTotal = (s: StoreSample) => `${mbOf(Object.values(s.topics).reduce((a, b) => a + b, 0))} MB`;
  const errors = samples.filter((s) => s.errors).length;
  return `
### Stores

${
  retention.short
    ? `Retentions shortened to minutes by \`--short-retention\` (in proportion to the soak's ${result.settings.minutes} minutes)`
    : `Retentions as configured (no \`--short-retention\`)`
}${retention.systemStartedHere ? '' : ' — on a system started before the soak, whose own settings may differ'}: ${settings}; the broker checks
topic retention every ${durationText(retention.kafkaRetentionCheckMs)}. ${
    retention.short
      ? `Left as configured (the business's records, kept longer than any soak, as the audit reads every order of the soak from orders.orders, inventory, the gateway's charges and the read model at the end): ${retention.kept.map((v) => `\`${v}\``).join(', ')}.`
      : ''
  }
Sizes sampled every ${result.settings.storeSampleSeconds ?? '–'} s${errors > 0 ? ` (${errors} samples incomplete)` : ''}: rows are PostgreSQL's live-tuple
estimate (pg_stat_all_tables.n_live_tup, summed over a partitioned table's partitions), bytes
pg_total_relation_size (heap, indexes, TOAST; over the partition tree); Kafka and the data folders
in blocks allocated on disk, as \`du\` counts them.

A store whose retention is shorter than the soak must **level off**: its retention should have
kicked in once the retention plus its period (the partition or segment width, as these go whole,
plus the sweep's or Kafka's check interval) has passed; from then on, the median of its samples
over the load's last span (a minute, or its period when longer) must be at most
${Math.round((1 + storeLevelRule.growthLimit) * 100) / 100} × the median over the span from that point, plus ${storeLevelRule.slackBytes / 1024} KiB
(${storeLevelRule.slackRows} rows) of slack for stores of a few pages — bytes and rows alike. Spans as long as the
period cover a whole tooth of the saw-tooth a dropped partition or segment draws. The end span's
middle must lie at least ${storeLevelRule.endToSettledRatio} × as far into the soak as the settled span's, so a store
growing in a straight line grows 50% or more between them and fails; a soak too short for that
fails the store. Stores kept longer than the soak (orders, payments, the read model, sent mail,
the gateway's ledger) are shown, not judged: they grow with the orders, as they should.

| store | retention | after the warm-up | where retention is in | at the end | growth | levelled off |
| --- | --- | ---: | ---: | ---: | ---: | --- |
${storeRows.join('\n')}

![Size of each bounded store over the soak](soak/${result.flow}-stores.svg)

Every table, topic, database and data folder, at the first sample after the warm-up and at the last
(one sample each, where the table above gives medians). The stack's own logs (\`logs/\`) are not a
store of the system's and grow with what the servers write.


| | after the warm-up (${first ? minutes(first.atS) : '–'} min) | at the end (${last ? minutes(last.atS) : '–'} min) |
| --- | ---: | ---: |
${[
  ...tableNames.map((name) => row(`table ${name}`, tableSize(name))),
  ...databaseNames.map((name) =>
    row(
      `database ${name}`,
      bytesAt((s) => s.databases, name),
    ),
  ),
  ...topicNames.map((name) =>
    row(
      `topic ${name}`,
      bytesAt((s) => s.topics, name),
    ),
  ),
  row('all topics (Kafka’s own too)', topicsTotal),
  ...dirNames.map((name) =>
    row(
      `data folder ${name}/`,
      bytesAt((s) => s.dataDirs, name),
    ),
  ),
].join('\n')}
`;
}

/** docs/soak-<flow>.md's text and its charts (SVG, by file name in docs/soak/) from a soak result, written nowhere. */
export async function renderSoakDoc(result: SoakResult, resultFile: string): Promise<{ markdown: string; charts: Record<string, string> }> {
  const charts = {
    [`${result.flow}-rss.svg`]: await renderSvg(rssChart(result)),
    [`${result.flow}-latency.svg`]: await renderSvg(latencyChart(result)),
    ...(result.verdict.stores && result.storeSamples ? { [`${result.flow}-stores.svg`]: await renderSvg(storesChart(result)) } : {}),
  };
  const { verdict, settings } = result;
  const failures = [
    ...Object.entries(verdict.memory)
      .filter(([, m]) => !m.flat)
      .map(([name, m]) => `${name}: ${m.why}`),
    ...(verdict.latency.flat ? [] : [`latency: ${verdict.latency.why}`]),
    ...Object.entries(verdict.stores ?? {})
      .filter(([, s]) => s.levelledOff === false)
      .map(([name, s]) => `${name}: ${s.why}`),
    ...(verdict.auditPassed ? [] : ['audit failed']),
  ];
  const memoryRows = Object.entries(verdict.memory).map(
    ([name, m]) =>
      `| ${name} | ${orDash(round1(m.startMb))} | ${orDash(round1(m.endMb))} | ${percent(m.growth)} | ${m.flat ? 'flat' : `**not flat**: ${m.why}`} |`,
  );
  const windowRows = result.windows.map(
    (w) =>
      `| ${minutes(w.fromS)}–${minutes(w.toS)} | ${w.warmup ? 'warm-up' : ''} | ${w.submitted} | ${w.ended} | ${w.throughputPerS} | ${orDash(w.p50Ms, ' ms')} | ${orDash(w.p99Ms, ' ms')} |`,
  );
  const markdown = `# Soak: the ${result.flow} flow

Generated by \`npm run bench:soak\` from \`${relative(projectRoot, resultFile)}\`; do not edit by hand.

\`npm run bench:soak\` drives one flow at one fixed rate (half the highest sustained rate of
\`npm run bench\`, given by the caller) for \`--minutes\`, on the running system of the profile or
one it starts the same way as \`npm run bench\` (tracing off). The load is cut into windows of one
minute that follow each other without a gap (the next window's orders are sent on the same clock
as the last one's). Every \`--sample-seconds\` it reads the resident memory (RSS) of every process
of the stack from /proc; PostgreSQL's figure is its postmaster's (each backend is a process of its
own). After the load and its drain, the benchmark's audit (bench/audit.ts) runs over every order
of the soak, warm-up included.

The verdict (bench/soak-verdict.ts), every part must hold:

- **memory flat**: for every process, the median RSS of the samples of the load's last
  ${memoryEndSpanS} s is less than ${memoryGrowthLimit * 100}% above the median of the samples in the first
  ${memoryStartSpanS} s after the warm-up (medians, so that one sample before a garbage collection does not
  decide it; the warm-up's samples never count). A process gone or restarted after the warm-up is not flat.
- **latency flat**: the last window's p50 to final state is at most ${latencyFlatRule.factor} × the first window
  after the warm-up's p50 + ${latencyFlatRule.slackMs} ms.
- **stores levelled off**: every store whose retention is shorter than the soak stays level once
  its retention is in (see Stores below; results from before issue 19 have no stores).
- **audit passed** over every order of the soak.

## The last run

${result.flow} flow at ${settings.rate} orders/s for ${settings.minutes} minutes (warm-up ${settings.warmupMinutes} minutes), ${result.profile} profile,
RSS sampled every ${settings.sampleSeconds} s, windows of ${settings.windowSeconds} s, drain up to ${settings.drainS} s; from ${result.startedAt} to ${result.finishedAt} on
${result.machine.cpus} CPUs (${result.machine.cpuModel}), ${result.machine.memoryGb} GB; tracing ${result.tracing}; mix ${result.mix.map((m) => `${m.weight}% ${m.key}`).join(', ')}.
${result.ended} of ${result.submitted} orders ended.

**Verdict: ${verdict.passed ? 'passed' : `FAILED (${failures.join('; ')})`}.**

### Memory

| process | RSS after the warm-up (MB) | RSS at the end (MB) | growth | |
| --- | ---: | ---: | ---: | --- |
${memoryRows.join('\n')}

![RSS of each process over the soak](soak/${result.flow}-rss.svg)

### Latency per window

p50 of the first window after the warm-up ${orDash(verdict.latency.firstP50Ms, ' ms')}, of the last window ${orDash(verdict.latency.lastP50Ms, ' ms')}, limit ${orDash(verdict.latency.limitMs, ' ms')}: ${
    verdict.latency.flat ? 'flat' : `**not flat** (${verdict.latency.why})`
  }. Each window counts the orders submitted in it (submitted, ended, p50 and p99 to final state) and
the orders of any window that ended during it (throughput).

| minutes | | submitted | ended | throughput (orders/s) | p50 | p99 |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
${windowRows.join('\n')}

![p50 and p99 per window](soak/${result.flow}-latency.svg)
${storesSection(result)}
### Audit

${result.audit.checks.map((c) => `- ${c.passed ? 'passed' : '**FAILED**'}: ${c.name} (${c.detail})`).join('\n')}
`;
  return { markdown, charts };
}

/** Writes docs/soak-<flow>.md and docs/soak/<flow>-*.svg from a soak result file; returns the page's path. */
export async function writeSoakDoc(resultFile: string): Promise<string> {
  const result = JSON.parse(readFileSync(resultFile, 'utf8')) as SoakResult;
  const { markdown, charts } = await renderSoakDoc(result, resultFile);
  const docs = join(projectRoot, 'docs');
  mkdirSync(join(docs, 'soak'), { recursive: true });
  for (const [name, svg] of Object.entries(charts)) writeFileSync(join(docs, 'soak', name), svg);
  const path = join(docs, `soak-${result.flow}.md`);
  writeFileSync(path, markdown);
  return path;
}
