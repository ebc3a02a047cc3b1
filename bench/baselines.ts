import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import type { noOpSaga } from './workflows/no-op-saga.ts';

/** What one baseline sustained: operations per second, and what an operation is. */
export interface Baseline {
  perSecond: number;
  unit: string;
  how: string;
}

/** Runs `work` from `concurrency` loops for `seconds`; returns operations per second. */
async function closedLoop(concurrency: number, seconds: number, work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  const until = started + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await work();
        done += 1;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

const round = (value: number) => Math.round(value * 10) / 10;

/**
 * Raw PostgreSQL commit rate: `clients` connections each committing one-row inserts as fast as
 * they can (synchronous_commit stays on, as for the flows), into a table of its own.
 */
export async function postgresBaseline(pool: pg.Pool, clients: number, seconds: number): Promise<Baseline> {
  await pool.query('create schema if not exists bench');
  await pool.query(
    'create table if not exists bench.baseline_commits (id uuid primary key, payload jsonb not null, created_at timestamptz not null default now())',
  );
  const perSecond = await closedLoop(clients, seconds, () =>
    pool.query('insert into bench.baseline_commits (id, payload) values ($1, $2)', [randomUUID(), { bench: true }]),
  );
  await pool.query('truncate bench.baseline_commits');
  return { perSecond: round(perSecond), unit: 'commits/s', how: `${clients} clients, one-row insert per transaction, synchronous_commit on` };
}

/**
 * Raw Kafka throughput through kafkajs: an idempotent producer (acks=all) sends `messages`
 * messages of about the size of our events in batches of `batch`, while one consumer group reads
 * them one by one (eachMessage) and commits; the rate is from the first send to the last message
 * read. `replicationFactor` should match the flows' topics (3 on the cluster profile).
 */
export async function kafkaBaseline(kafka: Kafka, messages: number, batch: number, replicationFactor = 1): Promise<Baseline> {
  const topic = `bench.baseline.${randomUUID().slice(0, 8)}`;
  const admin = kafka.admin();
  await admin.connect();
  // As many replicas as the flows' topics have: acks=all waits for each.
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor }], waitForLeaders: true });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumer = kafka.consumer({ groupId: `${topic}.reader` });
  try {
    await Promise.all([producer.connect(), consumer.connect()]);
    await consumer.subscribe({ topic, fromBeginning: true });
    let read = 0;
    let allRead!: () => void;
    const finished = new Promise<void>((resolve) => (allRead = resolve));
    await consumer.run({
      eachMessage: () => {
        read += 1;
        if (read === messages) allRead();
        return Promise.resolve();
      },
    });
    const value = JSON.stringify({
      eventId: randomUUID(),
      type: 'bench.baseline',
      data: { orderId: randomUUID(), total: { amountCents: 8900, currency: 'USD' } },
    });
    const started = performance.now();
    for (let sent = 0; sent < messages; sent += batch) {
      const count = Math.min(batch, messages - sent);
      await producer.send({ topic, acks: -1, messages: Array.from({ length: count }, (_, i) => ({ key: `order-${(sent + i) % 1000}`, value })) });
    }
    await finished;
    const perSecond = messages / ((performance.now() - started) / 1000);
    return {
      perSecond: round(perSecond),
      unit: 'messages/s',
      how: `${messages} messages, idempotent producer acks=all in batches of ${batch}, one consumer (eachMessage), 3 partitions of ${replicationFactor} replica(s)`,
    };
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

/**
 * The Temporal limit of the saga's shape: a workflow with the same steps as an approved order, in
 * the same order and of the same kind (local or regular activity), each a no-op, run by a worker
 * with default options in this process on its own task queue; `concurrency` workflows in flight.
 */
export async function temporalBaseline(
  frontend: { address: string; tls?: TLSConfig | boolean },
  plan: ('local' | 'regular')[],
  concurrency: number,
  seconds: number,
  { eagerStart = false }: { eagerStart?: boolean } = {},
): Promise<Baseline> {
  const taskQueue = `bench-baseline-${randomUUID().slice(0, 8)}`;
  // The cluster profile's frontend takes mTLS only (README "TLS on every hop of the cluster profile").
  const nativeConnection = await NativeConnection.connect(frontend);
  const connection = await Connection.connect(frontend);
  try {
    const worker = await Worker.create({
      connection: nativeConnection,
      taskQueue,
      workflowsPath: createRequire(import.meta.url).resolve('./workflows/no-op-saga.ts'),
      activities: { noOp: (step: number) => Promise.resolve(step) },
    });
    // Eager start hands the first workflow task back with the start's answer, to a worker that
    // shares the client's connection: one dispatch through the server fewer per workflow.
    const client = new Client({ connection: eagerStart ? nativeConnection : connection });
    const perSecond = await worker.runUntil(
      closedLoop(concurrency, seconds, () =>
        client.workflow.execute<typeof noOpSaga>('noOpSaga', {
          taskQueue,
          workflowId: `${taskQueue}-${randomUUID()}`,
          args: [plan],
          requestEagerStart: eagerStart,
        }),
      ),
    );
    const kinds = `${plan.filter((k) => k === 'local').length} local + ${plan.filter((k) => k === 'regular').length} regular no-op activities`;
    return {
      perSecond: round(perSecond),
      unit: 'workflows/s',
      how: `${kinds} in the saga's order, ${concurrency} workflows in flight, one worker with default options${eagerStart ? ', eager start' : ''}`,
    };
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
}
