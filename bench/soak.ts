/**
 * `npm run bench:soak`: one flow at one fixed rate for minutes, on the running system of the
 * profile or one it starts with tracing off (bench/system.ts), to see whether anything builds up:
 * every process's memory and the latency must stay flat after the warm-up and the audit pass
 * (bench/soak-verdict.ts, issue 15). Writes bench/results/soak-<time>.json and docs/soak-<flow>.md with
 * docs/soak/<flow>-*.svg (bench/soak-report.ts). Exit code 1 when the verdict is not passed.
 *
 *   npm run bench:soak -- --flow orchestrated|choreographed --rate N [--profile dev|cluster] [--minutes 10] [--warmup-minutes 2]
 *                         [--sample-seconds 10] [--drain 60] [--no-report]
 *   npm run bench:soak -- --report bench/results/soak-<time>.json   (regenerates docs/soak-<flow>.md only)
 *
 * The caller passes half the highest sustained rate `npm run bench` found for the flow.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadStackConfig } from '../infra/stack/config.ts';
import { projectRoot } from '../infra/stack/paths.ts';
import { auditRun } from './audit.ts';
import { driveOrders, type DrivenOrder, type Flow } from './drive.ts';
import { isDeadLetterTopic, topicMessages } from './flow-run.ts';
import { percentiles, processUsage } from './measure.ts';
import { defaultMix, mixSchedule } from './mix.ts';
import { writeSoakDoc, type SoakResult } from './soak-report.ts';
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
  const [durationS, warmupS] = [minutes * 60, warmupMinutes * 60];

  if (values.profile !== undefined) process.env.STACK_PROFILE = values.profile;
  const config = loadStackConfig();
  const system = await ensureSystem(config, say);
  const { pool, admin, apiUrl, tokens, gatewayUrl, processNames, pids: pidsNow } = systemUnderTest(config, 'bench-soak');

  const startedAt = new Date().toISOString();
  // Only the processes running when the soak begins: one the profile lists but that has no live
  // pid (a server the stack does not run here) has no memory to follow.
  const pids = Object.fromEntries(Object.entries(pidsNow()).filter(([, pid]) => pid !== undefined && processUsage(pid) !== undefined));
  const untracked = processNames.filter((name) => !(name in pids));
  if (untracked.length > 0) say(`no live process for ${untracked.join(', ')}: left out`);
  const samples: RssSample[] = [];
  const orders: DrivenOrder[] = [];
  let audit: SoakResult['audit'];
  const bounds = soakWindowBounds(durationS, windowSeconds, warmupS);
  let sampler: NodeJS.Timeout | undefined;
  try {
    await admin.connect();
    const deadLettersBefore = await topicMessages(admin, isDeadLetterTopic);
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
    await admin.disconnect();
    await pool.end();
    await system.stop();
  }

  const windows = windowFigures(orders, bounds);
  const verdict = soakVerdict({ samples, windows, auditPassed: audit.passed, warmupS, durationS });
  const result: SoakResult = {
    profile: config.STACK_PROFILE,
    flow,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30) },
    tracing: system.tracing,
    settings: { rate, minutes, warmupMinutes, sampleSeconds, windowSeconds, drainS },
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
  say(
    `  latency: first p50 after the warm-up ${verdict.latency.firstP50Ms} ms, last ${verdict.latency.lastP50Ms} ms, limit ${verdict.latency.limitMs} ms, ${verdict.latency.flat ? 'flat' : `NOT flat: ${verdict.latency.why}`}`,
  );
  for (const c of audit.checks.filter((c) => !c.passed)) say(`  audit: ${c.name}: ${c.detail}`);
  say(`verdict: ${verdict.passed ? 'passed' : 'FAILED'} (audit ${audit.passed ? 'passed' : 'FAILED'})`);
  return verdict.passed ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`[bench:soak] ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
