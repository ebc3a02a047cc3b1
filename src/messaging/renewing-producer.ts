import { Partitioners, type Kafka, type Producer, type RecordMetadata, type TopicMessages } from 'kafkajs';

/** What publishing code needs of a producer: a raw kafkajs producer fits, and so does {@link RenewingProducer}. */
export type MessageSender = Pick<Producer, 'send' | 'sendBatch'>;

/** An idempotent producer that takes a new producer id after any failed send. */
export interface RenewingProducer extends MessageSender {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  /** How many times a failed send made it start over with a new producer. */
  readonly renewals: number;
}

/** Thrown when a send resolved without an acknowledgement from a partition it had messages for. */
export class PartialSendError extends Error {
  readonly retriable = true;
  constructor(readonly partitions: string[]) {
    super(`the send resolved without an acknowledgement from ${partitions.join(', ')}; sending again`);
    this.name = 'PartialSendError';
  }
}

const kafkaPartitioner = Partitioners.DefaultPartitioner;

/**
 * The partitions (`topic:partition`) that `topicMessages` go to and `acknowledged` does not list.
 * A message's partition is the one the producer's default partitioner gives it: its own, or the
 * hash of its key over the topic's partition count. Messages with neither, and topics whose
 * partition count is unknown, are not checked.
 */
export function unacknowledgedPartitions(
  topicMessages: readonly TopicMessages[],
  acknowledged: readonly RecordMetadata[],
  partitionCounts: ReadonlyMap<string, number>,
): string[] {
  const partitioner = kafkaPartitioner();
  const got = new Set(acknowledged.map((r) => `${r.topicName}:${r.partition}`));
  const missing = new Set<string>();
  for (const { topic, messages } of topicMessages) {
    const count = partitionCounts.get(topic);
    if (count === undefined) continue;
    const partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [], isr: [] }));
    for (const message of messages) {
      if (message.partition === undefined && (message.key === undefined || message.key === null)) continue;
      const key = `${topic}:${partitioner({ topic, partitionMetadata, message })}`;
      if (!got.has(key)) missing.add(key);
    }
  }
  return [...missing];
}

interface Generation {
  producer: Producer;
  connected: Promise<void>;
  inFlight: number;
  retired: boolean;
}

/**
 * An idempotent kafkajs producer (`acks=all` callers, `maxInFlightRequests: 1`) replaced by a new
 * one, with a new producer id, as soon as a send through it fails.
 *
 * Why: kafkajs keeps a producer's id and sequence numbers across a failed send, and `connect()`
 * does not renew them. When a send fails after the broker wrote it (the leader died before
 * answering), the next send may reuse those sequence numbers for other messages: the outbox relay
 * rereads the outbox, which has grown meanwhile, and activities publish concurrently. The broker
 * takes a batch with a producer id and sequence it already wrote for a retry of that write,
 * answers success and drops it, and the caller marks messages sent that no partition holds (found
 * by the cluster profile's chaos run). With a new producer id every retry is a new write: at least
 * once, deduplicated by the consumers by event id.
 *
 * The old producer disconnects once the sends already in flight through it have settled.
 */
export function createRenewingProducer(kafka: Kafka, onRenew: (err: unknown) => void = () => undefined): RenewingProducer {
  let renewals = 0;
  let stopped = false;
  // The partition count of each topic, as the producer's partitioner last saw it.
  const partitionCounts = new Map<string, number>();
  const createPartitioner = () => {
    const partition = kafkaPartitioner();
    return (args: Parameters<ReturnType<typeof kafkaPartitioner>>[0]) => {
      partitionCounts.set(args.topic, args.partitionMetadata.length);
      return partition(args);
    };
  };
  const start = (): Generation => {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner });
    const generation: Generation = { producer, connected: producer.connect(), inFlight: 0, retired: false };
    // A failed connect surfaces at the send that waits for it, which then renews the producer.
    generation.connected.catch(() => undefined);
    return generation;
  };
  let current = start();

  const retireIfIdle = (generation: Generation) => {
    if (generation.retired && generation.inFlight === 0) void generation.producer.disconnect().catch(() => undefined);
  };

  async function through<T>(send: (producer: Producer) => Promise<T>): Promise<T> {
    if (stopped) throw new Error('the producer was disconnected');
    const generation = current;
    generation.inFlight += 1;
    try {
      await generation.connected;
      return await send(generation.producer);
    } catch (err) {
      // The first failure of a generation renews it; sends that fail with it afterwards do not renew again.
      if (generation === current && !stopped) {
        generation.retired = true;
        renewals += 1;
        current = start();
        onRenew(err);
      }
      throw err;
    } finally {
      generation.inFlight -= 1;
      retireIfIdle(generation);
    }
  }

  /**
   * kafkajs 2.2.4's retry after a failed produce request sends only to brokers that have not
   * answered yet: a partition whose leader moved to a broker that already answered for other
   * partitions is never sent, and the send resolves. So a send counts only when every partition
   * it had messages for acknowledged them.
   */
  async function checked(sending: Promise<RecordMetadata[]>, topicMessages: readonly TopicMessages[]): Promise<RecordMetadata[]> {
    const acknowledged = await sending;
    const missing = unacknowledgedPartitions(topicMessages, acknowledged, partitionCounts);
    if (missing.length > 0) throw new PartialSendError(missing);
    return acknowledged;
  }

  return {
    connect: () => current.connected,
    async disconnect() {
      stopped = true;
      await current.producer.disconnect();
    },
    send: (record) => through((producer) => checked(producer.send(record), [{ topic: record.topic, messages: record.messages }])),
    sendBatch: (batch) => through((producer) => checked(producer.sendBatch(batch), batch.topicMessages ?? [])),
    get renewals() {
      return renewals;
    },
  };
}
