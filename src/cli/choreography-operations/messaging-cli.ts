/**
 * Operations on the choreographed flow's messaging (`npm run messaging -- <command>`):
 *   dlq-list <group>                      list the dead letters of a consumer group
 *   dlq-replay <group> <partition:offset>...  publish chosen dead letters again to their original topic
 *   replay <group> [--forget-processed]   reset a stopped group to the start of its dedupe window
 *   stalled [--minutes N]                 list choreographed orders waiting on the system for N minutes (default 10)
 * Groups: orders, inventory, payments, notifications (with KAFKA_TOPIC_PREFIX prepended).
 */
import { parseArgs } from 'node:util';
import { Type } from 'typebox';
import { choreographySubscriptions, type ChoreographyGroup } from '../../choreography/services.ts';
import { findStalledOrders } from '../../contexts/orders/stalled-orders.ts';
import { listDeadLetters, replayDeadLetters, resetGroupToWindow } from '../../messaging/dead-letters.ts';
import { dedupeWindowOf } from '../../messaging/dedupe-window.ts';
import { topicOf } from '../../messaging/topics.ts';
import { createRenewingProducer } from '../../messaging/renewing-producer.ts';
import { runCli } from '../../platform/cli.ts';
import { DatabaseEnv, KafkaEnv, RetentionEnv, checkRetentionOrder, loadConfig } from '../../platform/config.ts';
import { createPool } from '../../platform/database.ts';
import { createKafka } from '../../platform/kafka.ts';

const usage = `usage: npm run messaging -- dlq-list <group>
       npm run messaging -- dlq-replay <group> <partition:offset>...
       npm run messaging -- replay <group> [--forget-processed]   (stop the group's consumers first)
       npm run messaging -- stalled [--minutes N]   (orders not final and not in review, unchanged for N minutes)`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'forget-processed': { type: 'boolean', default: false }, minutes: { type: 'string', default: '10' } },
  });
  const [command, group, ...ids] = positionals;
  if (command === 'stalled') {
    const minutes = Number(values.minutes);
    if (!Number.isFinite(minutes) || minutes < 0) {
      console.error(usage);
      return 2;
    }
    const config = loadConfig(Type.Object({ ...DatabaseEnv }));
    const pool = createPool(config.DATABASE_URL, 1);
    try {
      for (const order of await findStalledOrders(pool, minutes * 60_000)) console.log(JSON.stringify(order));
    } finally {
      await pool.end();
    }
    return 0;
  }
  if (!command || !group) {
    console.error(usage);
    return 2;
  }
  if (!Object.hasOwn(choreographySubscriptions, group)) {
    console.error(`unknown consumer group "${group}": it is one of ${Object.keys(choreographySubscriptions).join(', ')}\n${usage}`);
    return 2;
  }
  const config = loadConfig(
    Type.Object({ ...KafkaEnv, ...DatabaseEnv, DEDUPE_RETENTION_MS: RetentionEnv.DEDUPE_RETENTION_MS, DEDUPE_PARTITION_MS: RetentionEnv.DEDUPE_PARTITION_MS }),
  );
  // The same settings as the consumers: a replay must not start outside their window.
  checkRetentionOrder(config);
  const groupId = `${config.KAFKA_TOPIC_PREFIX}${group}`;
  const kafka = createKafka(config, `${config.KAFKA_CLIENT_ID}-messaging-cli`);

  if (command === 'dlq-list') {
    for (const letter of await listDeadLetters(kafka, groupId)) {
      console.log(
        JSON.stringify({
          id: letter.id,
          from: `${letter.originalTopic}/${letter.originalPartition}@${letter.originalOffset}`,
          attempts: letter.attempts,
          error: letter.error,
          failedAt: letter.failedAt,
          key: letter.key,
        }),
      );
    }
    return 0;
  }
  if (command === 'dlq-replay') {
    const producer = createRenewingProducer(kafka);
    await producer.connect();
    const replayed = await replayDeadLetters(kafka, producer, groupId, ids);
    await producer.disconnect();
    console.log(`replayed ${replayed.length} of ${ids.length}: ${replayed.join(' ')}`);
    return replayed.length === ids.length ? 0 : 1;
  }
  if (command === 'replay') {
    const pool = createPool(config.DATABASE_URL, 1);
    const topics = choreographySubscriptions[group as ChoreographyGroup].map((type) => topicOf(type, config.KAFKA_TOPIC_PREFIX));
    const since = await resetGroupToWindow(kafka, pool, groupId, topics, dedupeWindowOf(config), values['forget-processed']);
    await pool.end();
    console.log(
      `group ${groupId} reset to ${since.toISOString()} (the dedupe window) on ${topics.join(', ')}${values['forget-processed'] ? ' (processed events forgotten)' : ''}`,
    );
    return 0;
  }
  console.error(usage);
  return 2;
}

runCli(main);
