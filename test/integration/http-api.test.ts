import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { buildApiApp } from '../../src/api/app.ts';
import { orderStatuses } from '../../src/api/schemas.ts';
import { demoCases, formatDemo, runDemo } from '../../src/demo/demo.ts';
import type { ChoreographyHarness } from './helpers/choreography-runtime.ts';
import { testAuth } from './helpers/auth.ts';
import { startFullRuntime, type FullRuntime } from './helpers/full-runtime.ts';
import { eventually } from './helpers/choreography-scenarios.ts';
import { metricValue } from './helpers/metrics.ts';
import type { OrchestratedRuntime } from './helpers/orchestrated-runtime.ts';
import '../setup/servers.ts';

type Api = Awaited<ReturnType<typeof buildApiApp>>;

describe('HTTP API against the real flows', () => {
  let harness: ChoreographyHarness;
  let orchestrated: OrchestratedRuntime;
  let api: Api;
  let runtime: FullRuntime;
  const order = (overrides: Record<string, unknown> = {}) => ({
    customerId: 'http-1',
    email: 'ada@example.com',
    items: [{ sku: 'KB-001', quantity: 1 }],
    paymentToken: 'tok_approve',
    flow: 'orchestrated',
    ...overrides,
  });
  const post = (body: unknown, key: string | undefined = randomUUID()) =>
    api.inject({
      method: 'POST',
      url: '/orders',
      headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });

  // Listening on a real port once, for the tests that need real sockets (inject bypasses Node's HTTP parser).
  let listening: Promise<string> | undefined;
  const baseUrl = () => (listening ??= api.listen({ port: 0, host: '127.0.0.1' }));
  /** Sends `request` as raw bytes and reads the answer until the server closes the connection. */
  const rawExchange = async (request: string) => {
    const { port } = new URL(await baseUrl());
    return new Promise<{ closed: boolean; status: number; headers: Record<string, string>; body: unknown }>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end(Buffer.from(request, 'latin1')));
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', reject);
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const [head = '', body = ''] = text.split('\r\n\r\n', 2);
        const [statusLine = '', ...headerLines] = head.split('\r\n');
        const headers = Object.fromEntries(
          headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
        );
        resolve({ closed: true, status: Number(statusLine.split(' ')[1]), headers, body: body === '' ? undefined : (JSON.parse(body) as unknown) });
      });
    });
  };

  beforeAll(async () => {
    runtime = await startFullRuntime(inject('servers'), {
      readiness: [{ name: 'postgresql', check: async () => void (await harness.pool.query('select 1')) }],
    });
    ({ harness, orchestrated, api } = runtime);
  }, 120_000);

  afterAll(() => runtime?.close());

  it.each(['orchestrated', 'choreographed'])('takes a %s order, and the read model and timeline show it confirmed', async (flow) => {
    const placed = await post(order({ flow }));
    expect(placed.statusCode).toBe(202);
    const { orderId, links } = placed.json<{ orderId: string; links: Record<string, string> }>();
    expect(links.status).toBe(`/orders/${orderId}`);
    expect(Boolean(links.temporalUi)).toBe(flow === 'orchestrated');

    let view: Record<string, unknown> = {};
    await eventually('the order confirmed and notified in the read model', async () => {
      const res = await api.inject({ method: 'GET', url: `/orders/${orderId}` });
      view = res.statusCode === 200 ? res.json() : {};
      return view.status === 'confirmed' && view.notified === true;
    });
    expect(view).toMatchObject({ orderId, flow, status: 'confirmed', reason: null, total: { amountCents: 8900, currency: 'USD' }, source: 'read-model' });
    const timeline = (await api.inject({ method: 'GET', url: `/orders/${orderId}/events` })).json<{ events: { type: string }[] }>();
    expect(timeline.events.map((e) => e.type).sort()).toEqual([
      'inventory.reserved',
      'notification.sent',
      'order.confirmed',
      'order.placed',
      'payment.completed',
    ]);
    const cancel = await api.inject({ method: 'POST', url: `/orders/${orderId}/cancel` });
    expect(cancel.statusCode).toBe(409);
    expect(cancel.json()).toMatchObject({ statusCode: 409, code: 'ORDER_STATE_CONFLICT', error: 'Conflict' });
    const listed = (await api.inject({ method: 'GET', url: `/orders?customerId=http-1&flow=${flow}&status=confirmed` })).json<{
      data: { orderId: string }[];
    }>();
    expect(listed.data.map((o) => o.orderId)).toContain(orderId);
  });

  it('reads an orchestrated order live from its workflow with ?source=workflow', async () => {
    const { orderId } = (await post(order())).json<{ orderId: string }>();
    await orchestrated.sagas.result(orderId);
    const live = (await api.inject({ method: 'GET', url: `/orders/${orderId}?source=workflow` })).json<Record<string, unknown>>();
    expect(live).toMatchObject({ orderId, status: 'confirmed', source: 'workflow' });
  });

  it('answers a live read of a choreographed order with 400 saying it has no workflow, not that it does not exist', async () => {
    const { orderId } = (await post(order({ flow: 'choreographed' }))).json<{ orderId: string }>();
    await eventually('the order in the read model', async () => (await api.inject({ method: 'GET', url: `/orders/${orderId}` })).statusCode === 200);
    const live = await api.inject({ method: 'GET', url: `/orders/${orderId}?source=workflow` });
    expect(live.statusCode).toBe(400);
    expect(live.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining(`order ${orderId} is choreographed: it has no workflow`) as unknown,
    });
  });

  it('answers a repeated Idempotency-Key with the same order and refuses it with another body', async () => {
    const key = `key-${randomUUID()}`;
    const first = await post(order({ flow: 'choreographed' }), key);
    const again = await post(order({ flow: 'choreographed' }), key);
    expect(again.statusCode).toBe(202);
    expect(again.json()).toEqual(first.json());
    const other = await post(order({ flow: 'choreographed', customerId: 'someone-else' }), key);
    expect(other.statusCode).toBe(409);
    expect(other.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    const { orderId } = first.json<{ orderId: string }>();
    const rows = await harness.pool.query('select 1 from orders.orders where order_id = $1', [orderId]);
    expect(rows.rowCount).toBe(1);
  });

  it.each(['orchestrated', 'choreographed'])('takes a %s order retried with its keys in another order and other whitespace as the same order', async (flow) => {
    const key = `key-${randomUUID()}`;
    const quantityFirst = `{"customerId":"http-1","email":"ada@example.com","items":[{"quantity":1,"sku":"KB-001"}],"paymentToken":"tok_approve","flow":"${flow}"}`;
    const first = await post(quantityFirst, key);
    expect(first.statusCode).toBe(202);
    const again = await post(quantityFirst, key);
    expect({ status: again.statusCode, body: again.json<unknown>() }).toEqual({ status: 202, body: first.json<unknown>() });
    const reordered = `{ "flow": "${flow}", "paymentToken": "tok_approve",\n  "items": [ { "sku": "KB-001", "quantity": 1 } ], "email": "ada@example.com", "customerId": "http-1" }`;
    const third = await post(reordered, key);
    expect({ status: third.statusCode, body: third.json<unknown>() }).toEqual({ status: 202, body: first.json<unknown>() });
  });

  it.each([
    ['the customer id', () => post(order({ customerId: 'a\u0000b' })), /body\/customerId/],
    ['the payment token', () => post(order({ paymentToken: 'tok_\u0000' })), /body\/paymentToken/],
    [
      'the payment token of a choreographed order (an unpaired surrogate)',
      () => post(order({ paymentToken: 'tok_\ud800', flow: 'choreographed' })),
      /body\/paymentToken/,
    ],
    ['the customer id (an unpaired surrogate)', () => post(order({ customerId: '\udc00', flow: 'choreographed' })), /body\/customerId/],
    ['the email', () => post(order({ email: 'ada\u0000@example.com' })), /body\/email/],
    ['a SKU', () => post(order({ items: [{ sku: 'KB-\u0000', quantity: 1 }] })), /body\/items\/0\/sku/],
    ['the order id of a read', () => api.inject({ method: 'GET', url: '/orders/a%00b' }), /params\/id/],
    ['the order id of a live read', () => api.inject({ method: 'GET', url: '/orders/a%00b?source=workflow' }), /params\/id/],
    ['the order id of a timeline', () => api.inject({ method: 'GET', url: '/orders/a%00b/events' }), /params\/id/],
    ['the order id of a command', () => api.inject({ method: 'POST', url: '/orders/a%00b/cancel' }), /params\/id/],
    ['the cursor', () => api.inject({ method: 'GET', url: '/orders?cursor=%00' }), /querystring\/cursor/],
    ['the status filter', () => api.inject({ method: 'GET', url: '/orders?status=con%00firmed' }), /querystring\/status/],
    ['the customer filter', () => api.inject({ method: 'GET', url: '/orders?customerId=%00' }), /querystring\/customerId/],
  ])('refuses a NUL character (or an unpaired surrogate) in %s with a 400 that names the field', async (_case, send, field) => {
    const res = await send();
    expect(res.statusCode).toBe(400);
    const body = res.json<{ code: string; message: string }>();
    expect(body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', error: 'Bad Request' });
    expect(body.message).toMatch(field);
  });

  it.each([
    [
      'a control character in a header value',
      'GET /orders HTTP/1.1\r\nHost: localhost\r\nIdempotency-Key: abcdefgh\x01ij\r\n\r\n',
      /header value.*HPE_INVALID_HEADER_TOKEN/,
    ],
    ['a NUL byte in the path', 'GET /ord\x00ers HTTP/1.1\r\nHost: localhost\r\n\r\n', /url.*HPE_INVALID_URL/],
    ['a malformed request line', 'GET /orders HTTP/9\r\nHost: localhost\r\n\r\n', /HPE_/],
  ])('answers a request the HTTP parser refuses (%s) with a 400 in the error shape, then closes the connection', async (_case, request, message) => {
    const res = await rawExchange(request);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(JSON.stringify(res.body)));
    expect(res.body).toMatchObject({ statusCode: 400, code: 'MALFORMED_REQUEST', error: 'Bad Request', message: expect.stringMatching(message) as unknown });
    expect(res.closed).toBe(true);
  });

  it('answers CONNECT with a 405 in the error shape and the methods the path has', async () => {
    const res = await rawExchange('CONNECT /orders HTTP/1.1\r\nHost: localhost\r\n\r\n');
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD, POST');
    expect(res.body).toMatchObject({
      statusCode: 405,
      code: 'METHOD_NOT_ALLOWED',
      error: 'Method Not Allowed',
      message: expect.stringMatching(/CONNECT is not allowed on \/orders/) as unknown,
    });
  });

  it.each([
    ['an unknown status', '/orders?status=bogus', /querystring\/status must be one of pending, reserved, awaiting_review, paid, confirmed, cancelled/],
    ['an unknown flow', '/orders?flow=telepathic', /querystring\/flow must be one of orchestrated, choreographed/],
    ['a cursor that is not base64url', '/orders?cursor=!!!notbase64', /querystring\/cursor/],
    ['an unknown source of an order', '/orders/some-order?source=bogus', /querystring\/source must be one of read-model, workflow/],
    ['a cursor that decodes to no order id', '/orders?cursor=AAAA', /querystring\/cursor is not a cursor this API gave out/],
    ['a cursor that is not UTF-8', '/orders?cursor=_w', /querystring\/cursor is not a cursor this API gave out/],
  ])('refuses a read with %s with a 400 that names the field and what it may be', async (_case, url, message) => {
    const res = await api.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', error: 'Bad Request', message: expect.stringMatching(message) as unknown });
  });

  it('pages through the orders with the cursor it gives out, each order once', async () => {
    const customerId = `pager-${randomUUID()}`;
    const placed = await Promise.all([1, 2, 3].map(async () => (await post(order({ customerId, flow: 'choreographed' }))).json<{ orderId: string }>().orderId));
    await eventually('the three orders in the read model', async () => {
      const res = await api.inject({ method: 'GET', url: `/orders?customerId=${customerId}` });
      return res.json<{ data: unknown[] }>().data.length === 3;
    });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/orders?customerId=${customerId}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await api.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      const page = res.json<{ data: { orderId: string }[]; nextCursor: string | null }>();
      seen.push(...page.data.map((o) => o.orderId));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual([...placed].sort());
  });

  it('answers an order id over 100 characters with a 400 in the error shape', async () => {
    for (const url of [`/orders/${'x'.repeat(101)}`, `/orders/${'x'.repeat(5000)}/events`, `/orders/${'x'.repeat(101)}/cancel`]) {
      const res = await api.inject({ method: url.endsWith('cancel') ? 'POST' : 'GET', url });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        statusCode: 400,
        code: 'VALIDATION_FAILED',
        error: 'Bad Request',
        message: expect.stringMatching(/params\/id/) as unknown,
      });
    }
  });

  it('answers a body that is not JSON with 415', async () => {
    const res = await api.inject({
      method: 'POST',
      url: '/orders',
      headers: { 'content-type': 'text/plain', 'idempotency-key': randomUUID() },
      payload: JSON.stringify(order()),
    });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE', error: 'Unsupported Media Type' });
  });

  it.each([
    ['PUT', '/orders/some-order', 'GET, HEAD'],
    ['TRACE', '/orders', 'GET, HEAD, POST'],
    ['DELETE', '/orders/some-order/cancel', 'POST'],
    ['PATCH', '/readyz', 'GET, HEAD'],
  ])('answers %s on %s, a route without that method, with 405 and the methods it has', async (method, url, allow) => {
    const res = await api.inject({ method: method as 'PUT', url });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe(allow);
    expect(res.json()).toMatchObject({ statusCode: 405, code: 'METHOD_NOT_ALLOWED', error: 'Method Not Allowed' });
  });

  it('describes every error it can answer in its OpenAPI document, in the one error shape', async () => {
    const spec = (await api.inject({ method: 'GET', url: '/docs/json' })).json<{
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
    }>();
    const statuses = (path: string, method: string) => Object.keys(spec.paths[path]![method]!.responses);
    expect(statuses('/orders', 'post')).toEqual(expect.arrayContaining(['202', '400', '409', '413', '415', '422', '503', '504']));
    for (const [path, method] of [
      ['/orders/{id}', 'get'],
      ['/orders/{id}/events', 'get'],
      ['/orders/{id}/cancel', 'post'],
    ] as const) {
      expect(statuses(path, method)).toEqual(expect.arrayContaining(['400', '404', '503', '504']));
    }
    expect(statuses('/orders', 'get')).toEqual(expect.arrayContaining(['400', '503', '504']));
    const listParameters = (spec.paths['/orders']!.get as unknown as { parameters: { name: string; schema: Record<string, unknown> }[] }).parameters;
    expect(listParameters.find((p) => p.name === 'status')?.schema).toMatchObject({ enum: [...orderStatuses] });
    expect(listParameters.find((p) => p.name === 'flow')?.schema).toMatchObject({ enum: ['orchestrated', 'choreographed'] });
    expect(statuses('/readyz', 'get')).toEqual(expect.arrayContaining(['200', '503']));
    const unknownSku = spec.paths['/orders']!.post!.responses['422']!.content!['application/json']!.schema;
    expect(JSON.stringify(unknownSku)).toMatch(/statusCode/);
    const raw = JSON.stringify(spec);
    const components = (spec as unknown as { components: { schemas: Record<string, unknown>; responses: Record<string, unknown> } }).components;
    for (const [, ref] of raw.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) expect(Object.keys(components.schemas)).toContain(ref);
    expect(components.responses).toHaveProperty('MethodNotAllowed');
  });

  it.each([
    ['malformed JSON', () => post('{"customerId": '), 400, 'INVALID_JSON', /not valid JSON/],
    ['a wrong type', () => post(order({ items: [{ sku: 'KB-001', quantity: '2' }] })), 400, 'VALIDATION_FAILED', /body\/items\/0\/quantity must be integer/],
    ['an unknown field', () => post(order({ price: 1 })), 400, 'VALIDATION_FAILED', /body\/price is not a known field/],
    ['a zero quantity', () => post(order({ items: [{ sku: 'KB-001', quantity: 0 }] })), 400, 'VALIDATION_FAILED', /body\/items\/0\/quantity must be >= 1/],
    ['a negative quantity', () => post(order({ items: [{ sku: 'KB-001', quantity: -3 }] })), 400, 'VALIDATION_FAILED', /quantity must be >= 1/],
    ['an unknown SKU', () => post(order({ items: [{ sku: 'NOPE-9', quantity: 1 }] })), 422, 'UNKNOWN_SKU', /unknown SKU NOPE-9/],
    [
      'too many items',
      () => post(order({ items: Array.from({ length: 21 }, () => ({ sku: 'KB-001', quantity: 1 })) })),
      400,
      'VALIDATION_FAILED',
      /body\/items must NOT have more than 20 items/,
    ],
    ['a missing field', () => post({ ...order(), email: undefined }), 400, 'VALIDATION_FAILED', /body\/email is required/],
    ['a bad email', () => post(order({ email: 'not-an-email' })), 400, 'VALIDATION_FAILED', /body\/email must match format "email"/],
    ['an unknown flow', () => post(order({ flow: 'telepathic' })), 400, 'VALIDATION_FAILED', /body\/flow/],
    ['a body over 64 KiB', () => post(order({ customerId: 'x'.repeat(70_000) })), 413, 'BODY_TOO_LARGE', /64 KiB/],
    ['a missing Idempotency-Key', () => post(order(), ''), 400, 'VALIDATION_FAILED', /headers\/idempotency-key is required/],
    ['a malformed Idempotency-Key', () => post(order(), 'bad key!'), 400, 'VALIDATION_FAILED', /headers\/idempotency-key must match pattern/],
  ])('answers %s with a 4xx that names the problem', async (_case, send, status, code, message) => {
    const res = await send();
    expect(res.statusCode).toBe(status);
    const body = res.json<{ statusCode: number; code: string; error: string; message: string }>();
    expect(body).toMatchObject({ statusCode: status, code });
    expect(body.message).toMatch(message);
    expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/);
  });

  it('runs the demo: every kind of order in both flows ends as expected', async () => {
    const url = await baseUrl();
    const outcomes = await runDemo(url, testAuth(inject('servers')).tokens);
    const table = formatDemo(outcomes);
    const expected: Record<string, [string, string | null]> = {
      'approved card': ['confirmed', null],
      'declined card': ['cancelled', 'payment_declined'],
      'out of stock': ['cancelled', 'out_of_stock'],
      'gateway fails 3 times': ['confirmed', null],
      'review approved': ['confirmed', null],
      'review rejected': ['cancelled', 'review_rejected'],
      'cancelled in review': ['cancelled', 'customer_cancelled'],
    };
    expect(outcomes).toHaveLength(demoCases.length * 2);
    for (const o of outcomes)
      expect({ flow: o.flow, name: o.name, status: o.status, reason: o.reason }).toEqual({
        flow: o.flow,
        name: o.name,
        status: expected[o.name]![0],
        reason: expected[o.name]![1],
      });
    expect(table.split('\n')).toHaveLength(demoCases.length * 2 + 1);
  }, 120_000);

  it('answers unknown orders and routes with 404 in the same shape', async () => {
    expect((await api.inject({ method: 'GET', url: `/orders/${randomUUID()}` })).json()).toMatchObject({ statusCode: 404, code: 'ORDER_NOT_FOUND' });
    expect((await api.inject({ method: 'POST', url: `/orders/${randomUUID()}/approve` })).json()).toMatchObject({ statusCode: 404, code: 'ORDER_NOT_FOUND' });
    expect((await api.inject({ method: 'GET', url: '/nowhere' })).json()).toMatchObject({ statusCode: 404, code: 'ROUTE_NOT_FOUND' });
  });

  it('publishes an OpenAPI document listing every route, serves Swagger UI, health, readiness and metrics', async () => {
    const spec = (await api.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, Record<string, unknown>> }>();
    expect(Object.keys(spec.paths).sort()).toEqual([
      '/catalog',
      '/customers/{id}/personal-data',
      '/dead-letters',
      '/dead-letters/{group}/replay',
      '/healthz',
      '/metrics',
      '/operations/backlog',
      '/orders',
      '/orders/{id}',
      '/orders/{id}/approve',
      '/orders/{id}/cancel',
      '/orders/{id}/events',
      '/orders/{id}/reject',
      '/orders/{id}/stream',
      '/readyz',
    ]);
    expect((await api.inject({ method: 'GET', url: '/docs/' })).statusCode).toBe(200);
    expect((await api.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await api.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready', checks: ['postgresql'] });
    const metrics = (await api.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metricValue(metrics, 'http_request_duration_seconds_count', { method: 'POST', route: '/orders', status: '202' })).toBeGreaterThan(0);
  });
});
