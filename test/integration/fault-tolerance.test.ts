/**
 * The system under faults, through `npm start` as a person runs it: a burst of mixed orders in
 * both flows while every application process is killed once (kill -9), the Kafka broker is paused
 * for 10 s and PostgreSQL restarts. Clients retry as real ones do (same Idempotency-Key, on a lost
 * connection or a 5xx). Afterwards every order is terminal and the books agree: at most one
 * capture per order and none left on a cancelled one, one email per order, stock and read model
 * equal to what the contexts hold, and every process is back without anyone restarting it.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isRunning } from '../../infra/stack/process.ts';
import { postgresUrl } from '../../infra/stack/servers/postgres.ts';
import { appServices, identityClientsFileOf } from '../../infra/stack/stack.ts';
import { AccessTokens } from '../../src/platform/access-tokens.ts';
import { eventually } from './helpers/choreography-scenarios.ts';
import { serverNames, startSystem, type StartedSystem } from './helpers/npm-start.ts';

type Kind = 'approve' | 'decline' | 'fail_twice' | 'slow_then_cancel' | 'review_then_approve';
const kinds: Kind[] = [
  'approve',
  'approve',
  'decline',
  'fail_twice',
  'slow_then_cancel',
  'approve',
  'review_then_approve',
  'approve',
  'slow_then_cancel',
  'decline',
];
const tokens: Record<Kind, string> = {
  approve: 'tok_approve',
  decline: 'tok_decline',
  fail_twice: 'tok_fail_2',
  slow_then_cancel: 'tok_slow_1500',
  review_then_approve: 'tok_approve',
};
/** What each kind must end as, whatever the faults (a cancel that came too late may confirm). */
const outcomes: Record<Kind, string[]> = {
  approve: ['confirmed/'],
  decline: ['cancelled/payment_declined'],
  fail_twice: ['confirmed/'],
  slow_then_cancel: ['cancelled/customer_cancelled', 'confirmed/'],
  review_then_approve: ['confirmed/'],
};

interface Placed {
  kind: Kind;
  flow: string;
  orderId: string;
}

/** Calls the API as a patient client: a lost connection or a 5xx is retried (for up to 3 min). */
async function call(url: string, init: RequestInit, accept: (status: number) => boolean): Promise<Response> {
  const deadline = Date.now() + 180_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
      if (accept(response.status)) return response;
      last = `HTTP ${response.status}: ${await response.text()}`;
      if (response.status < 500) throw new Error(`${init.method ?? 'GET'} ${url} answered ${last}`);
    } catch (err) {
      if ((err as Error).message.includes('answered HTTP 4')) throw err;
      last = (err as Error).message;
    }
    await sleep(1000);
  }
  throw new Error(`${init.method ?? 'GET'} ${url} never answered: ${last}`);
}

async function placeAndFollow(system: StartedSystem, accessTokens: AccessTokens, kind: Kind, flow: string): Promise<Placed> {
  // The customer places and reads its order; the commands go as an operator, who may act on any
  // order at once, where a customer's own cancel waits for the read model to name it the owner (a
  // 404 before), and the read model lags here by design (the projector is killed, Kafka paused).
  const customerId = `fault-${kind}`;
  const customer = await accessTokens.headers({ role: 'customer', customerId });
  const operator = await accessTokens.headers({ role: 'operator' });
  const items =
    kind === 'review_then_approve'
      ? [{ sku: 'LT-004', quantity: 1 }]
      : [
          { sku: 'KB-001', quantity: 1 },
          { sku: 'MS-002', quantity: 2 },
        ];
  const key = randomUUID();
  const placed = await call(
    `${system.api}/orders`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key, ...customer },
      body: JSON.stringify({ customerId, email: 'ada@example.com', items, paymentToken: tokens[kind], flow }),
    },
    (status) => status === 202,
  );
  const { orderId } = (await placed.json()) as { orderId: string };
  const command = (name: string) =>
    call(`${system.api}/orders/${orderId}/${name}`, { method: 'POST', headers: operator }, (status) => status === 202 || status === 409);
  if (kind === 'slow_then_cancel') {
    await sleep(500);
    await command('cancel');
  }
  if (kind === 'review_then_approve') {
    await eventually(
      `order ${orderId} waiting for review`,
      async () => {
        const view = await fetch(`${system.api}/orders/${orderId}`, { headers: customer }).then(
          (r) => (r.ok ? (r.json() as Promise<{ status?: string }>) : {}),
          () => ({}),
        );
        return 'status' in view && view.status === 'awaiting_review';
      },
      180_000,
    );
    await command('approve');
  }
  return { kind, flow, orderId };
}

/** Each fault in turn, a few seconds apart, while the orders go in. */
async function injectFaults(system: StartedSystem, log: string[]): Promise<void> {
  const pidOf = (name: string) => system.pids.read(name)!.pid;
  for (const name of ['temporal-worker', 'choreography', 'projector', 'api', 'payment-gateway']) {
    await sleep(3000);
    log.push(`kill -9 ${name}`);
    process.kill(pidOf(name), 'SIGKILL');
  }
  await sleep(3000);
  log.push('pause kafka for 10 s');
  const kafka = pidOf('kafka');
  process.kill(kafka, 'SIGSTOP');
  await sleep(10_000);
  process.kill(kafka, 'SIGCONT');
  await sleep(3000);
  // A fast shutdown, as `pg_ctl restart -m fast` begins; npm start brings it back.
  log.push('stop postgres (fast shutdown)');
  process.kill(pidOf('postgres'), 'SIGINT');
}

describe('faults under load, through npm start', () => {
  it('ends every order terminal with the books agreeing after every process is killed, Kafka paused and PostgreSQL restarted', async () => {
    const system = await startSystem();
    // Tokens from the stack's own identity provider, which npm start runs (and which is not among the processes killed).
    const accessTokens = AccessTokens.fromFile(identityClientsFileOf(system.config));
    const faults: string[] = [];
    const pool = new pg.Pool({
      connectionString: postgresUrl({
        user: system.config.POSTGRES_USER,
        password: system.config.POSTGRES_PASSWORD,
        port: system.config.POSTGRES_PORT,
        database: system.config.POSTGRES_DB,
      }),
      max: 2,
    });
    pool.on('error', () => undefined); // PostgreSQL restarts during the test
    const query = async <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => {
      for (;;) {
        try {
          return (await pool.query<R>(text, values)).rows;
        } catch {
          await sleep(500);
        }
      }
    };
    try {
      const stockBefore = new Map((await query<{ sku: string; stock: number }>('select sku, stock from inventory.catalog')).map((r) => [r.sku, r.stock]));

      // 40 orders, one every 700 ms while the faults happen: each kind twice in each flow.
      const faulting = injectFaults(system, faults);
      const following: Promise<Placed>[] = [];
      for (let i = 0; i < 40; i++) {
        following.push(placeAndFollow(system, accessTokens, kinds[Math.floor(i / 2) % kinds.length]!, i % 2 === 0 ? 'orchestrated' : 'choreographed'));
        await sleep(700);
      }
      await faulting;
      const orders = await Promise.all(following);
      const ids = orders.map((o) => o.orderId);

      const ordersById = async () =>
        new Map(
          (
            await query<{ order_id: string; status: string; reason: string | null }>(
              'select order_id, status, reason from orders.orders where order_id = any($1)',
              [ids],
            )
          ).map((r) => [r.order_id, r]),
        );
      await eventually(
        'every order terminal',
        async () => [...(await ordersById()).values()].filter((o) => ['confirmed', 'cancelled'].includes(o.status)).length === ids.length,
        300_000,
      );
      const final = await ordersById();
      const outcome = (id: string) => `${final.get(id)!.status}/${final.get(id)!.reason ?? ''}`;
      expect(
        orders.filter((o) => !outcomes[o.kind].includes(outcome(o.orderId))).map((o) => `${o.flow} ${o.kind} ${o.orderId}: ${outcome(o.orderId)}`),
        faults.join(', '),
      ).toEqual([]);

      // The read model agrees with the orders context.
      await eventually(
        'the read model to agree with the orders context',
        async () => {
          const views = await query<{ order_id: string; status: string; reason: string | null }>(
            'select order_id, status, reason from read_model.order_view where order_id = any($1)',
            [ids],
          );
          return views.length === ids.length && views.every((v) => `${v.status}/${v.reason ?? ''}` === outcome(v.order_id));
        },
        120_000,
      );

      // The gateway's books: at most one capture per order, none left on a cancelled order, one on each confirmed order.
      const gateway = `http://127.0.0.1:${system.env.GATEWAY_PORT}`;
      const charges = ((await (await call(`${gateway}/v1/charges`, {}, (s) => s === 200)).json()) as { data: { reference: string; status: string }[] }).data;
      const chargesOf = (id: string) => charges.filter((c) => c.reference === id);
      expect(ids.filter((id) => chargesOf(id).length > 1)).toEqual([]);
      expect(ids.filter((id) => final.get(id)!.status === 'cancelled' && chargesOf(id).some((c) => c.status !== 'refunded'))).toEqual([]);
      // Every kind ran in both flows.
      expect(new Set(orders.map((o) => `${o.flow} ${o.kind}`)).size).toBe(2 * new Set(kinds).size);
      expect(ids.filter((id) => final.get(id)!.status === 'confirmed' && chargesOf(id).filter((c) => c.status === 'captured').length !== 1)).toEqual([]);

      // One email per order, saying what happened.
      const mail = `http://127.0.0.1:${system.env.SMTP_SINK_HTTP_PORT}/messages`;
      // The orders whose emails are not one with the right subject, each with what it got: a
      // timeout then says whether an email is missing, doubled or wrong.
      let wrongMail: string[] = [];
      await eventually(
        'one email per order',
        async () => {
          const { data } = (await (await fetch(mail)).json()) as { data: { orderId: string | null; subject: string | null }[] };
          wrongMail = ids.flatMap((id) => {
            const sent = data.filter((m) => m.orderId === id);
            const expected = `Order ${id} ${final.get(id)!.status}`;
            return sent.length === 1 && sent[0]!.subject === expected
              ? []
              : [`${id}: expected "${expected}", got ${JSON.stringify(sent.map((m) => m.subject))}`];
          });
          return wrongMail.length === 0;
        },
        120_000,
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}: ${wrongMail.join('; ')}`);
      });

      // Stock: what the catalog lost is exactly what the live reservations hold.
      const reserved = await query<{ sku: string; quantity: number }>(
        `select line->>'sku' as sku, sum((line->>'quantity')::int)::int as quantity
           from inventory.reservations, jsonb_array_elements(lines) as line where status = 'reserved' group by 1`,
      );
      const stockAfter = await query<{ sku: string; stock: number }>('select sku, stock from inventory.catalog');
      for (const { sku, stock } of stockAfter) expect(stockBefore.get(sku)! - stock, sku).toBe(reserved.find((r) => r.sku === sku)?.quantity ?? 0);
      const { length: liveOnCancelled } = await query('select 1 from inventory.reservations where status = $1 and order_id = any($2)', [
        'reserved',
        ids.filter((id) => final.get(id)!.status === 'cancelled'),
      ]);
      expect(liveOnCancelled).toBe(0);

      // Every process is back, restarted by npm start, none by hand.
      const records = system.started();
      expect(records.map((r) => r.name).sort()).toEqual([...serverNames, ...appServices(system.config).map((s) => s.name)].sort());
      expect(records.filter((r) => !isRunning(r)).map((r) => r.name)).toEqual([]);
      for (const name of ['temporal-worker', 'choreography', 'projector', 'api', 'payment-gateway', 'postgres']) {
        expect(system.pids.read(name)?.restarts ?? 0, name).toBeGreaterThanOrEqual(1);
      }
      const tally: Record<string, number> = {};
      for (const o of orders) tally[`${o.flow} ${outcome(o.orderId)}`] = (tally[`${o.flow} ${outcome(o.orderId)}`] ?? 0) + 1;
      const restarts = Object.fromEntries(records.map((r) => [r.name, r.restarts ?? 0]));
      console.log(`fault test: ${faults.join('; ')}\noutcomes: ${JSON.stringify(tally)}\nrestarts: ${JSON.stringify(restarts)}`);
    } finally {
      await pool.end();
      // SIGINT to npm alone, as a process manager sends it (a terminal's Ctrl-C is npm-start.test.ts's).
      const { how, leftOver } = await system.stop('sigint');
      expect(how, system.output()).toBe(0);
      expect(leftOver).toEqual([]);
    }
  }, 900_000);
});
