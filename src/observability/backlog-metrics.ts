import type { Admin } from 'kafkajs';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';

/** A consumer group and the topics it reads, whose lag a process reports. */
export interface WatchedGroup {
  groupId: string;
  topics: string[];
}

/**
 * Backlog gauges, computed when Prometheus scrapes:
 * - `kafka_consumer_lag{group,topic,partition}`: high watermark minus the group's committed
 *   offset (a partition the group never committed counts from the low watermark);
 * - `kafka_dlq_depth{group}`: messages in the group's dead-letter topic (high minus low watermark
 *   over its partitions; a replayed dead letter stays until retention removes it).
 * A failed read leaves the gauge empty for that scrape and is logged, never a failed scrape.
 * `deadLetterTopicOf` names a group's dead-letter topic (src/messaging's, passed in by the entry
 * point: observability depends on nothing above platform and domain).
 */
export function registerKafkaBacklogMetrics(
  registry: Registry,
  admin: Admin,
  groups: WatchedGroup[],
  log: Logger,
  deadLetterTopicOf: (groupId: string) => string,
): void {
  const watermarks = async (topic: string) =>
    (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, high: Number(p.high), low: Number(p.low) }));

  new Gauge({
    name: 'kafka_consumer_lag',
    help: 'Messages not yet processed by a consumer group, per partition (high watermark minus committed offset)',
    labelNames: ['group', 'topic', 'partition'],
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const { groupId, topics } of groups) {
          const committed = await admin.fetchOffsets({ groupId, topics });
          for (const { topic, partitions } of committed) {
            const marks = await watermarks(topic);
            for (const { partition, offset } of partitions) {
              const mark = marks.find((m) => m.partition === partition);
              if (!mark) continue;
              const position = Number(offset) < 0 ? mark.low : Number(offset);
              this.set({ group: groupId, topic, partition: String(partition) }, Math.max(0, mark.high - position));
            }
          }
        }
      } catch (err) {
        log.warn({ err }, 'consumer lag could not be read');
      }
    },
  });

  new Gauge({
    name: 'kafka_dlq_depth',
    help: "Messages in a consumer group's dead-letter topic",
    labelNames: ['group'],
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const { groupId } of groups) {
          const marks = await watermarks(deadLetterTopicOf(groupId));
          this.set(
            { group: groupId },
            marks.reduce((sum, m) => sum + (m.high - m.low), 0),
          );
        }
      } catch (err) {
        log.warn({ err }, 'dead-letter depth could not be read');
      }
    },
  });
}

/** How far the relay is behind: the unsent outbox rows and the age of the oldest (0 when none). */
export interface OutboxBacklog {
  rows: number;
  ageSeconds: number;
}

/**
 * `readBacklog` reads the outbox (src/messaging's `outboxBacklog`, passed in by the entry point:
 * observability depends on nothing above platform and domain).
 *
 * Outbox gauges, computed when Prometheus scrapes: `outbox_unsent_rows` and
 * `outbox_oldest_unsent_age_seconds` (0 when everything is sent). A stopped or stuck relay shows
 * as a growing age.
 */
export function registerOutboxMetrics(registry: Registry, readBacklog: () => Promise<OutboxBacklog>, log: Logger): void {
  let last: Promise<OutboxBacklog | null> | null = null;
  // One query per scrape serves both gauges.
  const read = () =>
    (last ??= readBacklog()
      .catch((err: unknown) => {
        log.warn({ err }, 'outbox backlog could not be read');
        return null;
      })
      .finally(() => setTimeout(() => (last = null), 0)));

  new Gauge({
    name: 'outbox_unsent_rows',
    help: 'Events written to the outbox and not yet published to Kafka',
    registers: [registry],
    async collect() {
      const backlog = await read();
      if (backlog) this.set(backlog.rows);
    },
  });
  new Gauge({
    name: 'outbox_oldest_unsent_age_seconds',
    help: 'Age of the oldest unpublished outbox row (0 when the outbox is drained)',
    registers: [registry],
    async collect() {
      const backlog = await read();
      if (backlog) this.set(backlog.ageSeconds);
    },
  });
}
