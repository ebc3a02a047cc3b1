/**
 * `npm run bench:profile`: a CPU profile of every application process while one flow runs at one
 * rate, drawn as flame graphs. It starts the system itself (never a running one: the processes
 * must start with `node --cpu-prof`, see STACK_CPU_PROFILE_DIR) with tracing off, warms it up,
 * runs the flow for --duration, stops the system so each process writes its profile, and writes
 * <out>/<flow>-<process>.svg, <out>/<flow>-profile.md and .json. Only the samples taken during
 * the measured run count (not start-up, warm-up or shutdown).
 *
 *   npm run bench:profile -- --flow orchestrated|choreographed --rate N [--profile dev|cluster] [--duration 30] [--warmup 10] [--drain 60] [--out docs/profiles]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadStackConfig } from '../infra/stack/config.ts';
import { projectRoot } from '../infra/stack/paths.ts';
import { httpProbe } from '../infra/stack/servers/node-service.ts';
import { waitUntil } from '../infra/stack/wait.ts';
import type { Flow } from './drive.ts';
import { runFlow, type FlowRun } from './flow-run.ts';
import { writeProfileReport } from './profile-report.ts';
import { defaultSustainedRule } from './sustained.ts';
import { ensureSystem, systemUnderTest } from './system.ts';

const say = (line: string) => console.log(`[bench:profile] ${line}`);
/** CLOCK_MONOTONIC in µs: the clock V8 stamps its profile samples with, the same for every process on the machine. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      profile: { type: 'string' },
      flow: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string', default: '30' },
      warmup: { type: 'string', default: '10' },
      drain: { type: 'string', default: '60' },
      out: { type: 'string', default: 'docs/profiles' },
    },
  });
  const flow = values.flow as Flow;
  if (flow !== 'orchestrated' && flow !== 'choreographed') throw new Error('--flow orchestrated or --flow choreographed is required (one flow per profile)');
  const [rate, durationS, warmupS, drainS] = [values.rate, values.duration, values.warmup, values.drain].map(Number) as [number, number, number, number];
  if (!(rate > 0 && durationS > 0 && warmupS >= 0 && drainS >= 0))
    throw new Error('--rate (required) and --duration must be positive numbers, --warmup and --drain zero or more');
  if (values.profile !== undefined) process.env.STACK_PROFILE = values.profile;
  const config = loadStackConfig();
  const readyz = `http://127.0.0.1:${config.API_PORT}/readyz`;
  if ((await waitUntil(httpProbe(readyz), { timeoutMs: 0 })).ready)
    throw new Error(
      `a system already answers ${readyz}: its processes run without the profiler; stop it (Ctrl-C on its npm start), bench:profile starts its own`,
    );
  const profileDir = mkdtempSync(join(tmpdir(), 'order-saga-cpu-profile-'));
  const system = await ensureSystem(config, say, { env: { STACK_CPU_PROFILE_DIR: profileDir } });
  const sut = systemUnderTest(config, 'bench-profile');
  const { pool, admin } = sut;
  // No idle phase here: the latency side of `sustained` is off, the other rules still judge the run.
  const rule = { ...defaultSustainedRule, idleP50Ms: null };
  let run: FlowRun;
  let window: { fromUs: number; toUs: number };
  try {
    await admin.connect();
    if (warmupS > 0) {
      say(`${flow}: warming up, ${rate} orders/s for ${warmupS} s ...`);
      const warmup = await runFlow(sut, flow, rate, warmupS, drainS, rule);
      say(`${flow}: warm-up done, ${warmup.ended}/${warmup.submitted} ended, audit ${warmup.audit.passed ? 'passed' : 'FAILED'}`);
    }
    say(`${flow}: ${rate} orders/s for ${durationS} s, profiled ...`);
    const fromUs = monotonicUs();
    run = await runFlow(sut, flow, rate, durationS, drainS, rule);
    window = { fromUs, toUs: monotonicUs() };
    say(
      `${flow}: ${run.ended}/${run.submitted} ended, ${run.throughputPerS} orders/s, p50 ${run.latencyMs.toFinalState?.p50} ms p99 ${run.latencyMs.toFinalState?.p99} ms, ${run.perOrder.cpuSeconds} CPU-s/order, audit ${run.audit.passed ? 'passed' : 'FAILED'}`,
    );
  } finally {
    await admin.disconnect();
    await pool.end();
    // Each process writes its profile as it exits: stop() waits for npm start, which waits for them.
    say('stopping the system (each process writes its profile as it exits) ...');
    await system.stop();
  }

  const info = { flow, profile: config.STACK_PROFILE, rate, durationS, warmupS, tracing: system.tracing, run, window };
  const report = writeProfileReport(profileDir, resolve(projectRoot, values.out), info, say);
  say(`report: ${relative(projectRoot, report)}; raw profiles kept in ${profileDir}`);
  if (!run.audit.passed) say('FAILED: the audit of the profiled run failed; its figures do not count');
  return run.audit.passed ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`[bench:profile] ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
