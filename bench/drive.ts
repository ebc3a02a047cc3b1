import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { AccessTokens, TokenSubject } from '../src/platform/access-tokens.ts';
import type { MixEntry } from './mix.ts';

export type Flow = 'orchestrated' | 'choreographed';

/** One order the driver submitted, and when each milestone was seen (ms since the run began). */
export interface DrivenOrder {
  orderId: string | null;
  kind: string;
  flow?: Flow;
  scenario: MixEntry['scenario'];
  submittedAt: number;
  httpStatus: number | null;
  httpMs: number | null;
  /** Final status seen in the flow's own store (orders.orders, written by both flows). */
  terminalAt?: number;
  /** Final status and every event of its scenario seen in the read model (read_model.order_view). */
  visibleAt?: number;
  /** POST attempts it took (more than 1 only with `retryForMs`). */
  attempts?: number;
  /** Why its `onAccepted` action failed, if it did. */
  actionError?: string;
}

/** Where the benchmark's bearer tokens come from: an {@link AccessTokens} (it caches each token, so a request costs a header). */
export type TokenSource = Pick<AccessTokens, 'headers'>;

/** Options of {@link driveOrders}. */
export interface DriveOptions {
  apiUrl: string;
  /** Tokens for the API: each order is placed as its customer ({@link customerOf}). */
  tokens: TokenSource;
  pool: pg.Pool;
  flow: Flow;
  /** Orders per second, fixed (open loop: arrivals do not wait for answers). */
  rate: number;
  durationS: number;
  /** How long to wait after the last submission for every order to end. */
  drainS: number;
  schedule: MixEntry[];
  pollMs?: number;
  /** Called once the last order has been sent (its answer may still be on the way). */
  onSubmitted?: () => void;
  /** Every API instance to send to, in turn (round-robin); `apiUrl` alone when absent. */
  apiUrls?: readonly string[];
  /**
   * For how long a POST that failed (no answer, or a 5xx) is sent again, to the next instance,
   * with the same Idempotency-Key: what the key is for. 0 (the default): never, as the benchmark
   * measures the API as it answers.
   */
  retryForMs?: number;
  /** What a person does once the order is accepted (answer its review, cancel it); the order's follow-up waits for it. */
  onAccepted?: (order: DrivenOrder & { orderId: string }) => Promise<void>;
  /** The run's clock starts here (a `performance.now()` value), so the caller can place its own events on it. */
  startedAt?: number;
}

/** The customer the benchmark places an order of a mix entry for (`bench-<key>`): the one its token is for. */
export const customerOf = (key: MixEntry['key']): Extract<TokenSubject, { role: 'customer' }> => ({ role: 'customer', customerId: `bench-${key}` });

/** The JSON body of `POST /orders` for an order of a mix entry in a flow. */
export function orderRequestBody(entry: MixEntry, flow: Flow): string {
  return JSON.stringify({
    customerId: customerOf(entry.key).customerId,
    email: 'bench@example.com',
    items: entry.scenario.items,
    paymentToken: entry.scenario.paymentToken,
    flow,
  });
}

/** Orders in flight for a POST that failed at the connection or with a 5xx: worth sending again with the same key. */
const retryable = (status: number) => status >= 500;

/**
 * Submits orders through the HTTP API at a fixed arrival rate, then watches PostgreSQL until each
 * has reached its final state in the flow's store and in the read model, or the drain time is up.
 */
export async function driveOrders(options: DriveOptions): Promise<{ orders: DrivenOrder[]; elapsedMs: number; queries: number }> {
  // Each customer's token before the clock starts: the first order of a customer would otherwise
  // wait for the identity provider, and its HTTP time would include it. A cached token costs nothing.
  for (const key of new Set(options.schedule.map((entry) => entry.key))) await options.tokens.headers(customerOf(key));
  const started = options.startedAt ?? performance.now();
  const urls = options.apiUrls && options.apiUrls.length > 0 ? options.apiUrls : [options.apiUrl];
  let nextUrl = 0;
  const post = async (order: DrivenOrder, body: string): Promise<Response> => {
    const key = randomUUID();
    const deadline = now() + (options.retryForMs ?? 0);
    for (let attempt = 1; ; attempt++) {
      order.attempts = attempt;
      const url = urls[nextUrl++ % urls.length]!;
      try {
        const response = await fetch(`${url}/orders`, {
          method: 'POST',
          // Inside the try: a token that could not be renewed (the identity provider away) is retried like a failed POST.
          headers: { ...(await options.tokens.headers(customerOf(order.kind))), 'content-type': 'application/json', 'idempotency-key': key },
          body,
          ...(options.retryForMs ? { signal: AbortSignal.timeout(10_000) } : {}),
        });
        if (!retryable(response.status) || now() >= deadline) return response;
        await response.body?.cancel();
      } catch (err) {
        if (now() >= deadline) throw err;
      }
      await sleep(Math.min(1000, 100 * 2 ** attempt));
    }
  };
  const now = () => performance.now() - started;
  const orders: DrivenOrder[] = [];
  const inFlight: Promise<void>[] = [];
  const total = Math.round(options.rate * options.durationS);

  let watching = true;
  // The watcher's own queries are transactions too: counted, so they can be left out of the
  // commits per order.
  let queries = 0;
  const watcher = (async () => {
    while (watching || orders.some((o) => o.orderId && (o.terminalAt === undefined || o.visibleAt === undefined))) {
      await sleep(options.pollMs ?? 50);
      const waiting = (field: 'terminalAt' | 'visibleAt') => orders.filter((o) => o.orderId && o[field] === undefined).map((o) => o.orderId!);
      const byId = new Map(orders.filter((o) => o.orderId).map((o) => [o.orderId!, o]));
      queries += 2;
      try {
        const terminal = await options.pool.query<{ order_id: string }>(
          "select order_id from orders.orders where order_id = any($1) and status in ('confirmed', 'cancelled')",
          [waiting('terminalAt')],
        );
        const seenAt = now();
        for (const row of terminal.rows) byId.get(row.order_id)!.terminalAt ??= seenAt;
        const visible = await options.pool.query<{ order_id: string; event_count: number }>(
          "select order_id, event_count from read_model.order_view where order_id = any($1) and status in ('confirmed', 'cancelled')",
          [waiting('visibleAt')],
        );
        const visibleAt = now();
        for (const row of visible.rows) {
          const order = byId.get(row.order_id)!;
          // Done once the read model holds the whole story, the final email included.
          if (row.event_count >= order.scenario.expected.events.length) order.visibleAt ??= visibleAt;
        }
      } catch {
        // PostgreSQL restarting under a chaos run: look again at the next poll.
        await sleep(500);
      }
      if (!watching && now() > options.durationS * 1000 + options.drainS * 1000) break;
    }
  })();

  for (let i = 0; i < total; i++) {
    const due = (i * 1000) / options.rate;
    if (due > now()) await sleep(due - now());
    const entry = options.schedule[i % options.schedule.length]!;
    const order: DrivenOrder = {
      orderId: null,
      kind: entry.key,
      flow: options.flow,
      scenario: entry.scenario,
      submittedAt: now(),
      httpStatus: null,
      httpMs: null,
    };
    orders.push(order);
    const body = orderRequestBody(entry, options.flow);
    inFlight.push(
      post(order, body)
        .then(
          async (response) => {
            order.httpStatus = response.status;
            order.httpMs = now() - order.submittedAt;
            const answer = (await response.json()) as { orderId?: string };
            order.orderId = answer.orderId ?? null;
          },
          () => {
            order.httpMs = now() - order.submittedAt;
          },
        )
        .then(async () => {
          if (!options.onAccepted || order.httpStatus !== 202 || !order.orderId) return;
          await options.onAccepted(order as DrivenOrder & { orderId: string }).catch((err: unknown) => {
            order.actionError = err instanceof Error ? err.message : String(err);
          });
        }),
    );
  }
  options.onSubmitted?.();
  await Promise.all(inFlight);
  watching = false;
  await watcher;
  return { orders, elapsedMs: now(), queries };
}
