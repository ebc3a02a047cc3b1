import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin, type EachMessagePayload } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureTopics } from '../../src/messaging/topics.ts';
import '../setup/servers.ts';

describe('Kafka broker with kafkajs', () => {
  const { kafkaBrokers } = inject('servers');
  const kafka = new Kafka({ clientId: 'kafka-smoke', brokers: kafkaBrokers, logLevel: logLevel.NOTHING });
  let admin: Admin;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.disconnect();
  });

  const newTopic = async (partitions: number) => {
    const topic = `smoke-${randomUUID()}`;
    await ensureTopics(admin, { partitions, extra: [topic] }, []);
    expect((await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions).toHaveLength(partitions);
    return topic;
  };

  it('keeps keyed messages in order per key through an idempotent producer and a consumer group, and commits offsets', async () => {
    const topic = await newTopic(3);
    const groupId = `smoke-group-${randomUUID()}`;
    const keys = ['order-a', 'order-b', 'order-c', 'order-d'];
    const perKey = 25;

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let seq = 0; seq < perKey; seq++) {
      await producer.send({ topic, acks: -1, messages: keys.map((key) => ({ key, value: JSON.stringify({ key, seq }) })) });
    }
    await producer.disconnect();

    const received = new Map<string, number[]>();
    const lastOffset = new Map<number, string>();
    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let count = 0;
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }: EachMessagePayload) => {
            const { key, seq } = JSON.parse(message.value!.toString()) as { key: string; seq: number };
            received.set(key, [...(received.get(key) ?? []), seq]);
            lastOffset.set(partition, message.offset);
            await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
            if (++count === keys.length * perKey) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();

    for (const key of keys) expect(received.get(key)).toEqual(Array.from({ length: perKey }, (_, i) => i));

    // What the group committed is exactly the end of every partition it read.
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const ends = await admin.fetchTopicOffsets(topic);
    const byPartition = (rows: { partition: number; offset: string }[]) => Object.fromEntries(rows.map((r) => [r.partition, r.offset]));
    const expectedCommitted = Object.fromEntries(ends.map((e) => [e.partition, lastOffset.has(e.partition) ? e.high : '-1']));
    expect(byPartition(committed!.partitions)).toEqual(expectedCommitted);
    expect(ends.reduce((sum, e) => sum + Number(e.high), 0)).toBe(keys.length * perKey);
  });

  it('shows a read-committed consumer the messages of a committed transaction and none of an aborted one', async () => {
    const topic = await newTopic(1);
    const producer = kafka.producer({ transactionalId: `smoke-tx-${randomUUID()}`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const aborted = await producer.transaction();
    await aborted.send({ topic, messages: [{ key: 'k', value: 'aborted' }] });
    await aborted.abort();
    const committed = await producer.transaction();
    await committed.send({
      topic,
      messages: [
        { key: 'k', value: 'committed-1' },
        { key: 'k', value: 'committed-2' },
      ],
    });
    await committed.commit();
    await producer.disconnect();

    const values: string[] = [];
    const consumer = kafka.consumer({ groupId: `smoke-tx-reader-${randomUUID()}`, readUncommitted: false });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          // eslint-disable-next-line @typescript-eslint/require-await -- kafkajs handlers are async
          eachMessage: async ({ message }) => {
            values.push(message.value!.toString());
            if (values.length === 2) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();

    expect(values).toEqual(['committed-1', 'committed-2']);
  });
});
