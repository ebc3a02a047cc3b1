/**
 * The pure parts of the chaos run (bench/chaos.ts): which process each fault of issue 14 hits on
 * the stack that runs, when throughput counts as recovered, and the p99 of a window. Nothing here
 * touches a process, so the unit tests hold it on plain lists and timestamps.
 */
import { percentiles } from './measure.ts';

/** A fault of the list, in the order it is run. */
export type FaultKind =
  | 'kafka-broker'
  | 'kafka-controller'
  | 'temporal-history'
  | 'temporal-matching'
  | 'temporal-frontend'
  | 'worker'
  | 'choreography'
  | 'projector'
  | 'api'
  | 'postgres';

/** Every fault, in the order: a broker, the active controller, Temporal's services, the application's processes, PostgreSQL last. */
export const faultKinds: readonly FaultKind[] = [
  'kafka-broker',
  'kafka-controller',
  'temporal-history',
  'temporal-matching',
  'temporal-frontend',
  'worker',
  'choreography',
  'projector',
  'api',
  'postgres',
];

/** How a fault hits its process: kill -9, or PostgreSQL's fast shutdown (a restart, as `pg_ctl restart -m fast` begins). */
export type FaultAction = 'kill -9' | 'restart';

/** One fault of the plan: the process it hits, or why it is skipped on this stack. */
export type PlannedFault = { kind: FaultKind; target: string; action: FaultAction; note?: string } | { kind: FaultKind; skipped: string };

/** What the plan needs to know of the stack: the processes running now (those with a live pid file), and where the Kafka controller is. */
export interface StackShape {
  /** Names of the running processes (`kafka`, `kafka-2`, `temporal-history-1`, `api-2`, …). */
  running: readonly string[];
  /** The process that hosts the active Kafka controller, when known (kafkajs admin describeCluster's controller id, mapped to its broker's process). */
  controller?: string;
}

/**
 * The processes of one kind on this stack, in order: `base` itself (one instance, the dev profile)
 * and `base-1`, `base-2`, … (several, the cluster profile).
 */
export function instancesOf(base: string, running: readonly string[]): string[] {
  const numbered = (name: string) => Number(name.slice(base.length + 1));
  return running
    .filter((name) => name === base || new RegExp(`^${base}-\\d+$`).test(name))
    .sort((a, b) => (a === base ? -1 : b === base ? 1 : numbered(a) - numbered(b)));
}

/** The process names that may play each role, most specific first. */
const roles: Record<Exclude<FaultKind, 'kafka-broker' | 'kafka-controller'>, { bases: string[]; missing: string }> = {
  'temporal-history': {
    bases: ['temporal-history'],
    missing: 'no separate Temporal history service on this stack (the dev profile runs Temporal as one process)',
  },
  'temporal-matching': {
    bases: ['temporal-matching'],
    missing: 'no separate Temporal matching service on this stack (the dev profile runs Temporal as one process)',
  },
  // On the dev profile the one Temporal process is the frontend (and every other service).
  'temporal-frontend': { bases: ['temporal-frontend', 'temporal'], missing: 'no Temporal frontend process running' },
  worker: { bases: ['temporal-worker'], missing: 'no Temporal worker process running' },
  choreography: { bases: ['choreography'], missing: 'no choreography process running' },
  projector: { bases: ['projector'], missing: 'no projector process running' },
  api: { bases: ['api'], missing: 'no API process running' },
  postgres: { bases: ['postgres'], missing: 'no PostgreSQL process of the stack running (pid file)' },
};

/**
 * The fault plan for the running stack: for each fault kind asked for (the order), the one
 * process it hits, or the reason it is skipped. With several Kafka brokers the "broker" fault takes
 * one that does not host the controller, so that the two Kafka faults hit different nodes; with one
 * broker both hit it, and the note says so.
 */
export function planFaults(stack: StackShape, kinds: readonly FaultKind[] = faultKinds): PlannedFault[] {
  const brokers = instancesOf('kafka', stack.running);
  return kinds.map((kind): PlannedFault => {
    if (kind === 'kafka-broker') {
      if (brokers.length === 0) return { kind, skipped: 'no Kafka broker process running' };
      const other = brokers.find((b) => b !== stack.controller);
      return other ? { kind, target: other, action: 'kill -9' } : { kind, target: brokers[0]!, action: 'kill -9' };
    }
    if (kind === 'kafka-controller') {
      if (brokers.length === 0) return { kind, skipped: 'no Kafka broker process running' };
      if (stack.controller === undefined || !brokers.includes(stack.controller))
        return { kind, skipped: 'the active controller could not be mapped to a running broker process' };
      return {
        kind,
        target: stack.controller,
        action: 'kill -9',
        ...(brokers.length === 1 ? { note: 'one KRaft node: the controller is the same broker as the broker fault' } : {}),
      };
    }
    const role = roles[kind];
    for (const base of role.bases) {
      const [first] = instancesOf(base, stack.running);
      if (first) return { kind, target: first, action: kind === 'postgres' ? 'restart' : 'kill -9' };
    }
    return { kind, skipped: role.missing };
  });
}

/**
 * The Kafka node that became the active KRaft controller last, from each node's log: the active
 * controller logs `[QuorumController id=N] Performing controller activation` (at WARN, so it is
 * in the log whatever the level) each time it takes over. A client cannot ask for it: in KRaft a
 * broker answers Metadata with a random live broker as "controller", and DescribeQuorum needs the
 * tools jar the stack does not install.
 */
export function activeControllerFromLogs(logs: Readonly<Record<string, string>>): string | undefined {
  let latest: { name: string; at: string } | undefined;
  for (const [name, text] of Object.entries(logs)) {
    for (const match of text.matchAll(/^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\][^\n]*Performing controller activation/gm)) {
      if (!latest || match[1]! > latest.at) latest = { name, at: match[1]! };
    }
  }
  return latest?.name;
}

/**
 * Parses a `--faults` list (comma separated fault kinds, or `all`).
 * @throws Error naming an unknown fault and the known ones.
 */
export function parseFaultList(list: string): FaultKind[] {
  if (list.trim() === 'all') return [...faultKinds];
  const asked = list
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  const unknown = asked.filter((f) => !faultKinds.includes(f as FaultKind));
  if (unknown.length > 0 || asked.length === 0)
    throw new Error(`--faults: unknown fault ${unknown.join(', ') || '(none given)'}; known: ${faultKinds.join(', ')}, or all`);
  // The order, whatever the order asked.
  return faultKinds.filter((f) => asked.includes(f));
}

/** Options of {@link recoveryTime}. */
export interface RecoveryOptions {
  /** When the fault hit (ms, the same clock as the completions). */
  faultAt: number;
  /** Completions per second before the fault (see {@link completionRate}). */
  baselinePerS: number;
  /** Width of the sliding window. @default 2000 */
  windowMs?: number;
  /** Share of the baseline a window must reach. @default 0.8 */
  threshold?: number;
  /** Windows are looked for until this time (the end of the load): after it completions fall for want of orders, not because of the fault. */
  until: number;
  /** Step between two windows. @default 250 */
  stepMs?: number;
}

/**
 * Time until throughput recovered after a fault: the end of the first window of `windowMs` that
 * starts at or after the fault and holds at least `threshold` × the pre-fault completion rate,
 * minus the fault's time. A window right after the fault that already holds enough (the fault did
 * not slow anything) gives the window's width. Null when no window before `until` does.
 */
export function recoveryTime(completions: readonly number[], options: RecoveryOptions): number | null {
  const { faultAt, baselinePerS, windowMs = 2000, threshold = 0.8, until, stepMs = 250 } = options;
  const needed = threshold * baselinePerS * (windowMs / 1000);
  const sorted = [...completions].sort((a, b) => a - b);
  for (let start = faultAt; start + windowMs <= until; start += stepMs) {
    const end = start + windowMs;
    const inWindow = sorted.filter((t) => t >= start && t < end).length;
    if (inWindow >= needed) return end - faultAt;
  }
  return null;
}

/** Completions per second between `from` and `to` (ms). */
export function completionRate(completions: readonly number[], from: number, to: number): number {
  if (to <= from) return 0;
  return completions.filter((t) => t >= from && t < to).length / ((to - from) / 1000);
}

/** An order's times in one clock: when it was sent, and when it ended (undefined: never). */
export interface TimedOrder {
  submittedAt: number;
  terminalAt?: number;
}

/**
 * The p99 time to the final state of the orders sent in `[from, to)`, in ms; an order that never
 * ended counts as the slowest (Infinity), so a window that lost one says so. Null when none was sent.
 */
export function p99InWindow(orders: readonly TimedOrder[], from: number, to: number): number | null {
  const durations = orders
    .filter((o) => o.submittedAt >= from && o.submittedAt < to)
    .map((o) => (o.terminalAt === undefined ? Infinity : o.terminalAt - o.submittedAt));
  return percentiles(durations)?.p99 ?? null;
}

/** Orders in flight at `at`: sent before it and not ended by it. */
export function inFlightAt(orders: readonly TimedOrder[], at: number): number {
  return orders.filter((o) => o.submittedAt <= at && (o.terminalAt === undefined || o.terminalAt > at)).length;
}
