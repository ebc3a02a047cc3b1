import { randomUUID } from 'node:crypto';
import type { IHeaders, Kafka } from 'kafkajs';
import type { MessageSender } from './renewing-producer.ts';
import type pg from 'pg';
import { deadLetterHeaders, headerText } from './consumer-runner.ts';
import { KafkaTimeoutError } from '../platform/kafka.ts';
import type { DedupeWindow } from './dedupe-window.ts';
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

/** How long a read or replay of dead letters may take before it gives up (Kafka unreachable or stuck). */
export const deadLetterReadTimeoutMs = 15_000;

/** Options of the dead-letter reads and replays. */
export interface DeadLetterReadOptions {
  /**
   * Gives up with a {@link KafkaTimeoutError} after this long: a read joins a consumer group, which
   * waits on the brokers, and kafkajs retries a broker that is down for much longer.
   * @default deadLetterReadTimeoutMs
   */
  timeoutMs?: number;
}

type RawMessage = { key: Buffer | null; value: Buffer | null; offset: string; headers?: IHeaders };

/**
 * Reads every message of `topics` up to their current end with one throwaway consumer group (one
 * group join, however many topics). A topic that does not exist (yet) has nothing to read.
 */
async function readToEnd(
  kafka: Kafka,
  topics: readonly string[],
  onMessage: (topic: string, partition: number, message: RawMessage) => void,
  { timeoutMs = deadLetterReadTimeoutMs }: DeadLetterReadOptions = {},
): Promise<void> {
  const admin = kafka.admin();
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}` });
  let timer: NodeJS.Timeout | undefined;
  let abandoned = false;
  const timeout = () => new KafkaTimeoutError(`read ${topics.join(', ')} to the end`, timeoutMs);
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(timeout()), timeoutMs);
  });
  // After each step: a read given up on must not go on to join a group nobody leaves.
  const goOn = () => {
    if (abandoned) throw timeout();
  };
  const read = async () => {
    try {
      await admin.connect();
      goOn();
      const existing = new Set(await admin.listTopics());
      const remaining = new Map<string, bigint>();
      for (const topic of topics.filter((t) => existing.has(t))) {
        for (const { partition, high, low } of await admin.fetchTopicOffsets(topic))
          if (BigInt(high) > BigInt(low)) remaining.set(`${topic}/${partition}`, BigInt(high));
      }
      await admin.disconnect();
      goOn();
      if (remaining.size === 0) return;
      await consumer.connect();
      goOn();
      // Only the topics with messages: an empty one is one more assignment to wait for.
      await consumer.subscribe({ topics: [...new Set([...remaining.keys()].map((key) => key.slice(0, key.lastIndexOf('/'))))], fromBeginning: true });
      goOn();
      await new Promise<void>((resolve, reject) => {
        consumer
          .run({
            eachMessage: ({ topic, partition, message }) => {
              const key = `${topic}/${partition}`;
              // A message written after the ends were read is left for the next read.
              if (BigInt(message.offset) < (remaining.get(key) ?? 0n)) onMessage(topic, partition, message);
              if (BigInt(message.offset) + 1n >= (remaining.get(key) ?? 0n)) remaining.delete(key);
              if (remaining.size === 0) resolve();
              return Promise.resolve();
            },
          })
          .catch(reject);
      });
    } finally {
      // Both are safe to disconnect when they never connected, or already did.
      await Promise.allSettled([consumer.disconnect(), admin.disconnect()]);
    }
  };
  try {
    await Promise.race([read(), deadline]);
  } catch (err) {
    abandoned = true;
    // A read waiting for messages is stopped here (its own cleanup waits on messages that may never come).
    await Promise.allSettled([consumer.disconnect(), admin.disconnect()]);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** A dead letter as kafkajs hands it over, with the headers the consumer runner wrote. */
function deadLetterOf(partition: number, message: RawMessage): DeadLetter {
  const headers = headerText(message.headers);
  return {
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
  };
}

/** Lists the dead letters of a consumer group, oldest first per partition (none when its dead-letter topic does not exist yet). */
export async function listDeadLetters(kafka: Kafka, groupId: string, options: DeadLetterReadOptions = {}): Promise<DeadLetter[]> {
  return (await readDeadLetters(kafka, [groupId], options)).get(groupId) ?? [];
}

/**
 * The dead letters of several consumer groups, by group id, read in one pass (one consumer group
 * join for all their dead-letter topics, where {@link listDeadLetters} per group would join once
 * per group). A group whose dead-letter topic does not exist yet has none.
 */
export async function readDeadLetters(kafka: Kafka, groupIds: readonly string[], options: DeadLetterReadOptions = {}): Promise<Map<string, DeadLetter[]>> {
  const byTopic = new Map(groupIds.map((groupId) => [deadLetterTopicOf(groupId), groupId]));
  const letters = new Map(groupIds.map((groupId): [string, DeadLetter[]] => [groupId, []]));
  await readToEnd(kafka, [...byTopic.keys()], (topic, partition, message) => letters.get(byTopic.get(topic)!)!.push(deadLetterOf(partition, message)), options);
  for (const list of letters.values()) list.sort((a, b) => compareIds(a.id, b.id));
  return letters;
}

/** Orders ids `partition:offset` by partition, then offset. */
function compareIds(a: string, b: string): number {
  const [pa = 0n, oa = 0n] = a.split(':').map(BigInt);
  const [pb = 0n, ob = 0n] = b.split(':').map(BigInt);
  return pa !== pb ? (pa < pb ? -1 : 1) : oa === ob ? 0 : oa < ob ? -1 : 1;
}

/**
 * Publishes the chosen dead letters (by id, `partition:offset`) again to their original topic,
 * with their key and original headers, so the group retries them (after the cause was fixed).
 * @returns the ids it replayed; unknown ids are left out.
 */
export async function replayDeadLetters(
  kafka: Kafka,
  producer: MessageSender,
  groupId: string,
  ids: readonly string[],
  options: DeadLetterReadOptions = {},
): Promise<string[]> {
  const chosen = (await listDeadLetters(kafka, groupId, options)).filter((letter) => ids.includes(letter.id));
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
 * Event replay: moves a stopped consumer group back to the start of its dedupe window on each of
 * `topics`, so it reads again what it may have applied and still remembers. No further back: an
 * event older than the window may have lost its dedupe row, and the runner would refuse it anyway
 * (EVENT_OUTSIDE_DEDUPE_WINDOW). The start is one partition width inside the window, so that what
 * the replay reads does not leave the window while it reads. A partition with nothing that recent
 * is moved to its end. With `forgetProcessed`, it also forgets which events the group applied, so
 * the handlers run again (they are idempotent: state that was right stays right); without it, the
 * replay re-reads and skips what was applied.
 * @returns the time the replay starts from.
 */
export async function resetGroupToWindow(
  kafka: Kafka,
  pool: pg.Pool,
  groupId: string,
  topics: readonly string[],
  window: DedupeWindow,
  forgetProcessed: boolean,
  now = new Date(),
): Promise<Date> {
  const since = new Date(now.getTime() - window.retentionMs + Math.min(window.partitionMs, window.retentionMs / 2));
  const admin = kafka.admin();
  await admin.connect();
  let offsets: { topic: string; partition: number; offset: string }[];
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    // kafkajs would retry an unknown topic's offsets without end.
    if (missing.length > 0) throw new Error(`no topic ${missing.join(', ')} on the cluster (is KAFKA_TOPIC_PREFIX right?): nothing replayed`);
    const { groups } = await admin.describeGroups([groupId]);
    const state = groups[0]?.state ?? 'Dead';
    if (state !== 'Empty' && state !== 'Dead') throw new Error(`group ${groupId} is ${state}: stop its consumers before a replay`);
    // The first offset of each partition at or after `since` (its end when nothing is that recent).
    offsets = (
      await Promise.all(topics.map(async (topic) => (await admin.fetchTopicOffsetsByTimestamp(topic, since.getTime())).map((o) => ({ topic, ...o }))))
    ).flat();
  } finally {
    await admin.disconnect();
  }
  // Committed as a member of the group, all topics in one join: kafkajs's admin.setOffsets joins
  // the group once per topic and waits for a fetch each time (about 7 s a topic). This member
  // fetches nothing (every topic paused) and commits only what it is told.
  const member = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  try {
    await member.connect();
    await member.subscribe({ topics: [...topics], fromBeginning: true });
    const joined = new Promise<void>((resolve) => member.on(member.events.GROUP_JOIN, () => resolve()));
    await member.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: () => Promise.resolve() });
    member.pause(topics.map((topic) => ({ topic })));
    await joined;
    await member.commitOffsets(offsets);
  } finally {
    await member.disconnect();
  }
  if (forgetProcessed) await pool.query('delete from messaging.processed_events where consumer_group = $1', [groupId]);
  return since;
}
