import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildGatewayApp } from '../../src/gateway/gateway-app.ts';
import { GatewayLedger } from '../../src/gateway/ledger.ts';
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
