import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from 'kafkajs';
import { eventTypes, type EventType } from '../domain/events.ts';

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
}

/**
 * Creates the topic of every event type that does not exist yet (the broker never auto-creates
 * topics). Safe to call from every process at start.
 */
export async function ensureTopics(admin: Admin, options: TopicOptions = {}, types: readonly EventType[] = eventTypes): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = [...types.map((t) => topicOf(t, options.prefix)), ...(options.extra ?? [])].filter((topic) => !existing.has(topic));
  if (missing.length === 0) return;
  // Another process may create the same topics at the same time: an existing topic is fine.
  await admin.createTopics({
    waitForLeaders: false,
    // Without a replication factor the broker applies its default.replication.factor (kafkajs sends -1).
    topics: missing.map((topic) => ({
      topic,
      numPartitions: options.partitions ?? 3,
      ...(options.replicationFactor ? { replicationFactor: options.replicationFactor } : {}),
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
