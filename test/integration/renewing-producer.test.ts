import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRenewingProducer, type RenewingProducer } from '../../src/messaging/renewing-producer.ts';
import '../setup/servers.ts';

// The outbox relay and the event publisher send through this producer. After a failed send the
// next one must go through a new producer (a new producer id): a send that reused the failed
// one's sequence numbers for other messages could be acknowledged and dropped by the broker as a
// duplicate (docs/chaos.md, the cluster profile's run).
describe('the renewing producer', () => {
  // One quick retry (an idempotent producer needs one): a send to a topic that does not exist fails soon (the broker creates none).
  const kafka = new Kafka({
    clientId: 'renewing-producer-test',
    brokers: inject('servers').kafkaBrokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 200 },
  });
  const admin = kafka.admin();
  const topic = `renewing-${randomUUID().slice(0, 8)}`;
  const missing = `missing-${randomUUID().slice(0, 8)}`;
  const renewedFor: unknown[] = [];
  let producer: RenewingProducer;

  beforeAll(async () => {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    producer = createRenewingProducer(kafka, (err) => renewedFor.push(err));
    await producer.connect();
  });

  afterAll(async () => {
    await producer?.disconnect();
    await admin.disconnect();
  });

  it('starts over with a new producer after a failed send, once for the sends that failed together, and keeps publishing', async () => {
    await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'before' }] });
    expect(producer.renewals).toBe(0);

    const failed = await Promise.allSettled(
      [1, 2, 3].map((n) => producer.sendBatch({ acks: -1, topicMessages: [{ topic: missing, messages: [{ value: `lost-${n}` }] }] })),
    );
    expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(producer.renewals).toBe(1);
    expect(renewedFor).toHaveLength(1);

    await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'after' }] });
    expect(producer.renewals).toBe(1);
    const [partition] = await admin.fetchTopicOffsets(topic);
    expect(partition!.high).toBe('2');
  });

  it('takes a batch over every partition of a topic as sent when each partition acknowledged it (no false alarm)', async () => {
    const spread = `spread-${randomUUID().slice(0, 8)}`;
    await admin.createTopics({ topics: [{ topic: spread, numPartitions: 3 }], waitForLeaders: true });
    const messages = Array.from({ length: 30 }, (_, i) => ({ key: `order-${i}`, value: String(i) }));
    await producer.sendBatch({ acks: -1, topicMessages: [{ topic: spread, messages }] });
    const offsets = await admin.fetchTopicOffsets(spread);
    expect(offsets.reduce((sum, p) => sum + Number(p.high), 0)).toBe(30);
    expect(offsets.filter((p) => Number(p.high) > 0)).toHaveLength(3);
  });

  it('refuses to send once disconnected, instead of connecting again behind the caller', async () => {
    const other = createRenewingProducer(kafka);
    await other.connect();
    await other.disconnect();
    await expect(other.send({ topic, messages: [{ value: 'late' }] })).rejects.toThrow('the producer was disconnected');
  });
});
