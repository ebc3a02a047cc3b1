import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigResourceTypes, ConfigSource, Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { ensureTopics, topicOf } from '../../src/messaging/topics.ts';
import '../setup/servers.ts';

const hour = 3_600_000;

describe('the retention of the topics (ensureTopics against the broker)', () => {
  const { kafkaBrokers } = inject('servers');
  const kafka = new Kafka({ clientId: 'topic-retention', brokers: kafkaBrokers, logLevel: logLevel.NOTHING });
  let admin: Admin;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => {
    await admin?.disconnect();
  });

  /** The topic's own settings (not the broker's defaults), by name. */
  const overridesOf = async (topic: string): Promise<Record<string, string>> => {
    const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
    return Object.fromEntries(
      resources[0]!.configEntries.filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG).map((e) => [e.configName, e.configValue]),
    );
  };

  it('creates the event topics and the dead-letter topics with the retention.ms and segment.ms it is given', async () => {
    const prefix = `ret-${randomUUID()}.`;
    const dlq = `dlq.${prefix}g`;
    await ensureTopics(admin, { prefix, partitions: 1, retentionMs: 2 * hour, segmentMs: hour, extra: [dlq] }, ['order.placed']);
    for (const topic of [topicOf('order.placed', prefix), dlq]) {
      expect(await overridesOf(topic)).toEqual({ 'retention.ms': String(2 * hour), 'segment.ms': String(hour) });
    }
  });

  it("sets them on an existing topic whose own differ, keeping the topic's other settings", async () => {
    const topic = `ret-old-${randomUUID()}`;
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: 1,
          configEntries: [
            { name: 'retention.ms', value: String(30 * 24 * hour) },
            { name: 'max.message.bytes', value: '500000' },
          ],
        },
      ],
    });
    await ensureTopics(admin, { retentionMs: 3 * hour, segmentMs: hour, extra: [topic] }, []);
    expect(await overridesOf(topic)).toEqual({ 'retention.ms': String(3 * hour), 'segment.ms': String(hour), 'max.message.bytes': '500000' });
  });

  it('leaves an existing topic that has them alone, and several processes at once agree', async () => {
    const topic = `ret-same-${randomUUID()}`;
    const options = { retentionMs: 4 * hour, segmentMs: hour, partitions: 1, extra: [topic] };
    // Five processes starting at once: one creates the topic, the others find it.
    const others = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const other = kafka.admin();
        await other.connect();
        return other;
      }),
    );
    try {
      await Promise.all([admin, ...others].map((a) => ensureTopics(a, options, [])));
    } finally {
      await Promise.all(others.map((a) => a.disconnect()));
    }
    expect(await overridesOf(topic)).toEqual({ 'retention.ms': String(4 * hour), 'segment.ms': String(hour) });

    const alter = vi.spyOn(admin, 'alterConfigs');
    const create = vi.spyOn(admin, 'createTopics');
    await ensureTopics(admin, options, []);
    expect(alter).not.toHaveBeenCalled();
    expect(create).not.toHaveBeenCalled();
  });

  it('touches no setting when given no retention (the broker defaults apply)', async () => {
    const topic = `ret-none-${randomUUID()}`;
    await ensureTopics(admin, { partitions: 1, extra: [topic] }, []);
    expect(await overridesOf(topic)).toEqual({});
  });

  it("deletes what is past a topic's retention within the broker's check interval once its segment is closed", { timeout: 120_000 }, async () => {
    const topic = `ret-short-${randomUUID()}`;
    await ensureTopics(admin, { partitions: 1, retentionMs: 2000, segmentMs: 1000, extra: [topic] }, []);
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({ topic, messages: [{ key: 'k', value: 'old' }] });
      // A segment closes when a message arrives after segment.ms: this one starts the next.
      await sleep(2500);
      await producer.send({ topic, messages: [{ key: 'k', value: 'new' }] });
      const started = Date.now();
      let low = '0';
      // The stack's brokers check every 30 s (log.retention.check.interval.ms).
      while (low === '0' && Date.now() - started < 90_000) {
        await sleep(1000);
        low = (await admin.fetchTopicOffsets(topic))[0]!.low;
      }
      // The old message is gone (the new one too, once past the retention: the broker rolls an expired active segment).
      expect(Number(low)).toBeGreaterThanOrEqual(1);
    } finally {
      await producer.disconnect();
    }
  });
});
