import type pg from 'pg';
import type { DrivenOrder } from './drive.ts';

/** One check of the audit, with what it found. */
export interface AuditCheck {
  name: string;
  passed: boolean;
  detail: string;
  /** How many orders (or items) failed it. */
  failures: number;
}

interface Charge {
  reference: string;
  status: string;
}

/** What the audit reads besides PostgreSQL. */
export interface AuditSources {
  pool: pg.Pool;
  gatewayUrl: string;
  /** Messages in the dead-letter topics and unsent outbox rows before the run, to compare against. */
  before: { deadLetters: number };
  deadLetters: () => Promise<number>;
  /** The SMTP sink's `/messages` URL: when given, every ended order must have had exactly one email. */
  mailUrl?: string;
}

/**
 * The event types an order of the run publishes: its scenario's, plus `payment.voided` for a
 * choreographed cancel before any charge (the payments group answers every cancel with an event;
 * the workflow needs none), as test/integration/helpers/choreography-scenarios.ts has it.
 */
export function expectedEventsOf(order: Pick<DrivenOrder, 'flow' | 'scenario'>): string[] {
  const own = order.scenario.expected.events;
  return order.flow === 'choreographed' && order.scenario.action.kind === 'cancel_during_review' ? [...own, 'payment.voided'] : [...own];
}

const sample = (ids: string[]) => (ids.length === 0 ? 'none' : `${ids.length}: ${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ', ...' : ''}`);

/**
 * The correctness audit after a run: a run whose audit fails is a failed run, whatever its speed.
 * Checks every order accepted and ended with its scenario's status and reason; at most one capture
 * per order at the gateway, none left captured on a cancelled order; stock released for every
 * cancelled order that had some; each order's events exactly its scenario's, none applied twice;
 * the read model's status and reason equal to the orders context's; one email per ended order
 * (when the SMTP sink is given); no new dead letter; the outbox drained.
 */
export async function auditRun(orders: DrivenOrder[], sources: AuditSources): Promise<{ passed: boolean; checks: AuditCheck[] }> {
  const checks: AuditCheck[] = [];
  const check = (name: string, failures: string[], what: string) =>
    checks.push({ name, passed: failures.length === 0, detail: failures.length === 0 ? what : `failed for ${sample(failures)}`, failures: failures.length });

  const rejected = orders.filter((o) => o.httpStatus !== 202 || !o.orderId);
  check(
    'every order accepted (HTTP 202)',
    rejected.map((o) => `${o.kind} (HTTP ${o.httpStatus ?? 'none'})`),
    `${orders.length} accepted`,
  );
  const accepted = orders.filter((o) => o.orderId);
  const ids = accepted.map((o) => o.orderId!);
  const byId = new Map(accepted.map((o) => [o.orderId!, o]));

  const { rows: states } = await sources.pool.query<{ order_id: string; status: string; reason: string | null }>(
    'select order_id, status, reason from orders.orders where order_id = any($1)',
    [ids],
  );
  const stateOf = new Map(states.map((r) => [r.order_id, r]));
  check(
    'every order ended',
    ids.filter((id) => !['confirmed', 'cancelled'].includes(stateOf.get(id)?.status ?? '')),
    `${ids.length} ended`,
  );
  check(
    'every order ended as its scenario says (status, reason)',
    ids.filter((id) => {
      const expected = byId.get(id)!.scenario.expected;
      const state = stateOf.get(id);
      return state !== undefined && ['confirmed', 'cancelled'].includes(state.status) && (state.status !== expected.status || state.reason !== expected.reason);
    }),
    'all as expected',
  );

  const charges = ((await (await fetch(`${sources.gatewayUrl}/v1/charges`)).json()) as { data: Charge[] }).data.filter((c) => byId.has(c.reference));
  const capturesOf = new Map<string, Charge[]>();
  for (const charge of charges) capturesOf.set(charge.reference, [...(capturesOf.get(charge.reference) ?? []), charge]);
  check(
    'at most one capture per order',
    ids.filter((id) => (capturesOf.get(id)?.length ?? 0) > 1),
    `${charges.length} captures for ${ids.length} orders`,
  );
  const cancelled = ids.filter((id) => stateOf.get(id)?.status === 'cancelled');
  check(
    'no capture left unrefunded on a cancelled order',
    cancelled.filter((id) => (capturesOf.get(id) ?? []).some((c) => c.status !== 'refunded')),
    `${cancelled.length} cancelled orders`,
  );

  const { rows: reservations } = await sources.pool.query<{ order_id: string; status: string }>(
    'select order_id, status from inventory.reservations where order_id = any($1)',
    [cancelled],
  );
  check(
    'stock released for every cancelled order',
    reservations.filter((r) => r.status !== 'released').map((r) => r.order_id),
    `${reservations.length} reservations released`,
  );

  const { rows: timeline } = await sources.pool.query<{ order_id: string; types: string[] }>(
    'select order_id, array_agg(type order by type) as types from read_model.order_timeline where order_id = any($1) group by order_id',
    [ids],
  );
  const typesOf = new Map(timeline.map((r) => [r.order_id, r.types.join(',')]));
  check(
    "each order's events are its scenario's",
    ids.filter((id) => typesOf.get(id) !== expectedEventsOf(byId.get(id)!).sort().join(',')),
    'all as expected',
  );

  // The same event applied twice shows as its type more often than the scenario has it.
  check(
    'no event applied twice',
    ids.filter((id) => {
      const seen = (typesOf.get(id) ?? '').split(',');
      const expected = expectedEventsOf(byId.get(id)!);
      return seen.some((type) => seen.filter((t) => t === type).length > Math.max(1, expected.filter((t) => t === type).length));
    }),
    'none',
  );

  const { rows: views } = await sources.pool.query<{ order_id: string; status: string; reason: string | null }>(
    'select order_id, status, reason from read_model.order_view where order_id = any($1)',
    [ids],
  );
  const viewOf = new Map(views.map((r) => [r.order_id, r]));
  check(
    'read model equal to the contexts (status, reason)',
    ids.filter((id) => {
      const [state, view] = [stateOf.get(id), viewOf.get(id)];
      return !state || !view || state.status !== view.status || state.reason !== view.reason;
    }),
    `${views.length} orders agree`,
  );

  if (sources.mailUrl) {
    const mail = ((await (await fetch(sources.mailUrl)).json()) as { data: { orderId: string | null }[] }).data;
    const emailsOf = new Map<string, number>();
    for (const m of mail) if (m.orderId && byId.has(m.orderId)) emailsOf.set(m.orderId, (emailsOf.get(m.orderId) ?? 0) + 1);
    const ended = ids.filter((id) => ['confirmed', 'cancelled'].includes(stateOf.get(id)?.status ?? ''));
    check(
      'at most one email per order',
      ids.filter((id) => (emailsOf.get(id) ?? 0) > 1).map((id) => `${id} (${emailsOf.get(id)})`),
      'none doubled',
    );
    check(
      'an email for every ended order',
      ended.filter((id) => !emailsOf.has(id)),
      `${ended.length} ended orders`,
    );
  }

  const deadLetters = await sources.deadLetters();
  check(
    'no new dead letter',
    deadLetters > sources.before.deadLetters ? [`${deadLetters - sources.before.deadLetters} new`] : [],
    `${deadLetters} in all, none new`,
  );
  const { rows: outbox } = await sources.pool.query<{ unsent: string }>('select count(*)::text as unsent from messaging.outbox where sent_at is null');
  check('outbox drained', Number(outbox[0]!.unsent) > 0 ? [`${outbox[0]!.unsent} unsent rows`] : [], 'no unsent row');

  return { passed: checks.every((c) => c.passed), checks };
}
