/**
 * `npm run bench:soak`: one flow at one fixed rate for minutes, on the running system of the
 * profile or one it starts with tracing off (bench/system.ts), to see whether anything builds up:
 * every process's memory and the latency must stay flat after the warm-up and the audit pass
 * (bench/soak-verdict.ts, issue 15). Every --store-sample-seconds it also reads the size of every store
 * (bench/soak-stores.ts: tables, databases, Kafka topics, the servers' data folders); each store whose
 * retention is shorter than the soak must level off (issue 19). --short-retention starts the system
 * with retentions of minutes in proportion to --minutes (refused when a system already runs, as the
 * settings reach only processes the soak starts). Writes bench/results/soak-<time>.json and docs/soak-<flow>.md with
 * docs/soak/<flow>-*.svg (bench/soak-report.ts). Exit code 1 when the verdict is not passed.
 *
 *   npm run bench:soak -- --flow orchestrated|choreographed --rate N [--profile dev|cluster] [--minutes 10] [--warmup-minutes 2]
 *                         [--sample-seconds 10] [--drain 60] [--no-report]
 *                         [--short-retention] [--store-sample-seconds 30]
 *   npm run bench:soak -- --report bench/results/soak-<time>.json   (regenerates docs/soak-<flow>.md only)
 *
 * The caller passes half the highest sustained rate `npm run bench` found for the flow.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Admin } from 'kafkajs';
import { Type } from 'typebox';
import { loadStackConfig } from '../infra/stack/config.ts';
import { projectRoot } from '../infra/stack/paths.ts';
import { auditRun } from './audit.ts';
import { driveOrders, type DrivenOrder, type Flow } from './drive.ts';
import { isDeadLetterTopic, topicMessages } from './flow-run.ts';
import { percentiles, processUsage } from './measure.ts';
import { defaultMix, mixSchedule } from './mix.ts';
import { ApiRetentionEnv, loadConfig, RecordsRetentionEnv, RetentionEnv } from '../src/platform/config.ts';
import { writeSoakDoc, type SoakResult } from './soak-report.ts';
import {
  kafkaDefaultRetentionCheckMs,
  keptRecordsVariables,
  sampleStores,
  shortRetentionEnv,
  soakStoreSpecs,
  type RetentionSettings,
  type StoreSample,
} from './soak-stores.ts';
import { soakVerdict, soakWindowBounds, windowFigures, type RssSample } from './soak-verdict.ts';
import { ensureSystem, systemUnderTest } from './system.ts';

const say = (line: string) => console.log(`[bench:soak] ${line}`);

/** Length of a window of the load: the per-window figures, and one driver per window (see below). */
const windowSeconds = 60;
const minutesOf = (seconds: number) => Math.round((seconds / 60) * 100) / 100;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      profile: { type: 'string' },
      flow: { type: 'string' },
      rate: { type: 'string' },
      minutes: { type: 'string', default: '10' },
      'warmup-minutes': { type: 'string', default: '2' },
      'sample-seconds': { type: 'string', default: '10' },
      drain: { type: 'string', default: '60' },
      'no-report': { type: 'boolean', default: false },
      'short-retention': { type: 'boolean', default: false },
      'store-sample-seconds': { type: 'string', default: '30' },
      report: { type: 'string' },
    },
  });
  if (values.report !== undefined) {
    say(`report: ${relative(projectRoot, await writeSoakDoc(resolve(values.report)))}`);
    return 0;
  }
  const flow = values.flow as Flow;
  if (flow !== 'orchestrated' && flow !== 'choreographed') throw new Error('--flow orchestrated or --flow choreographed is required (one flow per soak)');
  const [rate, minutes, warmupMinutes, sampleSeconds, drainS] = [
    values.rate,
    values.minutes,
    values['warmup-minutes'],
    values['sample-seconds'],
    values.drain,
  ].map(Number) as [number, number, number, number, number];
  if (!(rate > 0 && minutes > warmupMinutes && warmupMinutes >= 0 && sampleSeconds > 0 && drainS >= 0))
    throw new Error(
      '--rate (required) and --sample-seconds must be positive numbers, --minutes more than --warmup-minutes, --warmup-minutes and --drain zero or more',
    );
  const storeSampleSeconds = Number(values['store-sample-seconds']);
  if (!(storeSampleSeconds > 0)) throw new Error('--store-sample-seconds must be a positive number');
  const [durationS, warmupS] = [minutes * 60, warmupMinutes * 60];

  if (values.profile !== undefined) process.env.STACK_PROFILE = values.profile;
  const config = loadStackConfig();
  // The retentions of the system under soak: --short-retention's, else those of this environment
  // (which a running system may not share: it was started with its own).
  const shortRetention = values['short-retention'] ? shortRetentionEnv(minutes) : undefined;
  const retentionEnv = Object.fromEntries(Object.entries(shortRetention ?? {}).map(([name, ms]) => [name, String(ms)]));
  const inForce = loadConfig(Type.Object({ ...RetentionEnv, ...ApiRetentionEnv, ...RecordsRetentionEnv }), { ...process.env, ...retentionEnv });
  const optionalMs = (name: string) => (process.env[name] === undefined ? {} : { [name]: Number(process.env[name]) });
  const retention: RetentionSettings = {
    ...inForce,
    ...optionalMs('TEMPORAL_NAMESPACE_RETENTION_MS'),
    ...optionalMs('GATEWAY_LEDGER_RETENTION_MS'),
    ...shortRetention,
  };
  if (shortRetention)
    say(
      `short retention: ${Object.entries(retentionEnv)
        .map(([name, ms]) => `${name}=${ms}`)
        .join(' ')}`,
    );
  const system = await ensureSystem(config, say, {
    env: retentionEnv,
    ...(shortRetention ? { refuseRunning: '--short-retention sets the retentions of the processes the soak starts' } : {}),
  });
  const { pool, admin, apiUrl, tokens, gatewayUrl, processNames, pids: pidsNow } = systemUnderTest(config, 'bench-soak');

  const startedAt = new Date().toISOString();
  // Only the processes running when the soak begins: one the profile lists but that has no live
  // pid (a server the stack does not run here) has no memory to follow.
  const pids = Object.fromEntries(Object.entries(pidsNow()).filter(([, pid]) => pid !== undefined && processUsage(pid) !== undefined));
  const untracked = processNames.filter((name) => !(name in pids));
  if (untracked.length > 0) say(`no live process for ${untracked.join(', ')}: left out`);
  const samples: RssSample[] = [];
  const storeSamples: StoreSample[] = [];
  let kafkaRetentionCheckMs = kafkaDefaultRetentionCheckMs;
  const orders: DrivenOrder[] = [];
  let audit: SoakResult['audit'];
  const bounds = soakWindowBounds(durationS, windowSeconds, warmupS);
  let sampler: NodeJS.Timeout | undefined;
  let storeSampler: NodeJS.Timeout | undefined;
  let storeSampling: Promise<void> = Promise.resolve();
  try {
    await admin.connect();
    const deadLettersBefore = await topicMessages(admin, isDeadLetterTopic);
    kafkaRetentionCheckMs = await retentionCheckInterval(admin);
    const soakStart = performance.now();
    const atS = () => Math.round((performance.now() - soakStart) / 100) / 10;
    // A process now under another pid restarted: null, as if gone, so its RSS starting over never reads as flat.
    const sample = () => {
      const current = pidsNow();
      samples.push({
        atS: atS(),
        rssMb: Object.fromEntries(
          Object.entries(pids).map(([name, pid]) => [name, pid !== undefined && current[name] === pid ? (processUsage(pid)?.rssMb ?? null) : null]),
        ),
      });
    };
    sample();
    sampler = setInterval(sample, sampleSeconds * 1000);
    // One store sample at a time: a slow one (a long walk of the data folder) is skipped over, not queued.
    let sampling = false;
    const sampleStoresNow = () => {
      if (sampling) return storeSampling;
      sampling = true;
      storeSampling = sampleStores({ pool, dataDir: config.STACK_DATA_DIR, atS }).then((s) => {
        storeSamples.push(s);
        sampling = false;
        if (s.errors) say(`  store sample at ${s.atS} s incomplete: ${s.errors.join('; ')}`);
      });
      return storeSampling;
    };
    await sampleStoresNow();
    storeSampler = setInterval(() => void sampleStoresNow(), storeSampleSeconds * 1000);
    say(
      `${flow}: ${rate} orders/s for ${minutes} min (warm-up ${warmupMinutes} min; mix ${defaultMix.map((m) => `${m.weight}% ${m.key}`).join(', ')}), RSS of ${Object.keys(pids).length} processes every ${sampleSeconds} s ...`,
    );
    // One driver per window rather than one for the whole soak: a driver watches PostgreSQL for
    // all of its orders until they end, and its bookkeeping over a whole soak's orders would grow
    // the benchmark's own CPU on the same cores as the soak goes on. The next window's driver
    // starts once the last order of this one is sent, on the soak's clock (`startedAt` is the
    // window's place on it), so the arrivals go on without a gap while this window drains.
    const drives: Promise<void>[] = [];
    let driveError: Error | undefined;
    await new Promise<void>((allSent, failed) => {
      const startWindow = (index: number) => {
        const bound = bounds[index];
        if (!bound) return allSent();
        const drive = driveOrders({
          apiUrl,
          tokens,
          pool,
          flow,
          rate,
          durationS: bound.toS - bound.fromS,
          drainS,
          schedule: mixSchedule(defaultMix, 1000),
          startedAt: soakStart + bound.fromS * 1000,
          onSubmitted: () => startWindow(index + 1),
        });
        drives.push(
          drive.then(
            ({ orders: own }) => {
              // Onto the soak's clock: the window's clock began at its start.
              const offset = bound.fromS * 1000;
              for (const o of own)
                orders.push({ ...o, submittedAt: o.submittedAt + offset, ...(o.terminalAt === undefined ? {} : { terminalAt: o.terminalAt + offset }) });
              const final = percentiles(own.flatMap((o) => (o.terminalAt === undefined ? [] : [o.terminalAt - o.submittedAt])));
              const rss = Object.entries(samples.at(-1)?.rssMb ?? {}).map(([name, mb]) => `${name} ${mb ?? 'gone'}`);
              say(
                `  minutes ${minutesOf(bound.fromS)}–${minutesOf(bound.toS)}${bound.warmup ? ' (warm-up)' : ''}: ${final?.count ?? 0}/${own.length} ended, p50 ${final?.p50} ms p99 ${final?.p99} ms; RSS (MB) ${rss.join(', ')}`,
              );
              const stores = storeSamples.at(-1);
              if (stores) say(`    stores at ${stores.atS} s: ${storeLine(stores)}`);
            },
            // Settled either way, so that Promise.all below sees the error once and no rejection goes unhandled.
            (err: unknown) => {
              const error = err instanceof Error ? err : new Error(String(err));
              driveError ??= error;
              failed(error);
            },
          ),
        );
      };
      startWindow(0);
    });
    sample();
    clearInterval(sampler);
    clearInterval(storeSampler);
    await storeSampling;
    await sampleStoresNow();
    say(`${flow}: load over, draining (up to ${drainS} s) ...`);
    await Promise.all(drives);
    if (driveError !== undefined) throw driveError;
    orders.sort((a, b) => a.submittedAt - b.submittedAt);
    say(`${flow}: auditing ${orders.length} orders ...`);
    audit = await auditRun(orders, {
      pool,
      gatewayUrl,
      before: { deadLetters: deadLettersBefore },
      deadLetters: () => topicMessages(admin, isDeadLetterTopic),
    });
  } finally {
    clearInterval(sampler);
    clearInterval(storeSampler);
    await storeSampling.catch(() => undefined);
    await admin.disconnect();
    await pool.end();
    await system.stop();
  }

  const windows = windowFigures(orders, bounds);
  const storeSpecs = soakStoreSpecs(retention, kafkaRetentionCheckMs);
  const verdict = soakVerdict({ samples, windows, auditPassed: audit.passed, warmupS, durationS, stores: { samples: storeSamples, specs: storeSpecs } });
  const result: SoakResult = {
    profile: config.STACK_PROFILE,
    flow,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30) },
    tracing: system.tracing,
    settings: { rate, minutes, warmupMinutes, sampleSeconds, windowSeconds, drainS, storeSampleSeconds },
    retention: {
      short: shortRetention !== undefined,
      settings: retention,
      kept: [...keptRecordsVariables],
      kafkaRetentionCheckMs,
      systemStartedHere: system.startedHere,
    },
    storeSpecs,
    storeSamples,
    mix: defaultMix.map((m) => ({ key: m.key, weight: m.weight, scenario: m.scenario.name })),
    pids,
    submitted: orders.length,
    ended: orders.filter((o) => o.terminalAt !== undefined).length,
    samples,
    windows,
    audit,
    verdict,
  };
  const resultsDir = join(projectRoot, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `soak-${startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  say(`results: ${relative(projectRoot, file)}`);
  if (!values['no-report']) say(`report: ${relative(projectRoot, await writeSoakDoc(file))}`);
  for (const [name, m] of Object.entries(verdict.memory))
    say(
      `  ${name}: ${m.startMb} → ${m.endMb} MB (${m.growth === null ? '–' : `${Math.round(m.growth * 1000) / 10}%`}), ${m.flat ? 'flat' : `NOT flat: ${m.why}`}`,
    );
  for (const [name, s] of Object.entries(verdict.stores ?? {}))
    say(
      `  ${name}: ${figures(s.start)} after the warm-up, ${figures(s.settled)} at ${s.settledAtS === null ? '–' : `${s.settledAtS} s`}, ${figures(s.end)} at the end; ${s.retention}; ${
        s.levelledOff === null ? `not judged: ${s.why}` : s.levelledOff ? 'levelled off' : `NOT levelled off: ${s.why}`
      }`,
    );
  say(
    `  latency: first p50 after the warm-up ${verdict.latency.firstP50Ms} ms, last ${verdict.latency.lastP50Ms} ms, limit ${verdict.latency.limitMs} ms, ${verdict.latency.flat ? 'flat' : `NOT flat: ${verdict.latency.why}`}`,
  );
  for (const c of audit.checks.filter((c) => !c.passed)) say(`  audit: ${c.name}: ${c.detail}`);
  say(`verdict: ${verdict.passed ? 'passed' : 'FAILED'} (audit ${audit.passed ? 'passed' : 'FAILED'})`);
  return verdict.passed ? 0 : 1;
}

const mb = (bytes: number) => `${Math.round((bytes / 2 ** 20) * 100) / 100} MB`;
const figures = (f: { rows: number | null; bytes: number } | null) => (f === null ? '–' : `${f.rows === null ? '' : `${f.rows} rows, `}${mb(f.bytes)}`);

/** A store sample in one line: the bounded tables and the orders, the application's topics, the data folders. */
function storeLine(sample: StoreSample): string {
  const tables = ['messaging.processed_events', 'messaging.outbox', 'api.idempotency_keys', 'orders.orders'].map((name) => {
    const t = sample.tables[name];
    return `${name} ${t ? `${t.rows} rows ${mb(t.bytes)}` : '–'}`;
  });
  const topics = Object.entries(sample.topics).reduce((sum, [topic, bytes]) => sum + (topic.startsWith('__') ? 0 : bytes), 0);
  const dirs = Object.entries(sample.dataDirs).map(([name, bytes]) => `${name} ${mb(bytes)}`);
  return `${tables.join(', ')}; topics ${mb(topics)}; data ${dirs.join(', ')}`;
}

/** The broker's log.retention.check.interval.ms (how often it deletes segments past the retention); Kafka's default when unreadable. */
async function retentionCheckInterval(admin: Admin): Promise<number> {
  try {
    const { brokers } = await admin.describeCluster();
    const configs = await admin.describeConfigs({
      // ConfigResourceTypes.BROKER (4): kafkajs's enum is not one of the names Node finds in its CommonJS exports.
      resources: [{ type: 4, name: String(brokers[0]!.nodeId), configNames: ['log.retention.check.interval.ms'] }],
      includeSynonyms: false,
    });
    const value = Number(configs.resources[0]?.configEntries.find((e) => e.configName === 'log.retention.check.interval.ms')?.configValue);
    return Number.isFinite(value) && value > 0 ? value : kafkaDefaultRetentionCheckMs;
  } catch {
    return kafkaDefaultRetentionCheckMs;
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`[bench:soak] ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
