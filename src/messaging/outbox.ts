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
  for (const event of events) {
    await tx.query(
      `insert into messaging.outbox (event_id, topic, message_key, payload, headers) values ($1, $2, $3, $4, $5)
       on conflict (event_id) do nothing`,
      [event.eventId, topicOf(event.type), event.orderId, JSON.stringify(event), JSON.stringify({ ...eventHeaders(event), ...traceHeaders() })],
    );
  }
}

/** Counts the unsent outbox rows and the age of the oldest, in one read-only query. */
export async function outboxBacklog(db: Queryable): Promise<OutboxBacklog> {
  const { rows } = await db.query<{ rows: string; age: number | null }>(
    'select count(*) as rows, extract(epoch from now() - min(created_at))::float8 as age from messaging.outbox where sent_at is null',
  );
  return { rows: Number(rows[0]!.rows), ageSeconds: rows[0]!.age ?? 0 };
}
