import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { eventTypes, type EventEnvelope } from '../../../src/domain/events.ts';
import { headerText } from '../../../src/messaging/consumer-runner.ts';
import { topicOf } from '../../../src/messaging/topics.ts';

/** An event as read back from its topic. */
export type LoggedEvent = EventEnvelope & {
  topic: string;
  partition: number;
  offset: string;
  /** The message's headers, as text. */
  headers: Record<string, string>;
};

/**
 * Reads every message of every event topic, from the beginning up to the end offsets seen at the
 * call, with a throwaway consumer group.
 */
export async function readAllEvents(kafka: Kafka, topicPrefix = ''): Promise<LoggedEvent[]> {
  const admin = kafka.admin();
  await admin.connect();
  const topics = eventTypes.map((type) => topicOf(type, topicPrefix));
  const remaining = new Map<string, bigint>();
  for (const topic of topics) {
    for (const { partition, high, low } of await admin.fetchTopicOffsets(topic)) {
      if (BigInt(high) > BigInt(low)) remaining.set(`${topic}/${partition}`, BigInt(high));
    }
  }
  await admin.disconnect();
  const events: LoggedEvent[] = [];
  if (remaining.size === 0) return events;

  const consumer = kafka.consumer({ groupId: `event-log-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        // eslint-disable-next-line @typescript-eslint/require-await -- kafkajs handlers are async
        eachMessage: async ({ topic, partition, message }) => {
          events.push({
            ...(JSON.parse(message.value!.toString()) as EventEnvelope),
            topic,
            partition,
            offset: message.offset,
            headers: headerText(message.headers),
          });
          const key = `${topic}/${partition}`;
          const end = remaining.get(key);
          if (end !== undefined && BigInt(message.offset) + 1n >= end) remaining.delete(key);
          if (remaining.size === 0) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return events;
}

/** One order's events with duplicates (same event id) dropped, oldest first. */
export function eventsOfOrder(events: LoggedEvent[], orderId: string): LoggedEvent[] {
  const seen = new Set<string>();
  return events
    .filter((e) => e.orderId === orderId && !seen.has(e.eventId) && Boolean(seen.add(e.eventId)))
    .sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
}
