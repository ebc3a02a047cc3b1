import { randomUUID } from 'node:crypto';
import type { Admin, IHeaders, Kafka } from 'kafkajs';
import type { MessageSender } from './renewing-producer.ts';
import type pg from 'pg';
import { deadLetterHeaders, headerText } from './consumer-runner.ts';
import { deadLetterTopicOf } from './topics.ts';

/** A message in a dead-letter topic, with where it came from and why it failed. */
export interface DeadLetter {
  /** `partition:offset` in the dead-letter topic: the id to replay it by. */
  id: string;
  key: string | null;
  value: string | null;
  originalTopic: string;
  originalPartition: number;
  originalOffset: string;
  error: string;
  attempts: number;
  failedAt: string;
  headers: Record<string, string>;
}

/** Reads every message of `topics` up to their current end with a throwaway consumer group. */
async function readToEnd(
  kafka: Kafka,
  topics: string[],
  onMessage: (topic: string, partition: number, message: { key: Buffer | null; value: Buffer | null; offset: string; headers?: IHeaders }) => void,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const remaining = new Map<string, bigint>();
  for (const topic of topics) {
    for (const { partition, high, low } of await admin.fetchTopicOffsets(topic))
      if (BigInt(high) > BigInt(low)) remaining.set(`${topic}/${partition}`, BigInt(high));
  }
  await admin.disconnect();
  if (remaining.size === 0) return;
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        eachMessage: ({ topic, partition, message }) => {
          onMessage(topic, partition, message);
          const key = `${topic}/${partition}`;
          if (BigInt(message.offset) + 1n >= (remaining.get(key) ?? 0n)) remaining.delete(key);
          if (remaining.size === 0) resolve();
          return Promise.resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
}

/** Lists the dead letters of a consumer group, oldest first per partition. */
export async function listDeadLetters(kafka: Kafka, groupId: string): Promise<DeadLetter[]> {
  const letters: DeadLetter[] = [];
  await readToEnd(kafka, [deadLetterTopicOf(groupId)], (_topic, partition, message) => {
    const headers = headerText(message.headers);
    letters.push({
      id: `${partition}:${message.offset}`,
      key: message.key?.toString() ?? null,
      value: message.value?.toString() ?? null,
      originalTopic: headers[deadLetterHeaders.topic] ?? '',
      originalPartition: Number(headers[deadLetterHeaders.partition]),
      originalOffset: headers[deadLetterHeaders.offset] ?? '',
      error: headers[deadLetterHeaders.error] ?? '',
      attempts: Number(headers[deadLetterHeaders.attempts]),
      failedAt: headers[deadLetterHeaders.failedAt] ?? '',
      headers,
    });
  });
  return letters;
}

/**
 * Publishes the chosen dead letters (by id, `partition:offset`) again to their original topic,
 * with their key and original headers, so the group retries them (after the cause was fixed).
 * @returns the ids it replayed; unknown ids are left out.
 */
export async function replayDeadLetters(kafka: Kafka, producer: MessageSender, groupId: string, ids: readonly string[]): Promise<string[]> {
  const chosen = (await listDeadLetters(kafka, groupId)).filter((letter) => ids.includes(letter.id));
  for (const letter of chosen) {
    const original = Object.fromEntries(Object.entries(letter.headers).filter(([k]) => !k.startsWith('dlq-')));
    await producer.send({
      topic: letter.originalTopic,
      acks: -1,
      messages: [{ key: letter.key, value: letter.value, headers: { ...original, 'dlq-replayed-from': `${deadLetterTopicOf(groupId)}/${letter.id}` } }],
    });
  }
  return chosen.map((l) => l.id);
}

/**
 * Event replay: moves a stopped consumer group back to the start of its topics, so it reads
 * everything again. It deletes the group's committed offsets (one call, where resetting each topic
 * makes kafkajs join the group once per topic); the runner subscribes `fromBeginning`, so the group
 * restarts at the earliest offsets. With `forgetProcessed`, it also forgets which events the group
 * applied, so the handlers run again (they are idempotent: state that was right stays right);
 * without it, the replay re-reads and skips what was applied.
 */
export async function resetGroupToEarliest(admin: Admin, pool: pg.Pool, groupId: string, forgetProcessed: boolean): Promise<void> {
  try {
    await admin.deleteGroups([groupId]);
  } catch (err) {
    // A group that never committed has nothing to reset.
    if (!String((err as Error).message).includes('does not exist') && !JSON.stringify(err).includes('GROUP_ID_NOT_FOUND')) throw err;
  }
  if (forgetProcessed) await pool.query('delete from messaging.processed_events where consumer_group = $1', [groupId]);
}
