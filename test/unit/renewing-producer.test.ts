import type { RecordMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { unacknowledgedPartitions } from '../../src/messaging/renewing-producer.ts';

const ack = (topicName: string, partition: number): RecordMetadata => ({ topicName, partition, errorCode: 0 });

describe('a send counts only when every partition it had messages for acknowledged them', () => {
  const counts = new Map([
    ['order.placed', 3],
    ['payment.completed', 3],
  ]);

  it('names the partition a send resolved without, and nothing when every one answered', () => {
    const topicMessages = [
      {
        topic: 'order.placed',
        messages: [
          { partition: 0, value: 'a' },
          { partition: 2, value: 'b' },
        ],
      },
      { topic: 'payment.completed', messages: [{ partition: 1, value: 'c' }] },
    ];
    expect(unacknowledgedPartitions(topicMessages, [ack('order.placed', 0), ack('order.placed', 2), ack('payment.completed', 1)], counts)).toEqual([]);
    // The case kafkajs 2.2.4's retry produces: the partition whose leader moved is left out.
    expect(unacknowledgedPartitions(topicMessages, [ack('order.placed', 0), ack('payment.completed', 1)], counts)).toEqual(['order.placed:2']);
  });

  it('places keyed messages as the producer does (the same key, the same partition) and skips what it cannot place', () => {
    const keyed = [{ topic: 'order.placed', messages: ['k1', 'k2', 'k3', 'k4', 'k5', 'k6'].map((key) => ({ key, value: key })) }];
    const everyPartition = [0, 1, 2].map((p) => ack('order.placed', p));
    expect(unacknowledgedPartitions(keyed, everyPartition, counts)).toEqual([]);
    const missing = unacknowledgedPartitions(keyed, [], counts);
    expect(missing.length).toBeGreaterThan(0);
    for (const partition of missing) expect(partition).toMatch(/^order\.placed:[012]$/);
    // Twice the same key: one partition, named once.
    expect(
      unacknowledgedPartitions(
        [
          {
            topic: 'order.placed',
            messages: [
              { key: 'same', value: '1' },
              { key: 'same', value: '2' },
            ],
          },
        ],
        [],
        counts,
      ),
    ).toHaveLength(1);
    // No key and no partition (round robin), or a topic of unknown size: not checked.
    expect(unacknowledgedPartitions([{ topic: 'order.placed', messages: [{ value: 'x' }] }], [], counts)).toEqual([]);
    expect(unacknowledgedPartitions([{ topic: 'unknown', messages: [{ key: 'k', value: 'x' }] }], [], counts)).toEqual([]);
  });
});
