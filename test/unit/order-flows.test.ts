import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { buildApiApp } from '../../src/api/app.ts';
import { jwksTokenVerifier } from '../../src/api/auth.ts';
import { OrderNotFoundError, OrderStateConflictError } from '../../src/domain/errors.ts';
import type { Flow } from '../../src/domain/order.ts';
import { FlowUnavailableError } from '../../src/flows/flow-unavailable-error.ts';
import type { OrderFlow } from '../../src/flows/order-flows.ts';
import { createOrderRouter } from '../../src/flows/order-router.ts';

/** A flow that records the calls it gets and answers every read and command with `failure`, if given. */
function recordingFlow(name: Flow, calls: string[], failure?: Error): OrderFlow {
  const answer = (what: string, orderId: string) => {
    calls.push(`${name} ${what} ${orderId}`);
    return failure ? Promise.reject(failure) : Promise.resolve();
  };
  return {
    name,
    place: (order) => {
      calls.push(`${name} place ${order.orderId} ${order.paymentRef} ${order.email}`);
      return Promise.resolve({});
    },
    status: async (orderId) => {
      await answer('status', orderId);
      return { orderId, flow: name, status: 'pending', reason: null, total: null, step: 'reserve', notified: false };
    },
    cancel: (orderId) => answer('cancel', orderId),
    approve: (orderId) => answer('approve', orderId),
    reject: (orderId) => answer('reject', orderId),
  };
}

describe('the order router', () => {
  it('sends reads and commands to the flow that runs the order, and an order the orders context does not know to the orchestrated flow', async () => {
    const calls: string[] = [];
    const flows = createOrderRouter({
      flows: { orchestrated: recordingFlow('orchestrated', calls), choreographed: recordingFlow('choreographed', calls) },
      flowOf: (orderId) => Promise.resolve(orderId === 'c-1' ? 'choreographed' : orderId === 'o-1' ? 'orchestrated' : undefined),
      vaultPaymentToken: (entry) => {
        calls.push(`vault ${entry.orderId} ${entry.customerId} ${entry.token}`);
        return Promise.resolve(`payref_${entry.orderId}`);
      },
      sealPersonalData: (customerId, value) => Promise.resolve(`sealed(${customerId}, ${value})`),
    });
    await flows.command('c-1', 'approve');
    await flows.command('o-1', 'cancel');
    await flows.status('c-1');
    await flows.command('unknown', 'reject');
    await flows.place(
      'choreographed',
      { orderId: 'new', customerId: 'c', email: 'e@example.com', items: [{ sku: 'KB-001', quantity: 1 }], paymentToken: 't' },
      'corr',
    );
    expect(calls).toEqual([
      'choreographed approve c-1',
      'orchestrated cancel o-1',
      'choreographed status c-1',
      'orchestrated reject unknown',
      // The token goes into the vault first; the flow gets only its reference.
      'vault new c t',
      'choreographed place new payref_new sealed(c, e@example.com)',
    ]);
  });
});

describe('an orchestrated order past the namespace retention', () => {
  // Temporal deleted its closed saga; the orders context still has the order.
  const flows = createOrderRouter({
    flows: {
      orchestrated: recordingFlow('orchestrated', [], new OrderNotFoundError('o-1')),
      choreographed: recordingFlow('choreographed', [], new OrderNotFoundError('c-1')),
    },
    flowOf: (orderId) => Promise.resolve(orderId === 'o-1' ? 'orchestrated' : orderId === 'c-1' ? 'choreographed' : undefined),
    recordOf: () => Promise.resolve({ status: 'confirmed', reason: null, total: { amountCents: 1200, currency: 'EUR' } }),
    vaultPaymentToken: () => Promise.reject(new Error('no order is placed here')),
    sealPersonalData: () => Promise.reject(new Error('no order is placed here')),
  });

  it('is read from the orders context’s record, ended', async () => {
    expect(await flows.status('o-1')).toEqual({
      orderId: 'o-1',
      flow: 'orchestrated',
      status: 'confirmed',
      reason: null,
      total: { amountCents: 1200, currency: 'EUR' },
      step: 'done',
      notified: null,
    });
  });

  it('refuses a command as a conflict with its recorded status, saying why, not as an order that does not exist', async () => {
    const refused = await flows.command('o-1', 'cancel').catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(OrderStateConflictError);
    expect((refused as Error).message).toBe(
      'order o-1 is confirmed: cancel is not allowed: its saga ended longer ago than Temporal keeps a closed workflow (the namespace retention)',
    );
  });

  it('leaves an order nobody knows, and a choreographed one the flow does not find, not found', async () => {
    await expect(flows.command('nobody', 'cancel')).rejects.toBeInstanceOf(OrderNotFoundError);
    await expect(flows.status('c-1')).rejects.toBeInstanceOf(OrderNotFoundError);
  });
});

describe('the API over the flows port', () => {
  // No servers here: the API verifies tokens against a key pair made on the spot, as it would the
  // keys an issuer publishes, and the test signs its own.
  const issuer = 'https://issuer.test';
  const audience = 'urn:order-saga:api';
  const keyPair = generateKeyPair('ES256');
  const operatorToken = async () =>
    new SignJWT({ roles: ['operator'] })
      .setProtectedHeader({ alg: 'ES256', kid: 'test' })
      .setSubject('operator-1')
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign((await keyPair).privateKey);

  /** The API over flows that fail every read and command of an orchestrated order with `failure`. */
  async function apiFailingWith(failure: Error) {
    const calls: string[] = [];
    const flows = createOrderRouter({
      flows: { orchestrated: recordingFlow('orchestrated', calls, failure), choreographed: recordingFlow('choreographed', calls, failure) },
      flowOf: () => Promise.resolve('orchestrated'),
      vaultPaymentToken: () => Promise.reject(new Error('no order is placed here')),
      sealPersonalData: () => Promise.reject(new Error('no order is placed here')),
    });
    const keys = createLocalJWKSet({ keys: [{ ...(await exportJWK((await keyPair).publicKey)), kid: 'test', alg: 'ES256' }] });
    // No route below reaches PostgreSQL (an operator may read any order, so none looks up its owner): the pool is never used.
    return buildApiApp({
      pool: {} as never,
      flows,
      temporalUiUrl: 'http://localhost:8233',
      namespace: 'default',
      readiness: [],
      auth: jwksTokenVerifier({ issuer, audience, keys }),
    });
  }

  it.each([
    ['the order has no saga', 404, 'ORDER_NOT_FOUND', new OrderNotFoundError('o-1')],
    ['Temporal is unreachable', 503, 'DEPENDENCY_UNAVAILABLE', new FlowUnavailableError(false, 'Temporal is unreachable, could not query the saga', undefined)],
    ['Temporal did not answer in time', 504, 'DEPENDENCY_TIMEOUT', new FlowUnavailableError(true, 'Temporal did not query the saga within 5000 ms', undefined)],
    ['Temporal failed otherwise', 500, 'INTERNAL', new Error('13 INTERNAL: boom')],
  ])('answers a live read and a command when %s with %i %s: only a missing saga is ORDER_NOT_FOUND', async (_case, statusCode, code, failure) => {
    const api = await apiFailingWith(failure);
    try {
      for (const request of [
        { method: 'GET' as const, url: '/orders/o-1?source=workflow' },
        { method: 'POST' as const, url: '/orders/o-1/cancel' },
      ]) {
        const res = await api.inject({ ...request, headers: { authorization: `Bearer ${await operatorToken()}` } });
        expect(res.statusCode).toBe(statusCode);
        expect(res.json()).toMatchObject({ statusCode, code });
      }
    } finally {
      await api.close();
    }
  });
});
