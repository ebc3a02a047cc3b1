/**
 * Issue 16, item 1: every route requires a valid token and enforces its role, tested per route and
 * role against the real flows and the suite's real identity provider; what each kind of bad token
 * is answered; the identity provider being unreachable; what the OpenAPI document declares.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InjectOptions } from 'fastify';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, importJWK, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../infra/stack/ports.ts';
import { buildApiApp } from '../../src/api/app.ts';
import { jwksTokenVerifier, type TokenVerifier } from '../../src/api/auth.ts';
import { createLocalIdentityProvider, ensureIdentityState, type IdentityState } from '../../src/identity/local-identity-provider.ts';
import { AccessTokens, apiAudience, localClientIds, readClientsFile, type TokenSubject } from '../../src/platform/access-tokens.ts';
import { AesGcmPayloadCodec } from '../../src/platform/payload-codec.ts';
import { readModelQueries } from '../../src/projections/read-model-queries.ts';
import { wireOrderFlows } from '../../src/workers/order-flows.ts';
import { testAuth } from './helpers/auth.ts';
import { eventually } from './helpers/choreography-scenarios.ts';
import { startFullRuntime, type FullRuntime } from './helpers/full-runtime.ts';
import { testVault } from './helpers/vault.ts';
import '../setup/servers.ts';

type Api = Awaited<ReturnType<typeof buildApiApp>>;
type Problem = { statusCode: number; code: string; error: string; message: string };
type Flow = 'orchestrated' | 'choreographed';

const servers = inject('servers');
const auth = testAuth(servers);

// One runtime for the file: both flows, the projector, and the API's dependencies. The APIs under
// test are built over it (not the runtime's own API, whose inject signs every request in).
let runtime: FullRuntime;
const apis: Api[] = [];
const buildApi = async (verifier: TokenVerifier, codecEndpoint?: Parameters<typeof buildApiApp>[0]['codecEndpoint']) => {
  const api = await buildApiApp({
    auth: verifier,
    pool: runtime.harness.pool,
    flows: wireOrderFlows({ pool: runtime.harness.pool, sagas: runtime.orchestrated.sagas, vault: testVault }),
    temporalUiUrl: 'http://localhost:8233',
    namespace: 'default',
    readiness: [],
    ...(codecEndpoint ? { codecEndpoint } : {}),
  });
  apis.push(api);
  return api;
};

beforeAll(async () => {
  runtime = await startFullRuntime(servers);
}, 180_000);

afterAll(async () => {
  await Promise.all(apis.map((api) => api.close()));
  await runtime?.close();
});

/** Who sends a request: relative to the customer the request is about (the order's, or the customer an order is placed for). */
const callers = ['nobody', 'the customer', 'another customer', 'an operator'] as const;
type Caller = (typeof callers)[number];

/**
 * The matrix: what each route answers each caller. "the customer" is the order's customer (for
 * POST /orders: places an order for itself), "another customer" a customer with a token for some
 * other customer (for POST /orders: places one for the customer). A customer's reads and cancel
 * of another's order are 404, as for an order that does not exist, so that ids cannot be probed.
 */
// prettier-ignore
const matrix = [
  // route                                nobody  the customer  another customer  an operator
  ['POST /orders',                          401,    202,          403,              403],
  ['GET /orders/:id',                       401,    200,          404,              200],
  ['GET /orders/:id?source=workflow',       401,    200,          404,              200],
  ['GET /orders/:id/events',                401,    200,          404,              200],
  ['GET /orders',                           401,    403,          403,              200],
  ['POST /orders/:id/cancel',               401,    202,          404,              202],
  ['POST /orders/:id/approve',              401,    403,          403,              202],
  ['POST /orders/:id/reject',               401,    403,          403,              202],
  ['POST /codec/decode',                    401,    403,          403,              200],
  ['DELETE /customers/:id/personal-data',   401,    403,          403,              200],
  ['GET /catalog',                          401,    200,          200,              200],
  ['GET /operations/backlog',               401,    403,          403,              200],
] as const;
type Route = (typeof matrix)[number][0];

const codeOf: Record<number, string> = { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 404: 'ORDER_NOT_FOUND' };
/** Routes whose answer does not depend on an order's flow: run once, not per flow. */
const flowless = new Set<Route>(['GET /orders', 'POST /codec/decode', 'DELETE /customers/:id/personal-data', 'GET /catalog', 'GET /operations/backlog']);
/** Commands change the order: the ones a caller may send each get an order of their own. */
const commands = new Set<Route>(['POST /orders/:id/cancel', 'POST /orders/:id/approve', 'POST /orders/:id/reject']);

const cells = (['orchestrated', 'choreographed'] as const).flatMap((flow) =>
  matrix
    .filter(([route]) => flow === 'orchestrated' || !flowless.has(route))
    .flatMap(([route, ...answers]) =>
      callers.map((caller, i) => {
        // A choreographed order has no workflow to read live: once let through, the read is a 400 saying so.
        const answer = answers[i]!;
        const expected = answer < 300 && route === 'GET /orders/:id?source=workflow' && flow === 'choreographed' ? 400 : answer;
        return [route, caller, flowless.has(route) ? 'any' : flow, expected] as const;
      }),
    ),
);

/** An order of 1,499.00 USD, which waits for review (until an operator answers, or 24 h): a state every command applies to. */
const reviewedOrder = (customerId: string, flow: Flow) => ({
  customerId,
  email: 'access@example.com',
  items: [{ sku: 'LT-004', quantity: 1 }],
  paymentToken: 'tok_approve',
  flow,
});

describe('route access by role, against the real flows and identity provider', () => {
  let api: Api;
  const customer = `access-${randomUUID().slice(0, 8)}`;
  const another = `access-other-${randomUUID().slice(0, 8)}`;
  /** The order each cell acts on: a shared one per flow, and one of its own for each command a caller may send. */
  const orders = new Map<string, string>();
  const cellKey = (flow: string, route: Route, caller: Caller) => `${flow} ${route} ${caller}`;

  const subjectOf = (caller: Caller): TokenSubject | undefined =>
    caller === 'nobody'
      ? undefined
      : caller === 'an operator'
        ? { role: 'operator' }
        : { role: 'customer', customerId: caller === 'the customer' ? customer : another };
  const send = async (subject: TokenSubject | undefined, options: InjectOptions) =>
    api.inject({ ...options, headers: { ...options.headers, ...(subject ? await auth.tokens.headers(subject) : {}) } });

  /**
   * Places an order of the customer straight into its flow, not through the API under test, so
   * that the orders the matrix acts on do not depend on the access rules it checks.
   */
  const placeForReview = async (flow: Flow) => {
    const orderId = randomUUID();
    const { email, items, paymentToken } = reviewedOrder(customer, flow);
    await wireOrderFlows({ pool: runtime.harness.pool, sagas: runtime.orchestrated.sagas, vault: testVault }).place(
      flow,
      { orderId, customerId: customer, email, items, paymentToken },
      orderId,
    );
    // The owner a customer's access is checked against is the read model's.
    const readModel = readModelQueries(runtime.harness.pool);
    await eventually(`order ${orderId} awaiting review in the read model`, async () => (await readModel.orderView(orderId))?.status === 'awaiting_review');
    return orderId;
  };

  const requestOf = (route: Route, flow: string, orderId: string): InjectOptions => {
    const [method, path] = route.split(' ') as ['GET' | 'POST' | 'DELETE', string];
    if (route === 'POST /orders')
      return {
        method,
        url: path,
        headers: { 'idempotency-key': randomUUID() },
        payload: reviewedOrder(customer, flow === 'any' ? 'orchestrated' : (flow as Flow)),
      };
    if (route === 'POST /codec/decode') return { method, url: path, payload: { payloads: [] } };
    // A customer of its own: the erasure an operator may send must not touch the matrix's customer.
    if (route === 'DELETE /customers/:id/personal-data') return { method, url: path.replace(':id', `${customer}-erasable`) };
    return { method, url: path.replace(':id', orderId) };
  };

  beforeAll(async () => {
    api = await buildApi(auth.verifier, {
      codec: new AesGcmPayloadCodec([{ id: 'access-test', key: randomBytes(32) }]),
      uiOrigin: 'http://localhost:8233',
    });
    const needed: [string, Flow][] = [
      ['orchestrated shared', 'orchestrated'],
      ['choreographed shared', 'choreographed'],
      ...cells
        .filter(([route, , , expected]) => commands.has(route) && expected < 300)
        .map(([route, caller, flow]) => [cellKey(flow, route, caller), flow as Flow] as [string, Flow]),
    ];
    await Promise.all(needed.map(async ([key, flow]) => orders.set(key, await placeForReview(flow))));
  }, 180_000);

  it.each(cells)('%s as %s, %s flow: %i', async (route, caller, flow, expected) => {
    const orderId = orders.get(cellKey(flow, route, caller)) ?? orders.get(`${flow} shared`) ?? '';
    const res = await send(subjectOf(caller), requestOf(route, flow, orderId));
    expect({ status: res.statusCode, body: res.json<unknown>() }).toMatchObject({ status: expected });
    if (codeOf[expected]) expect(res.json<Problem>()).toMatchObject({ statusCode: expected, code: codeOf[expected] });
    // Without a token: the challenge that says how to authenticate (RFC 6750).
    if (expected === 401) expect(res.headers['www-authenticate']).toBe('Bearer');
    if (expected === 200 && route.startsWith('GET /orders/:id')) expect(res.json<{ orderId: string }>().orderId).toBe(orderId);
  });

  it('refuses a token of the customers client that asked for no customer, which has no role, on a customer route, saying so', async () => {
    const noCustomer = await rawToken(servers.identity.clientsFile, 'customers', '');
    const res = await api.inject({
      method: 'POST',
      url: '/orders',
      headers: { authorization: `Bearer ${noCustomer}`, 'idempotency-key': randomUUID() },
      payload: reviewedOrder(customer, 'orchestrated'),
    });
    expect(res.json<Problem>()).toEqual({
      statusCode: 403,
      code: 'FORBIDDEN',
      error: 'Forbidden',
      message: 'this route is for the customer role; the token has no role',
    });
  });

  it('answers the probes, /metrics and the OpenAPI document without a token, and with a bad one', async () => {
    for (const authorization of [undefined, 'Bearer not-a-token', 'Basic abc']) {
      for (const url of ['/healthz', '/readyz', '/metrics', '/docs/json', '/docs']) {
        const res = await api.inject({ method: 'GET', url, headers: authorization ? { authorization } : {} });
        expect({ url, authorization, status: res.statusCode }).toEqual({ url, authorization, status: 200 });
      }
    }
  });

  it('declares the bearer scheme in the OpenAPI document, with security and 401/403 on every protected operation and on no public one', async () => {
    const doc = (await api.inject({ method: 'GET', url: '/docs/json' })).json<{
      security?: unknown;
      components: { securitySchemes: Record<string, unknown> };
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
    }>();
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    // Nothing document-wide: the public operations must not inherit a requirement.
    expect(doc.security).toBeUndefined();
    const declared = Object.fromEntries(
      Object.entries(doc.paths).flatMap(([path, operations]) =>
        Object.entries(operations).map(([method, op]) => [
          `${method.toUpperCase()} ${path}`,
          { security: op.security, answers401: '401' in op.responses, answers403: '403' in op.responses },
        ]),
      ),
    );
    const protectedOp = { security: [{ bearerAuth: [] }], answers401: true, answers403: true };
    const publicOp = { security: undefined, answers401: false, answers403: false };
    expect(declared).toEqual({
      'POST /orders': protectedOp,
      'GET /orders': protectedOp,
      'GET /orders/{id}': protectedOp,
      'GET /orders/{id}/events': protectedOp,
      'GET /orders/{id}/stream': protectedOp,
      'POST /orders/{id}/cancel': protectedOp,
      'POST /orders/{id}/approve': protectedOp,
      'POST /orders/{id}/reject': protectedOp,
      'POST /codec/decode': protectedOp,
      'POST /codec/encode': protectedOp,
      'DELETE /customers/{id}/personal-data': protectedOp,
      'GET /catalog': protectedOp,
      'GET /operations/backlog': protectedOp,
      'GET /healthz': publicOp,
      'GET /readyz': publicOp,
      'GET /metrics': publicOp,
    });
  });
});

describe('bad tokens, against an issuer whose signing key the test holds', () => {
  const dir = mkdtempSync(join(tmpdir(), 'api-access-'));
  let server: Server;
  let issuer: string;
  let state: IdentityState;
  let api: Api;
  /** A real operator token of this issuer: its header and claims, which each bad token starts from. */
  let real: { header: { alg: string; kid?: string; typ?: string }; claims: JWTPayload };

  const issuerKey = () => importJWK(state.signingKey, 'ES256');
  const now = () => Math.floor(Date.now() / 1000);
  const resign = (claims: JWTPayload, key: Parameters<SignJWT['sign']>[0], header = real.header) =>
    new SignJWT({ ...real.claims, ...claims }).setProtectedHeader(header).sign(key);
  const list = (authorization: string) => api.inject({ method: 'GET', url: '/orders?limit=1', headers: { authorization } });

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    state = await ensureIdentityState(join(dir, 'provider.json'));
    const callback = createLocalIdentityProvider({ issuer: issuer, state: state }).callback();
    server = createServer((request, response) => void callback(request, response));
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    const secret = (clientId: string) => ({ clientId, clientSecret: state.clientSecrets[clientId] ?? '' });
    const tokens = new AccessTokens({ issuer, audience: apiAudience, operator: secret(localClientIds.operator), customers: secret(localClientIds.customers) });
    const token = await tokens.token({ role: 'operator' });
    real = { header: decodeProtectedHeader(token) as typeof real.header, claims: decodeJwt(token) };
    api = await buildApi(jwksTokenVerifier({ issuer, audience: apiAudience }));
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it("accepts the issuer's own token re-signed with its key, which every bad token below differs from in one way", async () => {
    expect((await list(`Bearer ${await resign({}, await issuerKey())}`)).statusCode).toBe(200);
  });

  it.each<[string, () => string | Promise<string>, string]>([
    ['a Basic header', () => 'Basic b3BlcmF0b3I6c2VjcmV0', 'the Authorization header must be "Bearer <token>"'],
    ['a Bearer header without a token', () => 'Bearer ', 'the Authorization header must be "Bearer <token>"'],
    ['a Bearer header with two tokens', () => 'Bearer a.b.c d.e.f', 'the Authorization header must be "Bearer <token>"'],
    ['a token that is not a JWT', () => 'Bearer not-a-jwt', 'the token is not a valid JWT'],
    [
      'a token with the same claims signed by another key, under the issuer key id',
      async () => `Bearer ${await resign({}, (await generateKeyPair('ES256')).privateKey)}`,
      'the token signature does not verify',
    ],
    [
      'a token with the same claims signed by another key of its own id',
      async () => `Bearer ${await resign({}, (await generateKeyPair('ES256')).privateKey, { ...real.header, kid: 'somebody-else' })}`,
      '', // the message names the issuer: filled in below
    ],
    [
      'a token without an expiry',
      async () => `Bearer ${await resign({ exp: undefined }, await issuerKey())}`,
      "the token's exp claim is not accepted: missing",
    ],
    ['an expired token', async () => `Bearer ${await resign({ iat: now() - 3600, exp: now() - 60 }, await issuerKey())}`, 'the token has expired'],
    [
      'a token for another audience',
      async () => `Bearer ${await resign({ aud: 'urn:another:api' }, await issuerKey())}`,
      "the token's aud claim is not accepted: check_failed",
    ],
    [
      'a token from another issuer',
      async () => `Bearer ${await resign({ iss: 'http://127.0.0.1:1' }, await issuerKey())}`,
      "the token's iss claim is not accepted: check_failed",
    ],
    ['an unsecured token (alg: none)', () => `Bearer ${unsecured(real.claims)}.`, 'the token is signed with an algorithm that is not accepted'],
    [
      // The classic confusion: an HMAC keyed with the issuer's public key, which anyone can fetch.
      'a token signed with HS256 keyed by the issuer public key',
      async () => {
        const { d: _private, ...publicJwk } = state.signingKey;
        return `Bearer ${await resign({}, new TextEncoder().encode(JSON.stringify(publicJwk)), { alg: 'HS256', typ: 'at+jwt' })}`;
      },
      'the token is signed with an algorithm that is not accepted',
    ],
  ])('answers %s with 401 UNAUTHENTICATED saying what is wrong', async (_case, header, message) => {
    const res = await list(await header());
    expect(res.json<Problem>()).toEqual({
      statusCode: 401,
      code: 'UNAUTHENTICATED',
      error: 'Unauthorized',
      message: message || `the token is not signed by a key of ${issuer}`,
    });
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  });
});

describe('an identity provider that cannot be reached', () => {
  it.each([
    ['its discovery document', (closed: string) => ({ issuer: closed })],
    ['its key set', (closed: string) => ({ issuer: servers.identity.issuer, jwksUrl: `${closed}/jwks` })],
  ])('answers 503 AUTH_UNAVAILABLE when %s cannot be fetched, and still answers the probes', async (_what, where) => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const options = where(closed);
    const api = await buildApi(jwksTokenVerifier({ audience: apiAudience, ...options }));
    const res = await api.inject({ method: 'GET', url: '/orders?limit=1', headers: await auth.tokens.headers({ role: 'operator' }) });
    expect(res.json<Problem>()).toEqual({
      statusCode: 503,
      code: 'AUTH_UNAVAILABLE',
      error: 'Service Unavailable',
      message: `the keys of the identity provider ${options.issuer} could not be fetched; try again later`,
    });
    expect((await api.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

/** A token from the clients file's `client`, asking for `scope` as is (AccessTokens always asks for a customer). */
async function rawToken(clientsFile: string, client: 'operator' | 'customers', scope: string): Promise<string> {
  const file = readClientsFile(clientsFile);
  const { clientId, clientSecret } = file[client];
  const discovery = (await (await fetch(`${file.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
  const response = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: file.audience, scope }),
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

/** The header and claims of an unsecured JWT (RFC 7519 §6: `alg: none`), without the empty signature part. */
function unsecured(claims: JWTPayload): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}`;
}
