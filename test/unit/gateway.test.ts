import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGatewayApp } from '../../src/gateway/gateway-app.ts';
import { GatewayLedger, type Charge } from '../../src/gateway/ledger.ts';
import { tokenBehaviour } from '../../src/gateway/tokens.ts';

const charge = (body: Record<string, unknown>, key?: string) => ({
  method: 'POST' as const,
  url: '/v1/charges',
  headers: key === undefined ? {} : { 'idempotency-key': key },
  payload: { amountCents: 1000, currency: 'USD', token: 'tok_approve', reference: 'order-1', ...body },
});

describe('payment gateway simulator', () => {
  it('answers the same key and body with the same capture, booked once', async () => {
    const { app, ledger } = buildGatewayApp();
    const first = await app.inject(charge({}, 'charge-order-1'));
    const second = await app.inject(charge({}, 'charge-order-1'));
    expect(first.statusCode).toBe(201);
    expect(second.json()).toEqual(first.json());
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(ledger.charges).toHaveLength(1);
  });

  it('rejects a key reused with a different body', async () => {
    const { app } = buildGatewayApp();
    await app.inject(charge({}, 'charge-order-1'));
    const reused = await app.inject(charge({ amountCents: 5 }, 'charge-order-1'));
    expect(reused.statusCode).toBe(409);
    expect(reused.json()).toMatchObject({ statusCode: 409, code: 'idempotency_key_reused' });
  });

  it('requires an Idempotency-Key and a valid body, saying which field is wrong', async () => {
    const { app } = buildGatewayApp();
    const missing = await app.inject(charge({}));
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ code: 'invalid_request' });
    expect(missing.json<{ message: string }>().message).toMatch(/idempotency-key/);
    const negative = await app.inject(charge({ amountCents: -1 }, 'charge-order-2'));
    expect(negative.statusCode).toBe(400);
    expect(negative.json<{ message: string }>().message).toMatch(/amountCents/);
  });

  it('declines with 402 and answers the same decline to a retry', async () => {
    const { app, ledger } = buildGatewayApp();
    const first = await app.inject(charge({ token: 'tok_decline' }, 'charge-order-3'));
    const again = await app.inject(charge({ token: 'tok_decline' }, 'charge-order-3'));
    expect([first.statusCode, again.statusCode]).toEqual([402, 402]);
    expect(first.json()).toMatchObject({ code: 'card_declined' });
    expect(ledger.charges).toHaveLength(0);
  });

  it('fails the first N attempts of a key with 503, then captures once', async () => {
    const { app, ledger } = buildGatewayApp();
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await app.inject(charge({ token: 'tok_fail_2' }, 'charge-order-4'))).statusCode);
    expect(statuses).toEqual([503, 503, 201, 201]);
    expect(ledger.charges).toHaveLength(1);
  });

  it('refunds a captured charge once, and says 404 for a reference it never charged', async () => {
    const { app, ledger } = buildGatewayApp();
    await app.inject(charge({}, 'charge-order-5'));
    const refund = () =>
      app.inject({ method: 'POST', url: '/v1/refunds', headers: { 'idempotency-key': 'refund-order-5' }, payload: { reference: 'order-1' } });
    expect((await refund()).statusCode).toBe(201);
    expect((await refund()).statusCode).toBe(201);
    expect(ledger.refunds).toHaveLength(1);
    const unknown = await app.inject({ method: 'POST', url: '/v1/refunds', headers: { 'idempotency-key': 'refund-nothing' }, payload: { reference: 'never' } });
    expect(unknown.statusCode).toBe(404);
    const ledgerView = await app.inject({ method: 'GET', url: '/v1/charges?reference=order-1' });
    expect(ledgerView.json<{ data: { status: string }[] }>().data.map((c) => c.status)).toEqual(['refunded']);
  });

  it.each([
    ['tok_approve', { kind: 'approve' }],
    ['tok_decline', { kind: 'decline' }],
    ['tok_fail_3', { kind: 'fail_then_approve', failures: 3 }],
    ['tok_slow_250', { kind: 'slow', delayMs: 250 }],
    ['tok_unavailable', { kind: 'unavailable' }],
    ['tok_fail_2+a1b2', { kind: 'fail_then_approve', failures: 2 }],
    ['tok_approve+any tag', { kind: 'approve' }],
    ['tok_approvex', { kind: 'decline' }],
    ['4242424242424242', { kind: 'decline' }],
  ])('reads token %s', (token, behaviour) => {
    expect(tokenBehaviour(token)).toEqual(behaviour);
  });

  describe('retention', () => {
    const hour = 3_600_000;
    const dir = mkdtempSync(join(tmpdir(), 'order-saga-gateway-retention-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    /** A clock the test moves. */
    const clock = () => {
      let now = Date.parse('2026-11-30T10:00:00Z');
      return { now: () => now, advance: (ms: number) => (now += ms) };
    };

    it("forgets a key, its stored answer and the charge made under it once the retention has passed since the key's last change", async () => {
      const time = clock();
      const { app, ledger } = buildGatewayApp({ ledger: new GatewayLedger(undefined, { retentionMs: 24 * hour, now: time.now }) });
      const first = await app.inject(charge({ reference: 'order-20' }, 'charge-order-20'));
      time.advance(12 * hour);
      await app.inject(charge({ reference: 'order-21', token: 'tok_fail_1' }, 'charge-order-21'));

      // Inside the window: a retry is answered from the stored answer, and the charge is listed.
      time.advance(12 * hour);
      const retried = await app.inject(charge({ reference: 'order-20' }, 'charge-order-20'));
      expect(retried.headers['idempotent-replayed']).toBe('true');
      expect(retried.json()).toEqual(first.json());
      expect((await app.inject({ method: 'GET', url: '/v1/charges' })).json<{ data: Charge[] }>().data.map((c) => c.reference)).toEqual(['order-20']);

      // Past it: the key is new again (a replay does not extend it), its charge is no longer listed.
      time.advance(1);
      expect(ledger.keyCount).toBe(1);
      expect(ledger.charges).toEqual([]);
      const anew = await app.inject(charge({ reference: 'order-20' }, 'charge-order-20'));
      expect(anew.headers['idempotent-replayed']).toBeUndefined();
      expect(anew.json<Charge>().id).not.toBe(first.json<Charge>().id);
      // The other key's attempt count is kept for 24 h after its own last attempt: its second attempt is captured.
      expect((await app.inject(charge({ reference: 'order-21', token: 'tok_fail_1' }, 'charge-order-21'))).statusCode).toBe(201);
    });

    it('keeps a refunded charge listed as refunded while its own key is kept, and forgets the refund with its key', async () => {
      const time = clock();
      const { app, ledger } = buildGatewayApp({ ledger: new GatewayLedger(undefined, { retentionMs: 2 * hour, now: time.now }) });
      await app.inject(charge({ reference: 'order-22' }, 'charge-order-22'));
      time.advance(hour);
      await app.inject({ method: 'POST', url: '/v1/refunds', headers: { 'idempotency-key': 'refund-order-22' }, payload: { reference: 'order-22' } });
      expect(ledger.charges.map((c) => c.status)).toEqual(['refunded']);
      time.advance(hour + 1);
      expect(ledger.charges).toEqual([]);
      expect(ledger.refunds).toHaveLength(1);
      time.advance(hour);
      expect(ledger.refunds).toEqual([]);
      expect(ledger.keyCount).toBe(0);
    });

    it('compacts the journal to the kept keys (atomically, through a renamed file), and a restart from it knows them', async () => {
      const journal = join(dir, 'compacted.jsonl');
      const time = clock();
      const options = { retentionMs: 24 * hour, now: time.now };
      const before = buildGatewayApp({ ledger: new GatewayLedger(journal, options) });
      await before.app.inject(charge({ reference: 'order-old' }, 'charge-order-old'));
      time.advance(20 * hour);
      const kept = await before.app.inject(charge({ reference: 'order-30' }, 'charge-order-30'));
      await before.app.inject(charge({ reference: 'order-31', token: 'tok_fail_2' }, 'charge-order-31'));
      await before.app.inject(charge({ reference: 'order-32', token: 'tok_decline' }, 'charge-order-32'));
      const refunded = await before.app.inject({
        method: 'POST',
        url: '/v1/refunds',
        headers: { 'idempotency-key': 'refund-order-30' },
        payload: { reference: 'order-30' },
      });
      time.advance(5 * hour);
      // A line per change: an attempt before each capture or decline.
      expect(readFileSync(journal, 'utf8').trim().split('\n')).toHaveLength(8);

      expect(before.ledger.compact()).toBe(true);
      const lines = readFileSync(journal, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(4);
      expect(lines.join('\n')).not.toContain('order-old');
      expect(existsSync(`${journal}.compacting`)).toBe(false);
      // Nothing more to drop: no rewrite.
      expect(before.ledger.compact()).toBe(false);

      const after = buildGatewayApp({ ledger: new GatewayLedger(journal, options) });
      expect(after.ledger.charges).toEqual([{ ...kept.json<Record<string, unknown>>(), status: 'refunded' }]);
      const retried = await after.app.inject(charge({ reference: 'order-30' }, 'charge-order-30'));
      expect(retried.headers['idempotent-replayed']).toBe('true');
      expect(retried.json()).toEqual(kept.json());
      const refundAgain = await after.app.inject({
        method: 'POST',
        url: '/v1/refunds',
        headers: { 'idempotency-key': 'refund-order-30' },
        payload: { reference: 'order-30' },
      });
      expect(refundAgain.json()).toEqual(refunded.json());
      expect((await after.app.inject(charge({ reference: 'order-32', token: 'tok_decline' }, 'charge-order-32'))).statusCode).toBe(402);
      // The attempt count survives the rewrite: the "fail twice" key's third attempt is captured.
      expect((await after.app.inject(charge({ reference: 'order-31', token: 'tok_fail_2' }, 'charge-order-31'))).statusCode).toBe(503);
      expect((await after.app.inject(charge({ reference: 'order-31', token: 'tok_fail_2' }, 'charge-order-31'))).statusCode).toBe(201);
      // And the kept keys are forgotten on time after the restart, too.
      time.advance(24 * hour);
      expect(after.ledger.keyCount).toBe(1); // the order-31 key, changed just now
      expect(after.ledger.charges.map((c) => c.reference)).toEqual(['order-31']);
    });

    it('rewrites the journal by itself once it has grown past the threshold, so it stays bounded under steady traffic', async () => {
      const journal = join(dir, 'steady.jsonl');
      const time = clock();
      const { app, ledger } = buildGatewayApp({ ledger: new GatewayLedger(journal, { retentionMs: hour, compactAtBytes: 64 * 1024, now: time.now }) });
      let largest = 0;
      for (let i = 0; i < 2000; i++) {
        await app.inject(charge({ reference: `order-s${i}`, token: 'tok_fail_1' }, `charge-order-s${i}`));
        await app.inject(charge({ reference: `order-s${i}`, token: 'tok_fail_1' }, `charge-order-s${i}`));
        time.advance(10_000); // 360 orders an hour
        largest = Math.max(largest, statSync(journal).size);
      }
      // About 360 kept keys of ~400 bytes: the journal stayed within a few times that, not 2000 orders' worth.
      expect(ledger.keyCount).toBeLessThanOrEqual(361);
      expect(largest).toBeLessThan(3 * 64 * 1024 + 2 * 360 * 600);
      expect(new GatewayLedger(journal, { retentionMs: hour, now: time.now }).charges).toHaveLength(ledger.charges.length);
    });
  });

  describe('with a journal', () => {
    const dir = mkdtempSync(join(tmpdir(), 'order-saga-gateway-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('keeps its books across a restart: a retried charge or refund moves no money again', async () => {
      const journal = join(dir, 'ledger.jsonl');
      const before = buildGatewayApp({ ledger: new GatewayLedger(journal) });
      const captured = await before.app.inject(charge({ reference: 'order-9' }, 'charge-order-9'));
      await before.app.inject(charge({ reference: 'order-10', token: 'tok_fail_2' }, 'charge-order-10'));
      const refunded = await before.app.inject({
        method: 'POST',
        url: '/v1/refunds',
        headers: { 'idempotency-key': 'refund-order-9' },
        payload: { reference: 'order-9' },
      });
      // A kill mid-write leaves half a line, which was never answered.
      appendFileSync(journal, '{"op":"capture","key":"cut-sh');

      const after = buildGatewayApp({ ledger: new GatewayLedger(journal) });
      const retried = await after.app.inject(charge({ reference: 'order-9' }, 'charge-order-9'));
      expect(retried.statusCode).toBe(201);
      expect(retried.json()).toEqual(captured.json());
      expect(
        (
          await after.app.inject({ method: 'POST', url: '/v1/refunds', headers: { 'idempotency-key': 'refund-order-9' }, payload: { reference: 'order-9' } })
        ).json(),
      ).toEqual(refunded.json());
      expect(after.ledger.charges).toEqual([{ ...captured.json<Record<string, unknown>>(), status: 'refunded' }]);
      expect(after.ledger.refunds).toHaveLength(1);
      // The attempt count of a "fail twice" token carries on: its third attempt is captured.
      expect((await after.app.inject(charge({ reference: 'order-10', token: 'tok_fail_2' }, 'charge-order-10'))).statusCode).toBe(503);
      expect((await after.app.inject(charge({ reference: 'order-10', token: 'tok_fail_2' }, 'charge-order-10'))).statusCode).toBe(201);
    });
  });
});
