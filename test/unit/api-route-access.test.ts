import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApiApp } from '../../src/api/app.ts';
import type { Principal, TokenVerifier } from '../../src/api/auth.ts';
import { HttpProblem } from '../../src/api/error-handler.ts';

/**
 * Principals no token of the local identity provider carries (test/integration/api-access.test.ts
 * runs the matrix with its real ones), as an identity provider of a deployment may issue them.
 */
const principals: Record<string, Principal> = {
  'both-roles': { subject: 'staff-1', roles: new Set(['customer', 'operator']), customerId: 'c-1' },
  'customer-without-id': { subject: 'shop-1', roles: new Set(['customer']) },
};
const verifier: TokenVerifier = {
  verify: (token) => {
    const principal = principals[token];
    return principal ? Promise.resolve(principal) : Promise.reject(new HttpProblem(401, 'UNAUTHENTICATED', 'unknown test token'));
  },
};

describe('route access for principals the local identity provider does not issue', () => {
  let api: Awaited<ReturnType<typeof buildApiApp>>;
  const place = (token: string, customerId: string) =>
    api.inject({
      method: 'POST',
      url: '/orders',
      headers: { authorization: `Bearer ${token}`, 'idempotency-key': 'unit-key-0001' },
      payload: { customerId, email: 'ada@example.com', items: [{ sku: 'KB-001', quantity: 1 }], paymentToken: 'tok_approve', flow: 'orchestrated' },
    });

  beforeAll(async () => {
    // The refusals below come before any read or write: the pool and the flows are never used.
    api = await buildApiApp({
      auth: verifier,
      pool: {} as never,
      flows: {} as never,
      temporalUiUrl: 'http://localhost:8233',
      namespace: 'default',
      readiness: [],
    });
  });
  afterAll(() => api?.close());

  it('lets a token with both the customer and the operator role place orders for its own customer only, as POST /orders is a customer route', async () => {
    expect((await place('both-roles', 'c-2')).json()).toEqual({
      statusCode: 403,
      code: 'FORBIDDEN',
      error: 'Forbidden',
      message: 'body/customerId: a customer places orders for itself only (the token is for customer c-1)',
    });
  });

  it('refuses a token with the customer role that names no customer on a customer route', async () => {
    expect((await place('customer-without-id', 'c-1')).json()).toEqual({
      statusCode: 403,
      code: 'FORBIDDEN',
      error: 'Forbidden',
      message: 'the token has the customer role but names no customer',
    });
  });
});
