import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, { type Admin } from 'kafkajs';
import { eventTypes, type EventType } from '../domain/events.ts';

// kafkajs is CommonJS, and Node does not find these enums among its named exports (tsx and the
// processes fail to start on a named import that vitest would accept).
const { ConfigResourceTypes, ConfigSource } = kafkajs;

/**
 * The topic of an event: its type (DESIGN.md), behind an optional prefix that keeps several
 * environments (or test runs) apart on one cluster, e.g. `staging.order.placed`.
 */
export const topicOf = (type: EventType, prefix = ''): string => `${prefix}${type}`;

/** The dead-letter topic of a consumer group. */
// No prefix of its own: the group id already carries the environment's prefix.
export const deadLetterTopicOf = (groupId: string): string => `dlq.${groupId}`;

/** Options of {@link ensureTopics}. */
export interface TopicOptions {
  /** @default 3 */
  partitions?: number;
  /** @default the cluster's own `default.replication.factor` (1 on one broker; 3 on the cluster profile) */
  replicationFactor?: number;
  /** @default '' */
  prefix?: string;
  /** More topics to create (dead-letter topics). */
  extra?: readonly string[];
  /** `retention.ms` of every topic, set on new ones and on existing ones that differ. @default the broker's `log.retention.ms` */
  retentionMs?: number;
  /** `segment.ms` of every topic (Kafka deletes closed segments only). @default the broker's `log.roll.ms` */
  segmentMs?: number;
}

/** The topic settings of {@link TopicOptions} that are given, as `name -> value`. */
function wantedConfigOf(options: TopicOptions): Map<string, string> {
  const wanted = new Map<string, string>();
  if (options.retentionMs !== undefined) wanted.set('retention.ms', String(options.retentionMs));
  if (options.segmentMs !== undefined) wanted.set('segment.ms', String(options.segmentMs));
  return wanted;
}

/** A topic's settings could not be read (code 3: the broker asked does not know the topic yet). */
class TopicConfigReadError extends Error {
  constructor(
    readonly topic: string,
    readonly errorCode: number,
    errorMessage: string,
  ) {
    super(`cannot read the settings of topic ${topic}: ${errorMessage || 'error'} (code ${errorCode})`);
  }
}
const unknownTopicOrPartition = 3;

/**
 * Sets the wanted settings on the topics whose own differ; returns the topics it changed.
 * Kafka's AlterConfigs (the one kafkajs 2.2.4 has) replaces a topic's whole set of overrides, so the
 * topic's other overrides are sent along unchanged. Every process sets the same values: two at
 * once write the same thing.
 */
export async function alignTopicConfigs(admin: Admin, topics: readonly string[], wanted: ReadonlyMap<string, string>): Promise<string[]> {
  if (topics.length === 0 || wanted.size === 0) return [];
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
  });
  const changes = resources.flatMap((resource) => {
    if (resource.errorCode !== 0) throw new TopicConfigReadError(resource.resourceName, resource.errorCode, resource.errorMessage);
    const current = new Map(resource.configEntries.map((e) => [e.configName, e.configValue]));
    if ([...wanted].every(([name, value]) => current.get(name) === value)) return [];
    // The topic's own overrides (not the broker's defaults), which a non-incremental alter would drop.
    const overrides = new Map(
      resource.configEntries.filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG && !e.isSensitive).map((e) => [e.configName, e.configValue]),
    );
    for (const [name, value] of wanted) overrides.set(name, value);
    return [
      {
        type: ConfigResourceTypes.TOPIC,
        name: resource.resourceName,
        configEntries: [...overrides].map(([name, value]) => ({ name, value })),
      },
    ];
  });
  if (changes.length > 0) await admin.alterConfigs({ validateOnly: false, resources: changes });
  return changes.map((c) => c.name);
}

/**
 * Creates the topic of every event type that does not exist yet (the broker never auto-creates
 * topics), with the retention of the options, and sets that retention on the existing topics whose
 * own differs (an upgrade applies it too). Safe to call from every process at start.
 */
export async function ensureTopics(admin: Admin, options: TopicOptions = {}, types: readonly EventType[] = eventTypes): Promise<void> {
  const wanted = wantedConfigOf(options);
  const all = [...types.map((t) => topicOf(t, options.prefix)), ...(options.extra ?? [])];
  await createMissingTopics(admin, options, all, wanted);
  // Every topic is checked, the ones just created too: another process may have created one first,
  // with other values.
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await alignTopicConfigs(admin, all, wanted);
      return;
    } catch (err) {
      // A broker that has not yet learnt of a topic just created answers "unknown topic" for a moment.
      if (!(err instanceof TopicConfigReadError && err.errorCode === unknownTopicOrPartition) || Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

async function createMissingTopics(admin: Admin, options: TopicOptions, all: readonly string[], wanted: ReadonlyMap<string, string>): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = all.filter((topic) => !existing.has(topic));
  if (missing.length === 0) return;
  // Another process may create the same topics at the same time: an existing topic is fine.
  await admin.createTopics({
    waitForLeaders: false,
    // Without a replication factor the broker applies its default.replication.factor (kafkajs sends -1).
    topics: missing.map((topic) => ({
      topic,
      numPartitions: options.partitions ?? 3,
      ...(options.replicationFactor ? { replicationFactor: options.replicationFactor } : {}),
      configEntries: [...wanted].map(([name, value]) => ({ name, value })),
    })),
  });
  // kafkajs's own waitForLeaders gives up on the "does not host this topic-partition" answer a
  // broker gives while a new topic's metadata propagates; wait for every leader here instead.
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: missing });
      if (topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error(`topics ${missing.join(', ')} have no leader after 30 s`);
    await sleep(100);
  }
}
