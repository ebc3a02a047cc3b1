/**
 * `npm run bench`: measures both flows on the running system (or one it starts), against raw
 * baselines taken in the same run on the same servers, audits every run, writes
 * bench/results/<time>.json and regenerates docs/comparison.md from it. A benchmark, not a test:
 * nothing here passes or fails on speed; a failed audit fails the benchmark.
 *
 *   npm run bench -- [--profile dev|cluster] [--flow orchestrated|choreographed|both] [--rate 5] [--duration 30] [--drain 60]
 *                    [--warmup 10] [--search-duration 20] [--max-rate 1000] [--no-search] [--no-baselines] [--no-report] [--idle-orders 50]
 *                    [--sustained-factor 3] [--sustained-floor 250] [--repeat 1]
 *
 * For each flow: one order on an idle system (--idle-orders approved orders sent one at a time, timed to `confirmed` in the read
 * model; 0 leaves it out, bench/idle.ts), a warm-up at --rate for --warmup seconds, one run at the fixed --rate for --duration seconds, then (unless --no-search) runs
 * at rising rates (×1.5 from --rate) until one is not sustained, then bisection between the highest sustained and the lowest failed rate
 * until they are within 10% of each other: the highest sustained rate is the bisected one. Sustained (bench/sustained.ts) includes
 * a p50 to final state within --sustained-factor × the idle p50, and never less than --sustained-floor ms. --repeat N runs the fixed rate
 * N times and, after the search, N confirmation runs of --duration at the highest sustained rate: the report gives their median and spread.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { loadStackConfig } from '../infra/stack/config.ts';
import { projectRoot } from '../infra/stack/paths.ts';
import { temporalEnvOf } from '../infra/stack/stack.ts';
import { TemporalEnv, loadConfig } from '../src/platform/config.ts';
import { temporalConnectionOptions } from '../src/platform/temporal-connection.ts';
import { Type } from 'typebox';
import { kafkaBaseline, postgresBaseline, temporalBaseline } from './baselines.ts';
import type { Flow } from './drive.ts';
import { runFlow, type FlowRun } from './flow-run.ts';
import { runIdle, type IdleLatency } from './idle.ts';
import { defaultSustainedRule, type SustainedRule } from './sustained.ts';
import { defaultMix } from './mix.ts';
import { nextSearchRate, searchBounds, type TriedRate } from './rate-search.ts';
import { writeReport } from './report.ts';
import { orchestratedStepKinds, type BenchResult } from './result.ts';
import { ensureSystem, systemUnderTest } from './system.ts';

const say = (line: string) => console.log(`[bench] ${line}`);

function describeRun(run: FlowRun): string {
  const final = run.latencyMs.toFinalState;
  return `${run.flow} at ${run.offeredRate}/s: ${run.ended}/${run.submitted} ended, ${run.throughputPerS} orders/s, to final state p50 ${final?.p50} ms p99 ${final?.p99} ms, ${run.perOrder.cpuSeconds} CPU-s/order, ${run.sustained ? 'sustained' : `NOT sustained (${(run.notSustainedBecause ?? []).join('; ')})`}, audit ${run.audit.passed ? 'passed' : 'FAILED'}`;
}

function describeIdle(idle: IdleLatency): string {
  const t = idle.toConfirmedMs;
  return `${idle.flow} idle: ${idle.confirmed}/${idle.orders} confirmed in the read model, p50 ${t?.p50} ms p95 ${t?.p95} ms p99 ${t?.p99} ms, audit ${idle.audit.passed ? 'passed' : 'FAILED'}`;
}

/** The mix's approved orders: what the idle phase sends. */
const approvedEntry = defaultMix.find((m) => m.key === 'approved')!;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      profile: { type: 'string' },
      flow: { type: 'string', default: 'both' },
      rate: { type: 'string', default: '5' },
      duration: { type: 'string', default: '30' },
      drain: { type: 'string', default: '60' },
      'no-search': { type: 'boolean', default: false },
      'search-duration': { type: 'string', default: '20' },
      warmup: { type: 'string', default: '10' },
      'max-rate': { type: 'string', default: '1000' },
      'idle-orders': { type: 'string', default: '50' },
      repeat: { type: 'string', default: '1' },
      'sustained-factor': { type: 'string', default: String(defaultSustainedRule.idleFactor) },
      'sustained-floor': { type: 'string', default: String(defaultSustainedRule.floorMs) },
      'no-baselines': { type: 'boolean', default: false },
      'no-report': { type: 'boolean', default: false },
    },
  });
  const flows: Flow[] = values.flow === 'both' ? ['orchestrated', 'choreographed'] : [values.flow as Flow];
  if (!flows.every((f) => f === 'orchestrated' || f === 'choreographed'))
    throw new Error(`--flow must be orchestrated, choreographed or both, not ${values.flow}`);
  const [rate, durationS, drainS, searchDurationS, maxRate, warmupS] = [
    values.rate,
    values.duration,
    values.drain,
    values['search-duration'],
    values['max-rate'],
    values.warmup,
  ].map(Number) as [number, number, number, number, number, number];
  const idleOrders = Number(values['idle-orders']);
  if (!(rate > 0 && durationS > 0 && searchDurationS > 0 && maxRate >= rate && drainS >= 0 && warmupS >= 0))
    throw new Error('--rate, --duration and --search-duration must be positive numbers, --max-rate at least --rate, --drain and --warmup zero or more');
  if (!(Number.isInteger(idleOrders) && idleOrders >= 0)) throw new Error('--idle-orders must be a whole number, 0 to leave the idle phase out');
  const repeat = Number(values.repeat);
  if (!(Number.isInteger(repeat) && repeat >= 1)) throw new Error('--repeat must be a whole number of at least 1');
  const sustainedRule = { idleFactor: Number(values['sustained-factor']), floorMs: Number(values['sustained-floor']) };
  if (!(sustainedRule.idleFactor >= 1 && sustainedRule.floorMs >= 0))
    throw new Error('--sustained-factor must be a number of at least 1, --sustained-floor (ms) zero or more');

  // The Temporal baseline runs a worker in this process: its log lines stay out of the report.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  // --profile is STACK_PROFILE, as for npm start, which the benchmark may start with this environment.
  if (values.profile !== undefined) process.env.STACK_PROFILE = values.profile;
  const config = loadStackConfig();
  const system = await ensureSystem(config, say);
  const sut = systemUnderTest(config, 'bench');
  const { pool, kafka, admin } = sut;
  await admin.connect();

  const result: BenchResult = {
    profile: config.STACK_PROFILE,
    startedAt: new Date().toISOString(),
    finishedAt: '',
    machine: { cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30) },
    tracing: system.tracing,
    mix: defaultMix.map((m) => ({ key: m.key, weight: m.weight, scenario: m.scenario.name })),
    baselines: {},
    runs: [],
    sustainedRule,
    repeat,
    idle: [],
  };
  try {
    if (!values['no-baselines']) {
      say('baselines on the same servers ...');
      result.baselines.postgres = await postgresBaseline(pool, 8, 10);
      say(`  PostgreSQL: ${result.baselines.postgres.perSecond} ${result.baselines.postgres.unit} (${result.baselines.postgres.how})`);
      result.baselines.kafka = await kafkaBaseline(kafka, 20_000, 100, config.STACK_PROFILE === 'cluster' ? 3 : 1);
      say(`  Kafka: ${result.baselines.kafka.perSecond} ${result.baselines.kafka.unit} (${result.baselines.kafka.how})`);
      result.baselines.temporal = await temporalBaseline(
        temporalConnectionOptions(loadConfig(Type.Object(TemporalEnv), temporalEnvOf(config))),
        orchestratedStepKinds,
        50,
        20,
      );
      say(`  Temporal: ${result.baselines.temporal.perSecond} ${result.baselines.temporal.unit} (${result.baselines.temporal.how})`);
    }
    for (const flow of flows) {
      let idle: IdleLatency | undefined;
      if (idleOrders > 0) {
        // Before the warm-up, so nothing the benchmark sent is still in flight.
        say(`${flow}: one order on an idle system, ${idleOrders} approved orders one at a time ...`);
        // Each order may take up to --drain to end, as in a run; never less than 10 s, as 0 would not wait at all.
        idle = await runIdle(sut, flow, approvedEntry, idleOrders, Math.max(drainS, 10));
        (result.idle ??= []).push(idle);
        say(describeIdle(idle));
        for (const c of idle.audit.checks.filter((c) => !c.passed)) say(`  audit: ${c.name}: ${c.detail}`);
      }
      // Without an idle p50 (--idle-orders 0, or no order confirmed) the rule has no latency limit.
      const rule: SustainedRule = { ...sustainedRule, idleP50Ms: idle?.toConfirmedMs?.p50 ?? null };
      if (idleOrders > 0 && rule.idleP50Ms === null) say(`${flow}: no order of the idle phase was confirmed: runs are judged without the idle latency limit`);
      if (warmupS > 0) {
        // Fresh processes are slower (JIT, caches, connection pools): warm them at the fixed rate
        // first. The warm-up is audited like every run but counts in no figure.
        say(`${flow}: warming up, ${rate} orders/s for ${warmupS} s ...`);
        const warmup = await runFlow(sut, flow, rate, warmupS, drainS, rule);
        result.runs.push({ ...warmup, phase: 'warmup' });
        say(describeRun(warmup));
      }
      /** `repeat` runs at `offered` for --duration, each pushed to the result as it ends. */
      const repeated = async (phase: 'fixed' | 'confirm', offered: number): Promise<FlowRun[]> => {
        const runs: FlowRun[] = [];
        for (let repetition = 1; repetition <= repeat; repetition++) {
          const of = repeat > 1 ? ` (${repetition} of ${repeat})` : '';
          say(
            `${flow}: ${phase === 'fixed' ? '' : 'confirming, '}${offered} orders/s for ${durationS} s${of} (mix ${defaultMix.map((m) => `${m.weight}% ${m.key}`).join(', ')}) ...`,
          );
          const run = await runFlow(sut, flow, offered, durationS, drainS, rule);
          result.runs.push({ ...run, phase, repetition });
          runs.push(run);
          say(describeRun(run));
          for (const c of run.audit.checks.filter((c) => !c.passed)) say(`  audit: ${c.name}: ${c.detail}`);
        }
        return runs;
      };
      const fixed = await repeated('fixed', rate);
      // Held by most repetitions: one unlucky run on a shared box neither makes nor breaks a rate.
      const fixedSustained = fixed.filter((r) => r.sustained).length * 2 > fixed.length;
      if (values['no-search'] || !fixedSustained) continue;
      // Rising rates until one is not sustained (or its audit fails), then bisection between the
      // highest sustained and the lowest failed rate until they are within 10% (bench/rate-search.ts).
      const tried: TriedRate[] = [{ rate, sustained: fixedSustained }];
      for (let offered = nextSearchRate(tried, { maxRate }); offered !== undefined; offered = nextSearchRate(tried, { maxRate })) {
        const phase = searchBounds(tried).failed === undefined ? 'search' : 'bisect';
        say(`${flow}: ${phase === 'search' ? 'searching' : 'bisecting'}, ${offered} orders/s for ${searchDurationS} s ...`);
        const step = await runFlow(sut, flow, offered, searchDurationS, drainS, rule);
        result.runs.push({ ...step, phase });
        tried.push({ rate: offered, sustained: step.sustained });
        say(describeRun(step));
        for (const c of step.audit.checks.filter((c) => !c.passed)) say(`  audit: ${c.name}: ${c.detail}`);
      }
      const best = searchBounds(tried).sustained ?? rate;
      // The search kept the rate that passed one short run, the luckiest of its neighbours: the
      // figures at the highest sustained rate come from --repeat runs as long as the fixed ones.
      // At the fixed rate itself, the fixed runs are those.
      const confirmed = best === rate ? fixed : await repeated('confirm', best);
      say(
        `${flow}: highest sustained rate ${best}/s, sustained in ${confirmed.filter((r) => r.sustained).length} of ${confirmed.length} runs of ${durationS} s`,
      );
    }
  } finally {
    await admin.disconnect();
    await pool.end();
    await system.stop();
  }

  result.finishedAt = new Date().toISOString();
  const resultsDir = join(projectRoot, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${result.startedAt.replace(/[:.]/g, '-')}${config.STACK_PROFILE === 'dev' ? '' : `-${config.STACK_PROFILE}`}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  say(`results: ${relative(projectRoot, file)}`);
  if (!values['no-report']) say(`report: ${relative(projectRoot, await writeReport(file))}`);
  const failed = [...result.runs, ...(result.idle ?? [])].filter((r) => !r.audit.passed);
  if (failed.length > 0) say(`FAILED: the audit of ${failed.length} run(s) failed; their figures do not count`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`[bench] ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
