import type pg from 'pg';
import type { Logger } from 'pino';
import type { Sweep } from '../platform/retention.ts';

/**
 * The dedupe window: how long a consumer group remembers which events it applied
 * (`messaging.processed_events`, partitioned by the event's time; docs/retention.md).
 *
 * An event older than the window may have lost its dedupe row, so the group cannot tell whether
 * it applied it: the runner refuses it (a dead letter, {@link EventOutsideDedupeWindowError}
 * in src/domain/errors.ts) rather than risk applying it twice, and a replay starts no earlier than
 * the window (src/messaging/dead-letters.ts). The window must be at least as long as a message can
 * stay in a topic (its retention plus one segment, as Kafka deletes whole segments), so that no
 * message a consumer can still read is refused for its age.
 */
export interface DedupeWindow {
  /** How long a dedupe row is kept, by the time of its event. @default 8 days */
  retentionMs: number;
  /** The width of one partition. @default 1 day */
  partitionMs: number;
}

const day = 86_400_000;

/** The window unless configured: one day more than the topics' default retention (7 days). */
export const defaultDedupeWindow: DedupeWindow = { retentionMs: 8 * day, partitionMs: day };

/** The dedupe window of a process's DEDUPE_* settings. */
export const dedupeWindowOf = (config: { DEDUPE_RETENTION_MS: number; DEDUPE_PARTITION_MS: number }): DedupeWindow => ({
  retentionMs: config.DEDUPE_RETENTION_MS,
  partitionMs: config.DEDUPE_PARTITION_MS,
});

/** Partitions made ahead of the clock, so that no event's row waits for a new one. */
const partitionsAhead = 4;

/** Serializes the partition changes of every process (one advisory lock, held for the transaction). */
const partitionLockKey = 7_318_002;

/** One partition of `messaging.processed_events` and its range (null: unbounded, MINVALUE). */
interface Partition {
  name: string;
  from: Date | null;
  to: Date;
  /** A concurrent detach was interrupted: it must be finalized. */
  detaching: boolean;
}

async function partitions(db: Pick<pg.PoolClient, 'query'>): Promise<Partition[]> {
  // The bound as PostgreSQL prints it, e.g. FOR VALUES FROM ('2026-11-30 17:00:00+00') TO (...);
  // its literals are parsed back by PostgreSQL itself.
  const { rows } = await db.query<{ name: string; from: Date | null; to: Date; detaching: boolean }>(
    `select c.relname as name,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz as from,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz as to,
       i.inhdetachpending as detaching
     from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'messaging.processed_events'::regclass
     order by 3`,
  );
  return rows;
}

/** `processed_events_20261130170000000`: the start of its range, to the millisecond (the first one after the migration starts mid-minute). */
const partitionName = (from: Date) => `processed_events_${from.toISOString().replace(/\D/g, '')}`;

/**
 * Creates the partitions the next events need: from the end of the last one (or the start of the
 * window, when that is later) to `partitionsAhead` widths past `now`, aligned on the width (the
 * first one may be shorter, to get there). Safe to call from any process at any time: the changes
 * take turns under an advisory lock, and a call with nothing to do changes nothing.
 * @returns the names of the partitions it created.
 */
export async function ensureDedupePartitions(pool: pg.Pool, window: DedupeWindow, now = new Date()): Promise<string[]> {
  const client = await pool.connect();
  try {
    return await makeDedupePartitions(client, window, now);
  } finally {
    client.release();
  }
}

/** {@link ensureDedupePartitions} on a connection the caller holds (outside any transaction). */
export async function makeDedupePartitions(client: pg.PoolClient, window: DedupeWindow, now = new Date()): Promise<string[]> {
  try {
    await client.query('begin');
    await client.query('select pg_advisory_xact_lock($1)', [partitionLockKey]);
    // Creating a partition takes a short exclusive lock on the table: never wait long behind the handlers.
    await client.query("set local lock_timeout = '5s'");
    const existing = await partitions(client);
    const windowStart = Math.floor((now.getTime() - window.retentionMs) / window.partitionMs) * window.partitionMs;
    const until = now.getTime() + partitionsAhead * window.partitionMs;
    let from = Math.max(windowStart, ...existing.map((p) => p.to.getTime()));
    const created: string[] = [];
    while (from < until) {
      const to = (Math.floor(from / window.partitionMs) + 1) * window.partitionMs;
      const name = partitionName(new Date(from));
      await client.query(
        `create table messaging.${name} partition of messaging.processed_events for values from ('${new Date(from).toISOString()}') to ('${new Date(to).toISOString()}')`,
      );
      created.push(name);
      from = to;
    }
    await client.query('commit');
    return created;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

/**
 * Drops the partitions wholly past the window, with one width to spare (an event let in at the
 * window's edge must still find its partition when its row is written). Each is detached
 * concurrently first, which never blocks the handlers' reads and writes, then dropped.
 * @returns the names of the partitions it dropped.
 */
export async function dropExpiredDedupePartitions(client: pg.PoolClient, window: DedupeWindow, now = new Date()): Promise<string[]> {
  const cutoff = now.getTime() - window.retentionMs - window.partitionMs;
  const dropped: string[] = [];
  for (const partition of await partitions(client)) {
    if (partition.to.getTime() > cutoff) continue;
    // A detach interrupted half-way (a crash, a cancelled statement) is finished instead.
    await client.query(
      `alter table messaging.processed_events detach partition messaging.${partition.name} ${partition.detaching ? 'finalize' : 'concurrently'}`,
    );
    await client.query(`drop table messaging.${partition.name}`);
    dropped.push(partition.name);
  }
  return dropped;
}

/** The sweep of the dedupe window: makes the partitions ahead, drops those past the window. */
export function dedupeSweep(window: DedupeWindow, log: Logger): Sweep {
  return {
    name: 'messaging.processed_events',
    async run(client) {
      const created = await makeDedupePartitions(client, window);
      const dropped = await dropExpiredDedupePartitions(client, window);
      if (created.length + dropped.length > 0) log.info({ created, dropped }, 'dedupe partitions changed');
      return dropped.length;
    },
  };
}

/** Whether `err` is PostgreSQL's answer to a row no partition takes (the partitions ahead were not made yet). */
export function isMissingPartitionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return e?.code === '23514' && typeof e.message === 'string' && e.message.startsWith('no partition of relation');
}
