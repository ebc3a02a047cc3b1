import type { Admin } from 'kafkajs';
import { eventTypes, type EventType } from '../domain/events.ts';

/**
 * The topic of an event: its type (DESIGN.md), behind an optional prefix that keeps several
 * environments (or test runs) apart on one cluster, e.g. `staging.order.placed`.
 */
export const topicOf = (type: EventType, prefix = ''): string => `${prefix}${type}`;

/** The dead-letter topic of a consumer group. */
export const deadLetterTopicOf = (groupId: string, prefix = ''): string => `${prefix}dlq.${groupId}`;

/** Options of {@link ensureTopics}. */
export interface TopicOptions {
  /** @default 3 */
  partitions?: number;
  /** @default 1 (a single broker); 3 on a real cluster */
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
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((topic) => ({ topic, numPartitions: options.partitions ?? 3, replicationFactor: options.replicationFactor ?? 1 })),
  });
}
