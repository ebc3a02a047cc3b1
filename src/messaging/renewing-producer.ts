import type { Kafka, Producer } from 'kafkajs';

/** What publishing code needs of a producer: a raw kafkajs producer fits, and so does {@link RenewingProducer}. */
export type MessageSender = Pick<Producer, 'send' | 'sendBatch'>;

/** An idempotent producer that takes a new producer id after any failed send. */
export interface RenewingProducer extends MessageSender {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  /** How many times a failed send made it start over with a new producer. */
  readonly renewals: number;
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
  const start = (): Generation => {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
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

  return {
    connect: () => current.connected,
    async disconnect() {
      stopped = true;
      await current.producer.disconnect();
    },
    send: (record) => through((producer) => producer.send(record)),
    sendBatch: (batch) => through((producer) => producer.sendBatch(batch)),
    get renewals() {
      return renewals;
    },
  };
}
