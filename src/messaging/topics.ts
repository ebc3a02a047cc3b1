import type { Admin } from 'kafkajs';
import { eventTypes, type EventType } from '../domain/events.ts';

/** The topic of an event: its type (DESIGN.md). */
export const topicOf = (type: EventType): string => type;

/** Options of {@link ensureTopics}. */
export interface TopicOptions {
  /** @default 3 */
  partitions?: number;
  /** @default 1 (a single broker); 3 on a real cluster */
  replicationFactor?: number;
}

/**
 * Creates the topic of every event type that does not exist yet (the broker never auto-creates
 * topics). Safe to call from every process at start.
 */
export async function ensureTopics(admin: Admin, options: TopicOptions = {}, types: readonly EventType[] = eventTypes): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = types.map(topicOf).filter((topic) => !existing.has(topic));
  if (missing.length === 0) return;
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((topic) => ({ topic, numPartitions: options.partitions ?? 3, replicationFactor: options.replicationFactor ?? 1 })),
  });
}
