import type { EventEnvelope } from '../domain/events.ts';
import type { OutboxBacklog } from '../observability/backlog-metrics.ts';
import type { Queryable } from '../platform/database.ts';
import { traceHeaders } from '../observability/message-tracing.ts';
import { eventHeaders } from './event-publisher.ts';
import { topicOf } from './topics.ts';

/**
 * Adds events to the transactional outbox inside the caller's transaction, so they are published
 * if and only if the state change they describe commits. An event id already in the outbox is
 * ignored (a handler that runs again emits the same deterministic ids). The headers keep the
 * trace context of the caller (HTTP request or consumed event), which the relay's publish continues.
 */
export async function addToOutbox(tx: Queryable, events: readonly EventEnvelope[]): Promise<void> {
  if (events.length === 0) return;
  await tx.query(outboxInsert(1), outboxRows(events));
}

/**
 * The statement that inserts the rows of {@link outboxRows} (its five arrays numbered from
 * `firstParam`), in the order given: one statement for any number of events, which a consumer's
 * transaction can also run as part of a larger one (a data-modifying `with`).
 */
export function outboxInsert(firstParam: number): string {
  const [ids, topics, keys, payloads, headers] = [0, 1, 2, 3, 4].map((i) => `$${firstParam + i}`);
  return `insert into messaging.outbox (event_id, topic, message_key, payload, headers)
    select event_id, topic, message_key, payload, headers
    from unnest(${ids}::text[], ${topics}::text[], ${keys}::text[], ${payloads}::jsonb[], ${headers}::jsonb[])
      with ordinality as row (event_id, topic, message_key, payload, headers, n)
    order by n
    on conflict (event_id) do nothing`;
}

/** The parameters of {@link outboxInsert}: one array per column, an element per event. */
export function outboxRows(events: readonly EventEnvelope[]): string[][] {
  // The caller's trace context, the same for every event it adds.
  const trace = traceHeaders();
  return [
    events.map((e) => e.eventId),
    events.map((e) => topicOf(e.type)),
    events.map((e) => e.orderId),
    events.map((e) => JSON.stringify(e)),
    events.map((e) => JSON.stringify({ ...eventHeaders(e), ...trace })),
  ];
}

/** Counts the unsent outbox rows and the age of the oldest, in one read-only query. */
export async function outboxBacklog(db: Queryable): Promise<OutboxBacklog> {
  const { rows } = await db.query<{ rows: string; age: number | null }>(
    'select count(*) as rows, extract(epoch from now() - min(created_at))::float8 as age from messaging.outbox where sent_at is null',
  );
  return { rows: Number(rows[0]!.rows), ageSeconds: rows[0]!.age ?? 0 };
}
