/**
 * `npm run chaos`: chaos under load (issue 14, item 3). Against the system `npm start` runs (or
 * one it starts the same way), for each fault in turn: a burst of mixed orders in both flows
 * through every API instance, the fault (kill -9 of one process, or PostgreSQL's fast shutdown)
 * after --before seconds, the process back (restarted by `npm start`'s supervisor, or by this
 * runner through the stack's own start code when nothing supervises it), the load going on for
 * --settle seconds, then the benchmark's audit of the burst's orders. The faults come from the
 * processes the stack runs (bench/chaos-plan.ts): the dev profile's today, the cluster profile's
 * (three brokers, two of each application process) when it runs.
 *
 *   npm run chaos -- [--flow orchestrated|choreographed|both] [--rate 2] [--faults all|kafka-broker,worker,...]
 *                    [--before 10] [--settle 40] [--drain 120] [--profile dev|cluster] [--out bench/results] [--no-report]
 *   npm run chaos -- --report bench/results/chaos-<time>.json   (regenerates docs/chaos.md only)
 *
 * Writes chaos-<time>.json and .md to --out and, unless --no-report, docs/chaos.md. Exits 1 when
 * an audit fails or a process did not come back.
 */
import { readdirSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type pg from 'pg';
import { loadStackConfig, type StackConfig } from '../infra/stack/config.ts';
import { locateTools } from '../infra/stack/install.ts';
import { projectRoot } from '../infra/stack/paths.ts';
import { PidFiles, isRunning, type ProcessRecord } from '../infra/stack/process.ts';
import type { ManagedServer } from '../infra/stack/servers/server.ts';
import { appServices, databaseUrlOf, kafkaClientSecurityOf, stackFolders, stackServersInUse } from '../infra/stack/stack.ts';
import { startServer } from '../infra/stack/start-server.ts';
import { waitUntil } from '../infra/stack/wait.ts';
import { createPool } from '../src/platform/database.ts';
import { auditRun } from './audit.ts';
import {
  activeControllerFromLogs,
  completionRate,
  inFlightAt,
  instancesOf,
  p99InWindow,
  parseFaultList,
  planFaults,
  recoveryTime,
  type PlannedFault,
} from './chaos-plan.ts';
import { customerOf, driveOrders, type DrivenOrder, type Flow, type TokenSource } from './drive.ts';
import { chaosMix, mixSchedule } from './mix.ts';
import { isDeadLetterTopic, topicMessages } from './flow-run.ts';
import { benchTokens, ensureSystem } from './system.ts';
import { chaosMarkdown, definitions, faultTable, ms, writeChaosDoc, type ChaosResult, type FaultResult } from './chaos-report.ts';

const say = (line: string) => console.log(`[chaos] ${line}`);

/** The process definition of each name this stack knows (both profiles' servers and the application). */
function knownProcesses(config: StackConfig): Map<string, ManagedServer> {
  return new Map([...stackServersInUse(config, locateTools(config.STACK_TOOLS_DIR)), ...appServices(config)].map((s) => [s.name, s]));
}

/** Names of the processes running now: every pid file in the run folder whose process lives. */
function runningProcesses(config: StackConfig, pids: PidFiles): string[] {
  const run = stackFolders(config).run;
  const names = readdirSync(run, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.json'))
    .map((e) => e.name.slice(0, -'.json'.length));
  return names.filter((name) => {
    const record = pids.read(name);
    return record !== undefined && isRunning(record);
  });
}

/** The broker (client) port of a Kafka process: the one of its ports that is not the controller's. */
const brokerPort = (server: ManagedServer) => server.ports.find((p) => !/CONTROLLER/i.test(p.setting))?.port;

/**
 * The process hosting the active KRaft controller: the node whose log shows the latest controller
 * activation; else describeCluster's controller id mapped through its broker's port (in KRaft that
 * id is any live broker, so the logs come first).
 */
async function controllerProcess(admin: Admin, known: Map<string, ManagedServer>, running: string[]): Promise<string | undefined> {
  const nodes = instancesOf('kafka', running).filter((name) => known.has(name));
  const fromLogs = activeControllerFromLogs(
    Object.fromEntries(
      nodes.map((name) => {
        try {
          return [name, readFileSync(known.get(name)!.logPath, 'utf8')];
        } catch {
          return [name, ''];
        }
      }),
    ),
  );
  if (fromLogs) return fromLogs;
  try {
    const cluster = await admin.describeCluster();
    const broker = cluster.brokers.find((b) => b.nodeId === cluster.controller);
    if (!broker) return undefined;
    return instancesOf('kafka', running).find((name) => known.get(name) && brokerPort(known.get(name)!) === broker.port);
  } catch {
    return undefined;
  }
}

/** True when a process of this name runs and answers its probe. */
async function answers(server: ManagedServer | undefined, record: ProcessRecord | undefined): Promise<boolean> {
  if (!record || !isRunning(record)) return false;
  if (!server) return true;
  try {
    await server.probe(record.pid);
    return true;
  } catch {
    return false;
  }
}

/** Whether a live `npm start` supervises this process (its pid file names it). */
function supervised(record: ProcessRecord): boolean {
  if (record.supervisorPid === undefined) return false;
  try {
    process.kill(record.supervisorPid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Brings a process back after its fault: `npm start` restarts what it supervises; anything else
 * this runner starts through the stack's own start code and records in its pid file.
 */
async function awaitComeback(
  name: string,
  dead: ProcessRecord,
  known: Map<string, ManagedServer>,
  pids: PidFiles,
  timeoutMs: number,
): Promise<{ by: 'npm start' | 'chaos runner'; ok: boolean }> {
  const server = known.get(name);
  if (supervised(dead) || !server) {
    const back = await waitUntil(
      async () => {
        const record = pids.read(name);
        if (!record || record.pid === dead.pid || !(await answers(server, record))) throw new Error(`${name} is not back yet`);
      },
      { timeoutMs, intervalMs: 250 },
    );
    return { by: 'npm start', ok: back.ready };
  }
  await waitUntil(() => (isRunning(dead) ? Promise.reject(new Error('still stopping')) : Promise.resolve()), { timeoutMs: 60_000 });
  try {
    const record = await startServer(server, timeoutMs);
    pids.write({ ...record, restarts: (dead.restarts ?? 0) + 1, lastExit: { reason: 'chaos run', at: new Date().toISOString() } });
    return { by: 'chaos runner', ok: true };
  } catch (err) {
    say(`${name} did not come back: ${(err as Error).message}`);
    return { by: 'chaos runner', ok: false };
  }
}

/** Waits until every running process answers its probe and every API instance is ready, so a fault starts from a whole system. */
async function awaitWholeSystem(names: string[], known: Map<string, ManagedServer>, pids: PidFiles, apiUrls: string[]): Promise<boolean> {
  const result = await waitUntil(
    async () => {
      for (const name of names) if (!(await answers(known.get(name), pids.read(name)))) throw new Error(`${name} does not answer`);
      for (const url of apiUrls) {
        const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3000) });
        if (!response.ok) throw new Error(`${url}/readyz answered ${response.status}`);
      }
    },
    { timeoutMs: 180_000, intervalMs: 500 },
  );
  return result.ready;
}

/**
 * Sends a person's command (approve, reject, cancel) to the API instances in turn until it is
 * applied or the order moved on: an operator reviews, the order's customer cancels.
 */
async function command(
  apiUrls: string[],
  tokens: TokenSource,
  pool: pg.Pool,
  order: DrivenOrder & { orderId: string },
  name: 'approve' | 'reject' | 'cancel',
  deadline: number,
): Promise<void> {
  const { orderId } = order;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const url = apiUrls[attempt % apiUrls.length]!;
    try {
      const headers = await tokens.headers(name === 'cancel' ? customerOf(order.kind) : { role: 'operator' });
      const response = await fetch(`${url}/orders/${orderId}/${name}`, { method: 'POST', headers, signal: AbortSignal.timeout(10_000) });
      await response.body?.cancel();
      if (response.status === 202) return;
      // 404 (a customer's cancel): the read model, which says whose order it is, has not shown it yet; the next attempt.
      // 409: already applied by an earlier attempt whose answer was lost, or the order is not yet where it waits.
      if (response.status === 409 && (await statusOf(pool, orderId)) !== 'awaiting_review') return;
    } catch {
      // The instance is away (killed, restarting): the next one.
    }
    await sleep(500);
  }
  throw new Error(`${name} of ${orderId} was not applied in time`);
}

async function statusOf(pool: pg.Pool, orderId: string): Promise<string | undefined> {
  try {
    const { rows } = await pool.query<{ status: string }>('select status from orders.orders where order_id = $1', [orderId]);
    return rows[0]?.status;
  } catch {
    return undefined; // PostgreSQL restarting
  }
}

/** The person of the mix: answers reviews and cancels during review, as its scenario says. */
function person(apiUrls: string[], tokens: TokenSource, pool: pg.Pool) {
  return async (order: DrivenOrder & { orderId: string }) => {
    const action = order.scenario.action.kind;
    if (action === 'none') return;
    const deadline = Date.now() + 240_000;
    while ((await statusOf(pool, order.orderId)) !== 'awaiting_review') {
      if (Date.now() > deadline) throw new Error(`${order.orderId} never waited for review`);
      await sleep(250);
    }
    const name = action === 'approve' ? 'approve' : action === 'reject' ? 'reject' : 'cancel';
    await command(apiUrls, tokens, pool, order, name, deadline);
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      flow: { type: 'string', default: 'both' },
      rate: { type: 'string', default: '2' },
      faults: { type: 'string', default: 'all' },
      before: { type: 'string', default: '10' },
      settle: { type: 'string', default: '40' },
      drain: { type: 'string', default: '120' },
      profile: { type: 'string' },
      out: { type: 'string', default: join(projectRoot, 'bench', 'results') },
      'no-report': { type: 'boolean', default: false },
      report: { type: 'string' },
    },
  });
  if (values.report) {
    // Only regenerate docs/chaos.md from a result file.
    say(`report: ${relative(projectRoot, writeChaosDoc(JSON.parse(readFileSync(values.report, 'utf8')) as ChaosResult, values.report))}`);
    return 0;
  }
  const flows: Flow[] = values.flow === 'both' ? ['orchestrated', 'choreographed'] : [values.flow as Flow];
  if (!flows.every((f) => f === 'orchestrated' || f === 'choreographed'))
    throw new Error(`--flow must be orchestrated, choreographed or both, not ${values.flow}`);
  const [rate, beforeS, settleS, drainS] = [values.rate, values.before, values.settle, values.drain].map(Number) as [number, number, number, number];
  if (!(rate > 0 && beforeS >= 5 && settleS >= 4 && drainS >= 0))
    throw new Error('--rate must be positive, --before at least 5, --settle at least 4, --drain zero or more');
  const kinds = parseFaultList(values.faults);

  const config = loadStackConfig(values.profile === undefined ? process.env : { ...process.env, STACK_PROFILE: values.profile });
  const system = await ensureSystem(config, say);
  // A failure before the faults' own try/finally (Kafka unreachable, say) stops the system it started too.
  const { pids, known, running, apiUrls, tokens, pool, admin } = await (async () => {
    const pids = new PidFiles(stackFolders(config).run);
    const tokens = benchTokens(config);
    const known = knownProcesses(config);
    const running = () => runningProcesses(config, pids);
    const apiUrls = instancesOf('api', running()).map((name) => `http://127.0.0.1:${known.get(name)!.ports[0]!.port}`);
    const brokers = instancesOf('kafka', running()).map((name) => `127.0.0.1:${brokerPort(known.get(name)!)}`);
    const pool = createPool(databaseUrlOf(config), 8);
    const kafka = new Kafka({ clientId: 'chaos', brokers, logLevel: logLevel.NOTHING, retry: { retries: 10 }, ...kafkaClientSecurityOf(config) });
    const admin = kafka.admin();
    await admin.connect();
    say(`API instances: ${apiUrls.join(', ')}; Kafka brokers: ${brokers.join(', ')}`);
    const initialPlan = planFaults({ running: running(), controller: await controllerProcess(admin, known, running()) }, kinds);
    for (const f of initialPlan) say(`  ${f.kind}: ${'target' in f ? `${f.action} ${f.target}${f.note ? ` (${f.note})` : ''}` : `skipped (${f.skipped})`}`);
    return { pids, known, running, apiUrls, tokens, pool, admin };
  })().catch(async (err: unknown) => {
    await system.stop();
    throw err;
  });

  const result: ChaosResult = {
    startedAt: new Date().toISOString(),
    finishedAt: '',
    profile: config.STACK_PROFILE,
    flows,
    ratePerFlow: rate,
    beforeS,
    settleS,
    mix: chaosMix.map((m) => ({ key: m.key, weight: m.weight, scenario: m.scenario.name })),
    definitions,
    faults: [],
  };
  let allBack = true;
  try {
    for (const kind of kinds) {
      const names = running();
      // The controller may have moved with the previous fault: asked again right before.
      const [planned] = planFaults({ running: names, controller: await controllerProcess(admin, known, names) }, [kind]) as [PlannedFault];
      if ('skipped' in planned) {
        result.faults.push({ kind, skipped: planned.skipped });
        continue;
      }
      if (!(await awaitWholeSystem(names, known, pids, apiUrls))) throw new Error(`the system was not whole before the ${kind} fault`);
      const deadLettersBefore = await topicMessages(admin, isDeadLetterTopic);
      say(`${kind}: ${planned.action} ${planned.target} after ${beforeS} s of load, then ${settleS} s of load ...`);
      const startedAt = performance.now();
      const now = () => performance.now() - startedAt;
      const drives = flows.map((flow) =>
        driveOrders({
          apiUrl: apiUrls[0]!,
          apiUrls,
          tokens,
          retryForMs: 120_000,
          pool,
          flow,
          rate,
          durationS: beforeS + settleS,
          drainS,
          schedule: mixSchedule(chaosMix, 1000),
          onAccepted: person(apiUrls, tokens, pool),
          startedAt,
        }).then((run) => ({ flow, orders: run.orders })),
      );
      await sleep(beforeS * 1000);
      const dead = pids.read(planned.target)!;
      const faultAt = now();
      process.kill(dead.pid, planned.action === 'restart' ? 'SIGINT' : 'SIGKILL');
      const back = await awaitComeback(planned.target, dead, known, pids, 180_000);
      const backAfterMs = back.ok ? Math.round(now() - faultAt) : null;
      allBack &&= back.ok;
      say(`  ${planned.target} ${back.ok ? `back after ${ms(backAfterMs)} (restarted by ${back.by})` : 'did NOT come back'}; load and drain ...`);
      const runs = await Promise.all(drives);
      const orders = runs.flatMap((r) => r.orders);
      const loadEnd = (beforeS + settleS) * 1000;
      const baselinePerS: Partial<Record<Flow, number>> = {};
      const recoveryMsByFlow: Partial<Record<Flow, number | null>> = {};
      for (const run of runs) {
        const completions = run.orders.filter((o) => o.terminalAt !== undefined).map((o) => o.terminalAt!);
        baselinePerS[run.flow] = Math.round(completionRate(completions, 3000, faultAt) * 100) / 100;
        const recovered = recoveryTime(completions, { faultAt, baselinePerS: baselinePerS[run.flow]!, until: loadEnd });
        recoveryMsByFlow[run.flow] = recovered === null ? null : Math.round(recovered);
      }
      const recoveries = Object.values(recoveryMsByFlow);
      const recoveryMs = recoveries.some((r) => r === null) ? null : Math.max(...(recoveries as number[]));
      const audit = await auditRun(orders, {
        pool,
        gatewayUrl: `http://127.0.0.1:${config.GATEWAY_PORT}`,
        before: { deadLetters: deadLettersBefore },
        deadLetters: () => topicMessages(admin, isDeadLetterTopic),
        mailUrl: `http://127.0.0.1:${config.SMTP_SINK_HTTP_PORT}/messages`,
      });
      const failuresOf = (...names: string[]) => audit.checks.filter((c) => names.includes(c.name)).reduce((sum, c) => sum + c.failures, 0);
      const fault: FaultResult = {
        kind,
        target: planned.target,
        action: planned.action,
        ...(planned.note ? { note: planned.note } : {}),
        submitted: orders.length,
        inFlight: inFlightAt(orders, faultAt),
        restartedBy: back.by,
        backAfterMs,
        baselinePerS,
        recoveryMsByFlow,
        recoveryMs,
        p99DuringFaultMs: p99InWindow(orders, faultAt, faultAt + Math.max(2000, recoveryMs ?? loadEnd - faultAt)),
        retriedPosts: orders.filter((o) => (o.attempts ?? 1) > 1).length,
        lost: failuresOf('every order accepted (HTTP 202)', 'every order ended'),
        doubled: failuresOf('at most one capture per order', 'at most one email per order', 'no event applied twice'),
        audit,
      };
      result.faults.push(fault);
      say(
        `  ${kind}: ${fault.submitted} orders, ${fault.inFlight} in flight at the fault, recovered after ${ms(recoveryMs)}, p99 during the fault ${ms(fault.p99DuringFaultMs)}, lost ${fault.lost}, doubled ${fault.doubled}, audit ${audit.passed ? 'passed' : 'FAILED'}`,
      );
      for (const c of audit.checks.filter((c) => !c.passed)) say(`    audit: ${c.name}: ${c.detail}`);
      for (const o of orders.filter((o) => o.actionError)) say(`    ${o.orderId}: ${o.actionError}`);
    }
  } finally {
    await admin.disconnect();
    await pool.end();
    await system.stop();
  }

  result.finishedAt = new Date().toISOString();
  mkdirSync(values.out, { recursive: true });
  const file = join(values.out, `chaos-${result.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(file.replace(/\.json$/, '.md'), `# Chaos run\n\n${chaosMarkdown(result)}`);
  console.log(`\n${faultTable(result.faults)}\n`);
  say(`results: ${file} and ${file.replace(/\.json$/, '.md')}`);
  if (!values['no-report']) say(`report: ${relative(projectRoot, writeChaosDoc(result, file))}`);
  const failed = result.faults.filter((f) => f.audit && !f.audit.passed);
  if (failed.length > 0) say(`FAILED: the audit after ${failed.map((f) => f.kind).join(', ')}`);
  if (!allBack) say('FAILED: a process did not come back');
  return failed.length === 0 && allBack ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`[chaos] ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
