import { shopCurrency, type Money } from '../domain/money.ts';
import type { Queryable } from '../platform/database.ts';

/** One order in the read model (eventually consistent: projected from the events of both flows). */
export interface OrderView {
  orderId: string;
  flow: string;
  status: string;
  reason: string | null;
  customerId: string | null;
  total: Money | null;
  paymentStatus: string | null;
  stockStatus: string | null;
  notified: boolean;
  updatedAt: Date;
}

/** One event of an order's timeline, with its cause. */
export interface TimelineEvent {
  eventId: string;
  type: string;
  occurredAt: Date;
  producer: string;
  flow: string;
  causationId: string | null;
  correlationId: string;
  data: unknown;
}

/** One line of an order list. */
export interface OrderSummary {
  orderId: string;
  flow: string;
  status: string;
  customerId: string | null;
}

/** Which orders {@link listOrderViews} returns; an absent filter matches every order. */
export interface OrderListFilter {
  status?: string | undefined;
  customerId?: string | undefined;
  flow?: string | undefined;
  /** Only orders whose id sorts after this one (the page before ended there); null for the first page. */
  after: string | null;
  limit: number;
}

interface ViewRow {
  order_id: string;
  flow: string;
  status: string;
  reason: string | null;
  customer_id: string | null;
  total_cents: number | null;
  currency: string | null;
  payment_status: string | null;
  stock_status: string | null;
  notified: boolean;
  updated_at: Date;
}

interface TimelineRow {
  event_id: string;
  type: string;
  occurred_at: Date;
  producer: string;
  flow: string;
  causation_id: string | null;
  correlation_id: string;
  data: unknown;
}

/** One order of the read model, or undefined when it is not there (yet). */
export async function readOrderView(db: Queryable, orderId: string): Promise<OrderView | undefined> {
  const row = (await db.query<ViewRow>('select * from read_model.order_view where order_id = $1', [orderId])).rows[0];
  if (!row) return undefined;
  return {
    orderId: row.order_id,
    flow: row.flow,
    status: row.status,
    reason: row.reason,
    customerId: row.customer_id,
    // A total projected before the currency was known is in the shop's currency.
    total: row.total_cents === null ? null : { amountCents: row.total_cents, currency: row.currency ?? shopCurrency },
    paymentStatus: row.payment_status,
    stockStatus: row.stock_status,
    notified: row.notified,
    updatedAt: row.updated_at,
  };
}

/** Every event of an order, oldest first (ties by event id, so the order is stable); empty when there is none. */
export async function readOrderTimeline(db: Queryable, orderId: string): Promise<TimelineEvent[]> {
  const { rows } = await db.query<TimelineRow>('select * from read_model.order_timeline where order_id = $1 order by occurred_at, event_id', [orderId]);
  return rows.map((r) => ({
    eventId: r.event_id,
    type: r.type,
    occurredAt: r.occurred_at,
    producer: r.producer,
    flow: r.flow,
    causationId: r.causation_id,
    correlationId: r.correlation_id,
    data: r.data,
  }));
}

/** Up to `limit` orders that match the filter, by order id (keyset pagination on the primary key). */
export async function listOrderViews(db: Queryable, filter: OrderListFilter): Promise<OrderSummary[]> {
  const { rows } = await db.query<{ order_id: string; flow: string; status: string; customer_id: string | null }>(
    `select order_id, flow, status, customer_id from read_model.order_view
      where ($1::text is null or status = $1) and ($2::text is null or customer_id = $2) and ($3::text is null or flow = $3) and ($4::text is null or order_id > $4)
      order by order_id limit $5`,
    [filter.status ?? null, filter.customerId ?? null, filter.flow ?? null, filter.after, filter.limit],
  );
  return rows.map((r) => ({ orderId: r.order_id, flow: r.flow, status: r.status, customerId: r.customer_id }));
}

/** The read model's queries, bound to a pool: what the API is given. */
export interface ReadModelQueries {
  orderView(orderId: string): Promise<OrderView | undefined>;
  timeline(orderId: string): Promise<TimelineEvent[]>;
  list(filter: OrderListFilter): Promise<OrderSummary[]>;
}

/** {@link ReadModelQueries} on `db`. */
export function readModelQueries(db: Queryable): ReadModelQueries {
  return {
    orderView: (orderId) => readOrderView(db, orderId),
    timeline: (orderId) => readOrderTimeline(db, orderId),
    list: (filter) => listOrderViews(db, filter),
  };
}
