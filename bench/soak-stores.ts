/**
 * What the soak reads of the stores as it runs (bench/soak.ts, issue 19): rows and bytes of every
 * table of the application's schemas, the size of every database, the bytes on disk of every
 * Kafka topic, and the disk use of each server's folder under the stack's data folder; and the
 * minutes-scale retentions `--short-retention` gives the system it starts.
 */
import type { Dirent } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pool } from 'pg';
import type { StoreSpec } from './soak-verdict.ts';

/** The stores at one moment of the soak. */
export interface StoreSample {
  /** Seconds since the soak's first order was due. */
  atS: number;
  /**
   * Per table of the application's schemas ("schema.table"; a partitioned table counts its whole
   * partition tree): rows (the statistics' live tuples, an estimate PostgreSQL refreshes within
   * seconds, not an exact count) and bytes (pg_total_relation_size: heap, indexes, TOAST).
   */
  tables: Record<string, { rows: number; bytes: number }>;
  /** pg_database_size of every database of the server. */
  databases: Record<string, number>;
  /** Bytes on disk (allocated blocks) per Kafka topic, all its partitions (and replicas) together. */
  topics: Record<string, number>;
  /** Bytes on disk (allocated blocks) of each folder of the stack's data folder (postgres, kafka, temporal, ...). */
  dataDirs: Record<string, number>;
  /** What could not be read this time (the sample holds the rest). */
  errors?: string[];
}

/**
 * Every table of the application's schemas, a partitioned table (messaging.processed_events) as
 * one: its partitions' sizes and rows summed over pg_partition_tree (which lists nothing for a
 * table that is not partitioned: that one counts itself). A table that does not exist
 * (yet) is simply not listed; a partition dropped while the query runs adds nothing.
 */
const tablesQuery = `
  with tree as (
    select c.oid as root, case when c.relkind = 'p' then t.relid else c.oid end as relid
      from pg_class c left join lateral pg_partition_tree(c.oid) t on c.relkind = 'p'
     where c.relkind in ('r', 'p') and not c.relispartition
  )
  select n.nspname || '.' || c.relname as name,
         coalesce((select sum(pg_total_relation_size(tree.relid)) from tree where tree.root = c.oid), 0)::bigint as bytes,
         coalesce((select sum(s.n_live_tup) from tree join pg_stat_all_tables s on s.relid = tree.relid where tree.root = c.oid), 0)::bigint as rows
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where c.relkind in ('r', 'p') and not c.relispartition
     and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'`;

const databasesQuery = `select datname, pg_database_size(datname)::bigint as bytes from pg_database where datallowconn and not datistemplate`;

/** Disk use of a path as `du` counts it (allocated blocks), walking folders; what vanishes during the walk counts nothing. */
export async function diskUse(path: string, followTop = true): Promise<number> {
  let info;
  try {
    info = followTop ? await stat(path) : await lstat(path);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return info.blocks * 512;
  let entries: Dirent[];
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch {
    return info.blocks * 512;
  }
  let total = info.blocks * 512;
  for (const entry of entries) total += await diskUse(join(path, entry.name), false);
  return total;
}

/**
 * The Kafka log folders under the stack's data folder: the dev profile's broker
 * (kafka/kraft-logs) and each node of the cluster profile's (kafka-cluster/node-N/kraft-logs).
 */
async function kafkaLogDirs(dataDir: string): Promise<string[]> {
  const dirs = [join(dataDir, 'kafka', 'kraft-logs')];
  try {
    for (const node of await readdir(join(dataDir, 'kafka-cluster'))) dirs.push(join(dataDir, 'kafka-cluster', node, 'kraft-logs'));
  } catch {
    // no cluster profile here
  }
  return dirs;
}

/**
 * The topic of a partition's folder in a Kafka log folder: `<topic>-<partition>`, or
 * `<topic>-<partition>.<id>-delete` / `-future` while the broker deletes or moves it.
 */
export function topicOfLogFolder(folder: string): string | undefined {
  const match = /^(.+)-\d+(\.[0-9a-f]+-(delete|future|stray))?$/.exec(folder);
  return match?.[1];
}

/** Bytes on disk per topic, over every Kafka log folder of the stack. */
export async function topicDiskUse(dataDir: string): Promise<Record<string, number>> {
  const topics: Record<string, number> = {};
  for (const logDir of await kafkaLogDirs(dataDir)) {
    let entries: Dirent[];
    try {
      entries = await readdir(logDir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      const topic = entry.isDirectory() ? topicOfLogFolder(entry.name) : undefined;
      if (topic !== undefined) topics[topic] = (topics[topic] ?? 0) + (await diskUse(join(logDir, entry.name), false));
    }
  }
  return topics;
}

/** Disk use of each folder of the stack's data folder (a symlinked one, PostgreSQL's under /var/tmp when run as root, followed). */
export async function dataDirUse(dataDir: string): Promise<Record<string, number>> {
  let entries: Dirent[];
  try {
    entries = await readdir(dataDir, { withFileTypes: true });
  } catch {
    return {};
  }
  const use: Record<string, number> = {};
  for (const entry of entries) if (entry.isDirectory() || entry.isSymbolicLink()) use[entry.name] = await diskUse(join(dataDir, entry.name), true);
  return use;
}

/** One sample of every store; a part that fails is left empty and named in `errors`. */
export async function sampleStores(options: { pool: Pool; dataDir: string; atS: () => number }): Promise<StoreSample> {
  const atS = options.atS();
  const errors: string[] = [];
  const attempt = async <T>(what: string, read: () => Promise<T>, empty: T): Promise<T> => {
    try {
      return await read();
    } catch (err) {
      errors.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      return empty;
    }
  };
  const tables = await attempt(
    'tables',
    async () => {
      const { rows } = await options.pool.query<{ name: string; bytes: string; rows: string }>(tablesQuery);
      return Object.fromEntries(rows.map((r) => [r.name, { rows: Number(r.rows), bytes: Number(r.bytes) }]));
    },
    {},
  );
  const databases = await attempt(
    'databases',
    async () =>
      Object.fromEntries((await options.pool.query<{ datname: string; bytes: string }>(databasesQuery)).rows.map((r) => [r.datname, Number(r.bytes)])),
    {},
  );
  const topics = await attempt('topics', () => topicDiskUse(options.dataDir), {});
  const dataDirs = await attempt('data folders', () => dataDirUse(options.dataDir), {});
  return { atS, tables, databases, topics, dataDirs, ...(errors.length > 0 ? { errors } : {}) };
}

/** The retention variables `--short-retention` sets on the system the soak starts. */
export type ShortRetentionEnv = Record<
  | 'KAFKA_TOPIC_RETENTION_MS'
  | 'KAFKA_TOPIC_SEGMENT_MS'
  | 'DEDUPE_RETENTION_MS'
  | 'DEDUPE_PARTITION_MS'
  | 'OUTBOX_RETENTION_MS'
  | 'API_IDEMPOTENCY_KEY_TTL_MS'
  | 'API_DEAD_LETTER_REPLAYS_RETENTION_MS'
  | 'RETENTION_SWEEP_INTERVAL_MS'
  | 'TEMPORAL_NAMESPACE_RETENTION_MS'
  | 'PAYMENT_VAULT_RETENTION_MS'
  | 'STACK_LOG_MAX_MB',
  number
>;

/**
 * The variables of the business's records, which `--short-retention` leaves as they are (their
 * defaults are months): the audit reads every order of the soak from them at its end.
 */
export const keptRecordsVariables = ['READ_MODEL_RETENTION_MS', 'NOTIFICATIONS_RETENTION_MS', 'GATEWAY_LEDGER_RETENTION_MS'] as const;

/**
 * Retentions in proportion to a soak of `minutes`, so that every bounded store has had its
 * retention, a sweep and a partition or segment pass in the first third of the soak and the rest
 * shows whether it stays level. For 30 minutes: topics 5 min with 1-minute segments, dedupe rows
 * 7 min (topic retention + segment + 1 min) in 1-minute partitions, sent outbox rows 2 min,
 * Idempotency-Keys and dead-letter replay records 5 min, closed workflows 5 min (Temporal allows
 * down to a second for a local namespace), a sweep every 20 s. Whole seconds, at least 1 s (the
 * settings' minimum); the sweep at least 5 s and at most a minute.
 * DEDUPE_RETENTION_MS >= KAFKA_TOPIC_RETENTION_MS + KAFKA_TOPIC_SEGMENT_MS holds by construction.
 */
export function shortRetentionEnv(minutes: number): ShortRetentionEnv {
  const soakMs = minutes * 60_000;
  const ms = (share: number) => Math.max(1000, Math.round((soakMs * share) / 1000) * 1000);
  const topic = ms(1 / 6);
  const segment = ms(1 / 30);
  return {
    KAFKA_TOPIC_RETENTION_MS: topic,
    KAFKA_TOPIC_SEGMENT_MS: segment,
    DEDUPE_RETENTION_MS: topic + segment + ms(1 / 30),
    DEDUPE_PARTITION_MS: ms(1 / 30),
    OUTBOX_RETENTION_MS: ms(1 / 15),
    API_IDEMPOTENCY_KEY_TTL_MS: ms(1 / 6),
    API_DEAD_LETTER_REPLAYS_RETENTION_MS: ms(1 / 6),
    RETENTION_SWEEP_INTERVAL_MS: Math.min(60_000, Math.max(5000, ms(1 / 90))),
    TEMPORAL_NAMESPACE_RETENTION_MS: ms(1 / 6),
    PAYMENT_VAULT_RETENTION_MS: ms(1 / 6),
    // Not a time: each process's log is kept as <log>.1 and emptied past this size (npm start).
    STACK_LOG_MAX_MB: 8,
  };
}

/** A store the soak follows: where its size is read from in a sample. */
export type StoreSource = { kind: 'table'; name: string } | { kind: 'topics' } | { kind: 'dataDir'; name: string } | { kind: 'database'; name: string };

/** A store's rows (tables only) and bytes in one sample; undefined when the sample does not have it. */
export function storeSize(sample: StoreSample, source: StoreSource): { rows: number | null; bytes: number } | undefined {
  switch (source.kind) {
    case 'table': {
      const table = sample.tables[source.name];
      return table && { rows: table.rows, bytes: table.bytes };
    }
    case 'topics': {
      // The application's topics (event and dead-letter topics); Kafka's own (__consumer_offsets, metadata) are not.
      const own = Object.entries(sample.topics).filter(([topic]) => !topic.startsWith('__'));
      return own.length === 0 ? undefined : { rows: null, bytes: own.reduce((sum, [, bytes]) => sum + bytes, 0) };
    }
    case 'dataDir': {
      const bytes = sample.dataDirs[source.name];
      return bytes === undefined ? undefined : { rows: null, bytes };
    }
    case 'database': {
      const bytes = sample.databases[source.name];
      return bytes === undefined ? undefined : { rows: null, bytes };
    }
  }
}

/** The retention settings in force on the system under soak, in ms (absent: not set, the server's or process's own default). */
export type RetentionSettings = Partial<Record<keyof ShortRetentionEnv | (typeof keptRecordsVariables)[number], number>>;

/** Kafka's default log.retention.check.interval.ms (5 min), when the broker's own cannot be read. */
export const kafkaDefaultRetentionCheckMs = 300_000;

/** A duration in the unit that reads best: seconds under 2 minutes, minutes under 2 hours, hours under 2 days, else days. */
export function durationText(ms: number): string {
  const round = (value: number) => Math.round(value * 100) / 100;
  if (ms < 120_000) return `${round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${round(ms / 60_000)} min`;
  if (ms < 172_800_000) return `${round(ms / 3_600_000)} h`;
  return `${round(ms / 86_400_000)} days`;
}
const inMinutes = durationText;

/**
 * The stores the soak follows and what bounds each, from the retention settings in force. The
 * stores of the business's records (orders, payments, the read model, sent mail, the gateway's
 * ledger) are kept longer than any soak, so they are reported, never judged.
 */
export function soakStoreSpecs(settings: RetentionSettings, kafkaRetentionCheckMs: number): StoreSpec[] {
  const sweep = settings.RETENTION_SWEEP_INTERVAL_MS ?? 60_000;
  const setting = (name: keyof RetentionSettings, extra = '') =>
    settings[name] === undefined ? `${name} not set (default)` : `${name} ${inMinutes(settings[name])}${extra}`;
  const swept = `, swept every ${inMinutes(sweep)}`;
  const table = (name: string, variable: keyof RetentionSettings | undefined, periodMs = sweep, extra = swept): StoreSpec => ({
    name,
    source: { kind: 'table', name },
    retention: variable === undefined ? 'kept (the business’s records)' : setting(variable, extra),
    retentionMs: variable === undefined ? null : (settings[variable] ?? null),
    periodMs,
  });
  const partition = settings.DEDUPE_PARTITION_MS ?? 86_400_000;
  const segment = settings.KAFKA_TOPIC_SEGMENT_MS ?? 86_400_000;
  return [
    table('messaging.processed_events', 'DEDUPE_RETENTION_MS', partition + sweep, `, partitions of ${inMinutes(partition)}${swept}`),
    table('messaging.outbox', 'OUTBOX_RETENTION_MS'),
    table('api.idempotency_keys', 'API_IDEMPOTENCY_KEY_TTL_MS'),
    table('api.dead_letter_replays', 'API_DEAD_LETTER_REPLAYS_RETENTION_MS'),
    table('payments.vault', 'PAYMENT_VAULT_RETENTION_MS'),
    {
      name: 'Kafka topics (event and dead-letter)',
      source: { kind: 'topics' },
      retention: setting('KAFKA_TOPIC_RETENTION_MS', `, segments of ${inMinutes(segment)}, checked every ${inMinutes(kafkaRetentionCheckMs)}`),
      retentionMs: settings.KAFKA_TOPIC_RETENTION_MS ?? null,
      periodMs: segment + kafkaRetentionCheckMs,
    },
    {
      name: 'Temporal data folder',
      source: { kind: 'dataDir', name: 'temporal' },
      retention: setting('TEMPORAL_NAMESPACE_RETENTION_MS', ' (closed workflows)'),
      retentionMs: settings.TEMPORAL_NAMESPACE_RETENTION_MS ?? null,
      periodMs: 60_000,
    },
    table('read_model.order_view', 'READ_MODEL_RETENTION_MS'),
    table('read_model.order_timeline', 'READ_MODEL_RETENTION_MS'),
    table('notifications.sent_messages', 'NOTIFICATIONS_RETENTION_MS'),
    table('notifications.recipients', 'NOTIFICATIONS_RETENTION_MS'),
    {
      name: 'process logs folder',
      source: { kind: 'dataDir', name: 'logs' },
      retention:
        settings.STACK_LOG_MAX_MB === undefined
          ? 'STACK_LOG_MAX_MB not set (64 MiB a log, and its .1)'
          : `STACK_LOG_MAX_MB ${settings.STACK_LOG_MAX_MB} MiB a log, and its .1 (by size, not time: reported)`,
      retentionMs: null,
      periodMs: 10_000,
    },
    table('orders.orders', undefined),
    table('orders.status_history', undefined),
    table('payments.payments', undefined),
    table('inventory.reservations', undefined),
    {
      name: 'gateway ledger folder',
      source: { kind: 'dataDir', name: 'gateway' },
      retention: setting('GATEWAY_LEDGER_RETENTION_MS'),
      retentionMs: settings.GATEWAY_LEDGER_RETENTION_MS ?? null,
      periodMs: 60_000,
    },
  ];
}
