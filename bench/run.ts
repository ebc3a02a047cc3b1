/**
 * `npm run bench`: drives orders through the HTTP API at a fixed arrival rate for each flow,
 * measures throughput and end-to-end latency (until the final state in the flow's store and in the
 * read model), CPU and memory of each process, PostgreSQL commits and Kafka messages per order,
 * then audits the run. Writes bench/results/<time>.json. A benchmark, not a test: nothing here
 * passes or fails on speed; a failed audit fails the run.
 *
 *   npm run bench -- [--flow orchestrated|choreographed|both] [--rate 20] [--duration 30] [--drain 60]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { loadStackConfig } from '../infra/stack/config.ts';
import { projectRoot } from '../infra/stack/paths.ts';
import { PidFiles } from '../infra/stack/process.ts';
import { postgresUrl } from '../infra/stack/servers/postgres.ts';
import { appServices, stackFolders } from '../infra/stack/stack.ts';
import { createPool } from '../src/platform/database.ts';
import { auditRun } from './audit.ts';
import { driveOrders, type Flow } from './drive.ts';
import { percentiles, postgresCommits, processUsage } from './measure.ts';
import { defaultMix, mixSchedule } from './mix.ts';
import { ensureSystem } from './system.ts';

const say = (line: string) => console.log(`[bench] ${line}`);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      flow: { type: 'string', default: 'both' },
      rate: { type: 'string', default: '20' },
      duration: { type: 'string', default: '30' },
      drain: { type: 'string', default: '60' },
    },
  });
  const flows: Flow[] = values.flow === 'both' ? ['orchestrated', 'choreographed'] : [values.flow as Flow];
  if (!flows.every((f) => f === 'orchestrated' || f === 'choreographed')) throw new Error(`--flow must be orchestrated, choreographed or both, not ${values.flow}`);
  const [rate, durationS, drainS] = [Number(values.rate), Number(values.duration), Number(values.drain)];
  if (!(rate > 0 && durationS > 0 && drainS >= 0)) throw new Error('--rate and --duration must be positive numbers, --drain zero or more');

  const config = loadStackConfig();
  const system = await ensureSystem(config, say);
  const pool = createPool(postgresUrl({ user: config.POSTGRES_USER, password: config.POSTGRES_PASSWORD, port: config.POSTGRES_PORT, database: config.POSTGRES_DB }), 4);
  const kafka = new Kafka({ clientId: 'bench', brokers: [`127.0.0.1:${config.KAFKA_PORT}`], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const pids = new PidFiles(stackFolders(config).run);
  const processNames = ['postgres', 'kafka', 'temporal', ...appServices(config).map((s) => s.name)];

  const topicMessages = async (filter: (topic: string) => boolean) => {
    let sum = 0;
    for (const topic of (await admin.listTopics()).filter(filter)) sum += (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
    return sum;
  };
  const deadLetters = () => topicMessages((t) => t.startsWith('dlq.'));
  const eventMessages = () => topicMessages((t) => !t.startsWith('dlq.') && !t.startsWith('__'));

  const runs = [];
  let allPassed = true;
  try {
    for (const flow of flows) {
      say(`${flow}: ${rate} orders/s for ${durationS} s (mix ${defaultMix.map((m) => `${m.weight}% ${m.key}`).join(', ')}) ...`);
      const usageBefore = Object.fromEntries(processNames.map((name) => [name, processUsage(pids.read(name)?.pid ?? -1)]));
      const [commitsBefore, messagesBefore, deadLettersBefore] = [await postgresCommits(pool), await eventMessages(), await deadLetters()];
      const { orders, elapsedMs } = await driveOrders({ apiUrl: `http://127.0.0.1:${config.API_PORT}`, pool, flow, rate, durationS, drainS, schedule: mixSchedule(defaultMix, 1000) });
      const [commitsAfter, messagesAfter] = [await postgresCommits(pool), await eventMessages()];
      const processes = Object.fromEntries(
        processNames.map((name) => {
          const before = usageBefore[name];
          const after = processUsage(pids.read(name)?.pid ?? -1);
          return [name, before && after ? { cpuSeconds: Math.round((after.cpuSeconds - before.cpuSeconds) * 100) / 100, cpuPercentOfOneCore: Math.round(((after.cpuSeconds - before.cpuSeconds) / (elapsedMs / 1000)) * 1000) / 10, rssMb: after.rssMb } : null];
        }),
      );
      const audit = await auditRun(orders, { pool, gatewayUrl: `http://127.0.0.1:${config.GATEWAY_PORT}`, before: { deadLetters: deadLettersBefore }, deadLetters });
      const ended = orders.filter((o) => o.terminalAt !== undefined);
      const lastEnd = Math.max(...ended.map((o) => o.terminalAt!));
      const run = {
        flow,
        offeredRate: rate,
        durationS,
        submitted: orders.length,
        ended: ended.length,
        throughputPerS: ended.length > 0 ? Math.round((ended.length / (lastEnd / 1000)) * 10) / 10 : 0,
        latencyMs: {
          http: percentiles(orders.flatMap((o) => (o.httpMs === null ? [] : [o.httpMs]))),
          toFinalState: percentiles(ended.map((o) => o.terminalAt! - o.submittedAt)),
          toReadModelComplete: percentiles(orders.flatMap((o) => (o.visibleAt === undefined ? [] : [o.visibleAt - o.submittedAt]))),
          toFinalStateByKind: Object.fromEntries(defaultMix.map((m) => [m.key, percentiles(ended.filter((o) => o.kind === m.key).map((o) => o.terminalAt! - o.submittedAt))])),
        },
        perOrder: {
          postgresCommits: Math.round(((commitsAfter - commitsBefore) / orders.length) * 10) / 10,
          kafkaMessages: Math.round(((messagesAfter - messagesBefore) / orders.length) * 10) / 10,
        },
        processes,
        audit,
      };
      allPassed &&= audit.passed;
      say(`${flow}: ${run.ended}/${run.submitted} ended, ${run.throughputPerS} orders/s; to final state p50 ${run.latencyMs.toFinalState?.p50} ms, p99 ${run.latencyMs.toFinalState?.p99} ms; audit ${audit.passed ? 'passed' : 'FAILED'}`);
      for (const c of audit.checks.filter((c) => !c.passed)) say(`  audit: ${c.name}: ${c.detail}`);
      runs.push(run);
    }
  } finally {
    await admin.disconnect();
    await pool.end();
    await system.stop();
  }

  const resultsDir = join(projectRoot, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ startedAt: new Date().toISOString(), machine: { cpus: availableParallelism(), memoryGb: Math.round(totalmem() / 2 ** 30) }, mix: defaultMix.map((m) => ({ key: m.key, weight: m.weight, scenario: m.scenario.name })), runs }, null, 2)}\n`);
  say(`results: ${file}`);
  return allPassed ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`[bench] ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
