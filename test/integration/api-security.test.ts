import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApiPool } from '../../src/api/api-pool.ts';
import { buildApiApp, type ApiDeps } from '../../src/api/app.ts';
import { OrderSagaClient } from '../../src/orchestration/order-saga-client.ts';
import { migrateAll } from '../../src/platform/migrations.ts';
import { wireOrderFlows } from '../../src/workers/order-flows.ts';
import { signedIn, testAuth } from './helpers/auth.ts';
import { testVault } from './helpers/vault.ts';
import '../setup/servers.ts';

type Api = Awaited<ReturnType<typeof buildApiApp>>;
type Problem = { statusCode: number; code: string; error: string; message: string };

const shop = 'https://shop.example.com';
const preflight = (origin: string) => ({
  method: 'OPTIONS' as const,
  url: '/orders',
  headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, idempotency-key' },
});

describe('the API against browsers and abusive clients', () => {
  const servers = inject('servers');
  const { verifier, tokens } = testAuth(servers);
  let pool: pg.Pool;
  let connection: Connection;
  const apis: Api[] = [];
  const buildApp = async (security: ApiDeps['security']) => {
    const sagas = new OrderSagaClient(new Client({ connection, namespace: servers.temporalNamespace }));
    const api = await buildApiApp({
      pool,
      flows: wireOrderFlows({ pool, sagas, vault: testVault }),
      temporalUiUrl: servers.temporalUiUrl,
      namespace: 'default',
      readiness: [],
      security,
      auth: verifier,
    });
    apis.push(api);
    return api;
  };
  // Requests without an Authorization header of their own go as the default caller (helpers/auth.ts).
  const build = async (security: ApiDeps['security']) => signedIn(await buildApp(security), tokens);

  beforeAll(async () => {
    await migrateAll(servers.databaseUrl);
    pool = createApiPool(servers.databaseUrl, 2);
    // Lazy: these tests read the read model and never start a saga.
    connection = Connection.lazy({ address: servers.temporalAddress });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(apis.map((api) => api.close()));
    await connection?.close();
    await pool?.end();
  });

  it('answers with security headers, on an order read and on an error alike', async () => {
    const api = await build({});
    for (const url of ['/orders?limit=1', '/orders/no-such-order']) {
      const res = await api.inject({ method: 'GET', url });
      expect(res.headers).toMatchObject({
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'SAMEORIGIN',
        'referrer-policy': 'no-referrer',
        'strict-transport-security': expect.stringContaining('max-age=') as unknown,
        'content-security-policy': expect.stringContaining("default-src 'self'") as unknown,
      });
    }
  });

  it('serves Swagger UI under a policy that does not upgrade its scripts to https, which a plain-HTTP server cannot serve', async () => {
    const api = await build({});
    const docs = await api.inject({ method: 'GET', url: '/docs' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toContain('text/html');
    expect(docs.headers['content-security-policy']).toContain("script-src 'self'");
    expect(docs.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
  });

  it('lets no other origin read its answers when no origin is configured', async () => {
    const api = await build({});
    const res = await api.inject(preflight(shop));
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const read = await api.inject({ method: 'GET', url: '/orders?limit=1', headers: { origin: shop } });
    expect(read.statusCode).toBe(200);
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows a preflight from a configured origin, and from no other', async () => {
    const api = await build({ corsOrigins: [shop] });
    const allowed = await api.inject(preflight(shop));
    expect(allowed.statusCode).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe(shop);
    const other = await api.inject(preflight('https://evil.example.com'));
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('still answers an unknown path 404 and a wrong method 405, though the CORS plugin answers OPTIONS on every path', async () => {
    const api = await build({ corsOrigins: [shop] });
    const unknown = await api.inject({ method: 'GET', url: '/no-such-route' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json<Problem>().code).toBe('ROUTE_NOT_FOUND');
    const wrongMethod = await api.inject({ method: 'DELETE', url: '/orders' });
    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers.allow).toBe('GET, HEAD, POST');
  });

  it('answers 429 RATE_LIMITED with Retry-After once a caller passes its limit, while probes and metrics stay unlimited', async () => {
    const api = await build({ rateLimitPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect((await api.inject({ method: 'GET', url: '/orders?limit=1' })).statusCode).toBe(200);
    const limited = await api.inject({ method: 'GET', url: '/orders?limit=1' });
    expect(limited.statusCode).toBe(429);
    expect(limited.json<Problem>()).toEqual({
      statusCode: 429,
      code: 'RATE_LIMITED',
      error: 'Too Many Requests',
      message: expect.stringMatching(/^more than 3 requests a minute from this caller: retry in /) as unknown,
    });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    for (const url of ['/healthz', '/readyz', '/metrics']) {
      for (let i = 0; i < 5; i++) expect((await api.inject({ method: 'GET', url })).statusCode, url).toBe(200);
    }
    // The limit is per caller: the same operator from another address is still over it.
    expect((await api.inject({ method: 'GET', url: '/orders?limit=1', remoteAddress: '127.0.0.2' })).statusCode).toBe(429);
  });

  it('gives each customer its own budget, though they call from one address', async () => {
    const api = await build({ rateLimitPerMinute: 3 });
    const asCustomer = async (customerId: string) =>
      api.inject({ method: 'GET', url: `/orders/${randomUUID()}`, headers: await tokens.headers({ role: 'customer', customerId }) });
    const [first, second] = [`limit-${randomUUID()}`, `limit-${randomUUID()}`];
    // Another customer's order, or none: 404 either way, and counted.
    for (let i = 0; i < 3; i++) expect((await asCustomer(first)).statusCode).toBe(404);
    expect((await asCustomer(first)).statusCode).toBe(429);
    expect((await asCustomer(second)).statusCode).toBe(404);
  });

  it('counts requests without a token by their address, before answering them 401', async () => {
    const api = await buildApp({ rateLimitPerMinute: 3 });
    const anonymous = (remoteAddress: string) => api.inject({ method: 'GET', url: '/orders?limit=1', remoteAddress });
    for (let i = 0; i < 3; i++) expect((await anonymous('127.0.0.3')).statusCode).toBe(401);
    // Refused requests count too: otherwise a client without a token could call (and probe tokens) without limit.
    expect((await anonymous('127.0.0.3')).json<Problem>()).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
    expect((await anonymous('127.0.0.4')).statusCode).toBe(401);
    // A caller with a token from that address has a budget of its own.
    const operator = await tokens.headers({ role: 'operator' });
    expect((await api.inject({ method: 'GET', url: '/orders?limit=1', headers: operator, remoteAddress: '127.0.0.3' })).statusCode).toBe(200);
  });
});
