import type { Admin } from 'kafkajs';
import type pg from 'pg';
import { auditRun, type AuditCheck } from './audit.ts';
import { driveOrders, type DrivenOrder, type Flow, type TokenSource } from './drive.ts';
import { percentiles, postgresCommits, processUsage } from './measure.ts';
import { defaultMix, mixSchedule } from './mix.ts';
import { judgeSustained, latencyLimitMs, type SustainedRule } from './sustained.ts';

/** Where a run finds the system under test. */
export interface SystemUnderTest {
  apiUrl: string;
  /** Bearer tokens for the API, from the stack's identity provider. */
  tokens: TokenSource;
  gatewayUrl: string;
  pool: pg.Pool;
  admin: Admin;
  /** The pid of each server and service, by name, for CPU and memory. */
  pids: () => Record<string, number | undefined>;
}

type Percentiles = ReturnType<typeof percentiles>;

/** The measurements and audit of one run of one flow at one offered rate. */
export interface FlowRun {
  flow: Flow;
  offeredRate: number;
  durationS: number;
  submitted: number;
  ended: number;
  /** Orders that reached their final state per second, from the end of the first quarter to the end of submissions. */
  throughputPerS: number;
  /**
   * Held the offered rate (bench/sustained.ts): every order ended, throughput ≥ 90% of offered,
   * latency did not grow during the run (last quarter's approved p50 ≤ 2 × first quarter's + 500 ms),
   * the p50 to final state within the idle p50 × `--sustained-factor` (at least `--sustained-floor`
   * ms), the audit passed.
   */
  sustained: boolean;
  /** Which part of the rule did not hold (empty when sustained); absent from files before it was recorded. */
  notSustainedBecause?: string[];
  /** The p50 to final state the run had to stay within, from the idle phase; null without one; absent from files before the idle rule. */
  latencyLimitMs?: number | null;
  latencyMs: {
    http: Percentiles;
    toFinalState: Percentiles;
    toReadModelComplete: Percentiles;
    toFinalStateByKind: Record<string, Percentiles>;
    /** p50 to final state of the approved orders submitted in the first and the last quarter. */
    firstQuarterP50: number | null;
    lastQuarterP50: number | null;
  };
  /** Every order's time to its final state, in submission order (null: never ended), for the charts. */
  toFinalStateMs: (number | null)[];
  perOrder: { postgresCommits: number; kafkaMessages: number; cpuSeconds: number };
  /** CPU of each process: seconds and % of one core over the whole run (drain included), and % while orders were being submitted (the steady load). */
  processes: Record<string, { cpuSeconds: number; cpuPercentOfOneCore: number; cpuPercentWhileSubmitting: number | null; rssMb: number } | null>;
  audit: { passed: boolean; checks: AuditCheck[] };
}

const round1 = (value: number) => Math.round(value * 10) / 10;

/** Messages in every topic that passes `filter` (the sum of its partitions' high watermarks). */
export async function topicMessages(admin: Admin, filter: (topic: string) => boolean): Promise<number> {
  let sum = 0;
  for (const topic of (await admin.listTopics()).filter(filter)) sum += (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
  return sum;
}
/** True for a dead-letter topic (`dlq.<group>`). */
export const isDeadLetterTopic = (topic: string) => topic.startsWith('dlq.');
const isEventTopic = (topic: string) => !isDeadLetterTopic(topic) && !topic.startsWith('__') && !topic.startsWith('bench.');

/** p50 time to final state of the approved orders in a slice of the run. */
function approvedP50(orders: DrivenOrder[]): number | null {
  return percentiles(orders.filter((o) => o.kind === 'approved' && o.terminalAt !== undefined).map((o) => o.terminalAt! - o.submittedAt))?.p50 ?? null;
}

/**
 * Drives one flow at one fixed arrival rate through the API (bench/drive.ts), measures it and
 * audits it. Nothing here judges speed except `sustained` (by `rule`), which the rate search uses.
 */
export async function runFlow(sut: SystemUnderTest, flow: Flow, rate: number, durationS: number, drainS: number, rule: SustainedRule): Promise<FlowRun> {
  const pidsBefore = sut.pids();
  const driverBefore = process.cpuUsage();
  const usageNow = () => Object.fromEntries(Object.entries(pidsBefore).map(([name, pid]) => [name, processUsage(pid ?? -1)]));
  const usageBefore = usageNow();
  const [commitsBefore, messagesBefore, deadLettersBefore] = [
    await postgresCommits(sut.pool),
    await topicMessages(sut.admin, isEventTopic),
    await topicMessages(sut.admin, isDeadLetterTopic),
  ];
  const startedAt = performance.now();
  let whileSubmitting: { seconds: number; usage: Record<string, ReturnType<typeof processUsage>> } | undefined;
  const onSubmitted = () => {
    whileSubmitting = { seconds: (performance.now() - startedAt) / 1000, usage: usageNow() };
  };
  const { orders, elapsedMs, queries } = await driveOrders({
    apiUrl: sut.apiUrl,
    tokens: sut.tokens,
    pool: sut.pool,
    flow,
    rate,
    durationS,
    drainS,
    schedule: mixSchedule(defaultMix, 1000),
    onSubmitted,
  });
  const [commitsAfter, messagesAfter] = [await postgresCommits(sut.pool), await topicMessages(sut.admin, isEventTopic)];
  const pidsAfter = sut.pids();
  const driver = process.cpuUsage(driverBefore);
  const driverCpuSeconds = (driver.user + driver.system) / 1e6;
  const processes: FlowRun['processes'] = Object.fromEntries(
    Object.keys(pidsBefore).map((name) => {
      const before = usageBefore[name];
      const after = pidsAfter[name] === pidsBefore[name] ? processUsage(pidsAfter[name] ?? -1) : undefined;
      if (!before || !after) return [name, null];
      const cpuSeconds = after.cpuSeconds - before.cpuSeconds;
      const submitting = whileSubmitting?.usage[name];
      const busy = submitting && whileSubmitting ? round1(((submitting.cpuSeconds - before.cpuSeconds) / whileSubmitting.seconds) * 100) : null;
      return [
        name,
        {
          cpuSeconds: Math.round(cpuSeconds * 100) / 100,
          cpuPercentOfOneCore: round1((cpuSeconds / (elapsedMs / 1000)) * 100),
          cpuPercentWhileSubmitting: busy,
          rssMb: after.rssMb,
        },
      ];
    }),
  );
  // The benchmark itself (HTTP client, PostgreSQL polling) runs on the same cores.
  processes['bench driver'] = {
    cpuSeconds: Math.round(driverCpuSeconds * 100) / 100,
    cpuPercentOfOneCore: round1((driverCpuSeconds / (elapsedMs / 1000)) * 100),
    cpuPercentWhileSubmitting: null,
    rssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
  };
  const audit = await auditRun(orders, {
    pool: sut.pool,
    gatewayUrl: sut.gatewayUrl,
    before: { deadLetters: deadLettersBefore },
    deadLetters: () => topicMessages(sut.admin, isDeadLetterTopic),
  });

  const ended = orders.filter((o) => o.terminalAt !== undefined);
  const windowStart = durationS * 250;
  const windowEnd = durationS * 1000;
  const endedInWindow = ended.filter((o) => o.terminalAt! >= windowStart && o.terminalAt! <= windowEnd).length;
  const throughputPerS = round1(endedInWindow / ((windowEnd - windowStart) / 1000));
  const quarter = Math.max(1, Math.floor(orders.length / 4));
  const [firstQuarterP50, lastQuarterP50] = [approvedP50(orders.slice(0, quarter)), approvedP50(orders.slice(-quarter))];
  const toFinalState = percentiles(ended.map((o) => o.terminalAt! - o.submittedAt));
  const judged = judgeSustained(
    {
      offeredRate: rate,
      submitted: orders.length,
      ended: ended.length,
      throughputPerS,
      firstQuarterP50,
      lastQuarterP50,
      p50ToFinalStateMs: toFinalState?.p50 ?? null,
      auditPassed: audit.passed,
    },
    rule,
  );
  const cpuSeconds = Object.values(processes).reduce((sum, p) => sum + (p?.cpuSeconds ?? 0), 0);

  return {
    flow,
    offeredRate: rate,
    durationS,
    submitted: orders.length,
    ended: ended.length,
    throughputPerS,
    sustained: judged.sustained,
    notSustainedBecause: judged.failed,
    latencyLimitMs: latencyLimitMs(rule),
    latencyMs: {
      http: percentiles(orders.flatMap((o) => (o.httpMs === null ? [] : [o.httpMs]))),
      toFinalState,
      toReadModelComplete: percentiles(orders.flatMap((o) => (o.visibleAt === undefined ? [] : [o.visibleAt - o.submittedAt]))),
      toFinalStateByKind: Object.fromEntries(
        defaultMix.map((m) => [m.key, percentiles(ended.filter((o) => o.kind === m.key).map((o) => o.terminalAt! - o.submittedAt))]),
      ),
      firstQuarterP50,
      lastQuarterP50,
    },
    toFinalStateMs: orders.map((o) => (o.terminalAt === undefined ? null : round1(o.terminalAt - o.submittedAt))),
    perOrder: {
      // Cluster-wide commits, less the benchmark's own polling and the reads that took the two figures.
      postgresCommits: round1((commitsAfter - commitsBefore - queries - 1) / orders.length),
      kafkaMessages: round1((messagesAfter - messagesBefore) / orders.length),
      cpuSeconds: Math.round((cpuSeconds / orders.length) * 1000) / 1000,
    },
    processes,
    audit,
  };
}
