import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import ajvFormats from 'ajv-formats';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type pg from 'pg';
import { Counter, Histogram } from 'prom-client';
import { Type } from 'typebox';
import { cancelOrder, decideReview, placeChoreographedOrder } from '../choreography/order-commands.ts';
import { canonicalJson } from '../domain/canonical-json.ts';
import { createMetricsRegistry } from '../observability/metrics.ts';
import type { OrderSagaClient } from '../orchestration/order-saga-client.ts';
import { orderWorkflowId } from '../workflows/definitions.ts';
import { answerConnect, clientErrorHandler } from './client-errors.ts';
import { decodeListCursor, encodeListCursor } from './list-cursor.ts';
import { HttpProblem, allowedMethods, frameworkErrors, installErrorHandler, problem } from './error-handler.ts';
import type { ReadinessCheck } from './readiness.ts';
import { IdempotencyHeaders, ListQuery, OrderIdParams, OrderViewResponse, PlaceOrderBody, PlaceOrderResponse, Problem, TimelineResponse, storableText } from './schemas.ts';

/** What the API needs; built by src/workers/api.ts. */
export interface ApiDeps {
  /** PostgreSQL; the process gives it deadlines (`createApiPool`) so that no request waits on a hung database. */
  pool: pg.Pool;
  sagas: OrderSagaClient;
  /** Base URL of the Temporal Web UI, for the links of orchestrated orders. */
  temporalUiUrl: string;
  namespace: string;
  /** What `/readyz` checks (see `dependencyChecks`): each rejects when its dependency is not usable. */
  readiness: ReadinessCheck[];
  /**
   * How long `/readyz` waits for each check.
   * @default 2000
   */
  readinessTimeoutMs?: number;
  /** Request and application logs; none when omitted (tests). */
  logger?: FastifyBaseLogger;
}

/** The header that carries an order's journey id from the client through both flows. */
export const correlationHeader = 'x-correlation-id';
const usableCorrelationId = /^[A-Za-z0-9._:-]{1,128}$/;

// The errors each kind of route can answer, all in the one shape. 503/504: a dependency
// (PostgreSQL, Temporal or its worker) is unreachable or did not answer in time.
const failures = { 400: Problem, 500: Problem, 503: Problem, 504: Problem };
const readFailures = { ...failures, 404: Problem };
const commandFailures = { ...failures, 404: Problem, 409: Problem, 413: Problem, 415: Problem };
const placeFailures = { ...failures, 409: Problem, 413: Problem, 415: Problem, 422: Problem };
// ajv-formats is CommonJS: under ESM its plugin may sit on `.default`.
const addFormats = (ajvFormats as unknown as { default?: typeof ajvFormats }).default ?? ajvFormats;

interface ViewRow {
  order_id: string;
  flow: string;
  status: string;
  reason: string | null;
  customer_id: string | null;
  total_cents: number | null;
  currency: string | null;
  payment_status: string | null;
  stock_status: string | null;
  notified: boolean;
  updated_at: Date;
}

/**
 * The order API (Fastify): orders in, read model out, commands routed to the flow that runs the
 * order. Every request and response is validated against its schema; the OpenAPI document is
 * generated from them and served with Swagger UI at /docs.
 */
export async function buildApiApp(deps: ApiDeps) {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    // The request id is the correlation id: the caller's X-Correlation-Id when it is usable, else a
    // new one. Every log line of the request carries it, and so does the order's whole journey.
    genReqId: (request) => {
      const given = request.headers[correlationHeader];
      return typeof given === 'string' && usableCorrelationId.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: 'correlationId' }),
    bodyLimit: 64 * 1024,
    // Long enough for any id of 100 characters, percent-encoded (the schema checks the 100); a
    // longer path parameter is answered by frameworkErrors, in the error shape.
    routerOptions: { maxParamLength: 1200 },
    frameworkErrors,
    // What Node's HTTP parser refuses before routing (a control character in a header, a NUL in
    // the path) is answered in the error shape too, not with Fastify's code-less default.
    clientErrorHandler,
    // Strict: unknown fields and wrong types are errors, never silently dropped or converted.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, formats: { [storableText.format]: storableText.validate } }, plugins: [addFormats as never] },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // A span per request (a no-op unless the process started tracing): the root of an order's trace.
  const operational = new Set(['/metrics', '/healthz', '/readyz']);
  const httpTracing = new FastifyOtelInstrumentation({ instrumentHooks: false, ignorePaths: ({ url }) => operational.has(url) || url.startsWith('/docs') });
  await app.register(httpTracing.plugin());

  installErrorHandler(app);
  // Node gives CONNECT to this event, never to the router, and drops the connection when nothing listens.
  app.server.on('connect', (request: IncomingMessage, socket: Duplex) => answerConnect(request, socket, (path) => allowedMethods(app, path)));
  // JSON only: without this, Fastify's text/plain parser hands the route a string (a 400 that
  // blames the body) instead of the 415 an unsupported media type is.
  app.removeContentTypeParser('text/plain');
  const metrics = createMetricsRegistry('api');
  const requestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests by route and status, and how long they took',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [metrics],
  });
  const ordersPlaced = new Counter({ name: 'orders_placed_total', help: 'Orders accepted by POST /orders (a repeated Idempotency-Key counts once)', labelNames: ['flow'], registers: [metrics] });
  app.addHook('onSend', (request, reply, payload, done) => {
    void reply.header(correlationHeader, request.id);
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    requestDuration.observe({ method: request.method, route: request.routeOptions.url ?? 'unknown', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });

  await app.register(swagger, {
    // Shared schemas are named by their $id in the document (`Problem`), not `def-0`.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transformObject: (document) => ('openapiObject' in document ? withOrderLinks(document.openapiObject) : document.swaggerObject),
    openapi: {
      info: {
        title: 'order-saga API',
        version: '1.0.0',
        description:
          'One order saga, orchestrated by Temporal or choreographed over Kafka. Every error is a Problem. ' +
          'A method a path does not have, CONNECT included, is answered 405 (a Problem) with an Allow header listing the ones it has. ' +
          "A request Node's HTTP parser refuses before routing (a control character in a header, a NUL byte in the path) is answered 400 MALFORMED_REQUEST, " +
          'headers over 16 KiB 431 HEADERS_TOO_LARGE, a request not received in time 408 REQUEST_TIMEOUT, all Problems, and the connection is closed.',
      },
      components: { responses: { MethodNotAllowed: { description: 'the path has no such method; Allow lists the ones it has', headers: { Allow: { schema: { type: 'string' } } }, content: { 'application/json': { schema: { $ref: '#/components/schemas/Problem' } } } } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.addSchema(Problem);

  const links = (orderId: string, flow: string) => ({
    status: `/orders/${orderId}`,
    events: `/orders/${orderId}/events`,
    ...(flow === 'orchestrated' ? { temporalUi: `${deps.temporalUiUrl}/namespaces/${deps.namespace}/workflows/${orderWorkflowId(orderId)}` } : {}),
  });

  app.post(
    '/orders',
    {
      schema: { operationId: 'placeOrder', summary: 'Place an order in either flow', body: PlaceOrderBody, headers: IdempotencyHeaders, response: { 202: PlaceOrderResponse, ...placeFailures } },
      config: { ifUnavailable: 'the order may or may not have been accepted; retry with the same Idempotency-Key, which never places it twice' },
    },
    async (request, reply) => {
      const body = request.body;
      const key = request.headers['idempotency-key'];
      // The same content is the same request, whatever its key order or whitespace.
      const hash = createHash('sha256').update(canonicalJson(body)).digest('hex');
      const skus = [...new Set(body.items.map((i) => i.sku))];
      const known = await deps.pool.query<{ sku: string }>('select sku from inventory.catalog where sku = any($1)', [skus]);
      const unknown = skus.filter((sku) => !known.rows.some((r) => r.sku === sku));
      if (unknown.length > 0) throw new HttpProblem(422, 'UNKNOWN_SKU', `body/items: unknown SKU ${unknown.join(', ')}`);

      // The key is stored with its order id before anything starts: a retry, or a concurrent
      // duplicate, gets the same order id, and starting that order again is idempotent.
      const orderId = randomUUID();
      const fresh = { orderId, flow: body.flow, links: links(orderId, body.flow) };
      await deps.pool.query('insert into api.idempotency_keys (idempotency_key, request_hash, status_code, response) values ($1, $2, 202, $3) on conflict do nothing', [key, hash, JSON.stringify(fresh)]);
      const stored = (await deps.pool.query<{ request_hash: string; response: typeof fresh }>('select request_hash, response from api.idempotency_keys where idempotency_key = $1', [key])).rows[0]!;
      if (stored.request_hash !== hash) throw new HttpProblem(409, 'IDEMPOTENCY_KEY_REUSED', `Idempotency-Key ${key} was already used with a different body`);
      const { orderId: id } = stored.response;
      const order = { orderId: id, customerId: body.customerId, email: body.email, items: body.items, paymentToken: body.paymentToken };
      if (body.flow === 'orchestrated') await deps.sagas.start(order, request.id);
      else await placeChoreographedOrder(deps.pool, order, request.id);
      if (id === orderId) ordersPlaced.inc({ flow: body.flow });
      request.log.info({ orderId: id, flow: body.flow, replayed: id !== orderId }, 'order accepted');
      return reply.status(202).send(stored.response);
    },
  );

  app.get(
    '/orders/:id',
    {
      schema: {
        operationId: 'getOrder',
        summary: 'An order from the read model (eventually consistent), or live from its workflow',
        params: OrderIdParams,
        querystring: Type.Object({ source: Type.Optional(Type.Union([Type.Literal('read-model'), Type.Literal('workflow')])) }, { additionalProperties: false }),
        response: { 200: OrderViewResponse, ...readFailures },
      },
    },
    async (request) => {
      const { id } = request.params;
      if (request.query.source === 'workflow') {
        const status = await deps.sagas.status(id);
        return {
          orderId: id,
          flow: 'orchestrated',
          status: status.status,
          reason: status.reason,
          customerId: null,
          total: status.total,
          paymentStatus: null,
          stockStatus: null,
          notified: status.currentStep === 'done' && !status.notificationFailed,
          updatedAt: new Date().toISOString(),
          source: 'workflow' as const,
          consistency: `live: the saga is at step ${status.currentStep}`,
          links: links(id, 'orchestrated'),
        };
      }
      const row = (await deps.pool.query<ViewRow>('select * from read_model.order_view where order_id = $1', [id])).rows[0];
      if (!row) throw new HttpProblem(404, 'ORDER_NOT_FOUND', `order ${id} is not in the read model (yet: it is eventually consistent)`);
      return {
        orderId: row.order_id,
        flow: row.flow,
        status: row.status,
        reason: row.reason,
        customerId: row.customer_id,
        total: row.total_cents === null ? null : { amountCents: row.total_cents, currency: row.currency ?? 'USD' },
        paymentStatus: row.payment_status,
        stockStatus: row.stock_status,
        notified: row.notified,
        updatedAt: row.updated_at.toISOString(),
        source: 'read-model' as const,
        consistency: 'eventual: projected from the events',
        links: links(row.order_id, row.flow),
      };
    },
  );

  app.get('/orders/:id/events', { schema: { operationId: 'getOrderEvents', summary: "An order's timeline: every event, with its cause", params: OrderIdParams, response: { 200: TimelineResponse, ...readFailures } } }, async (request) => {
    const { id } = request.params;
    const { rows } = await deps.pool.query<{ event_id: string; type: string; occurred_at: Date; producer: string; flow: string; causation_id: string | null; correlation_id: string; data: unknown }>(
      'select * from read_model.order_timeline where order_id = $1 order by occurred_at, event_id',
      [id],
    );
    if (rows.length === 0) throw new HttpProblem(404, 'ORDER_NOT_FOUND', `order ${id} has no events in the read model`);
    return {
      orderId: id,
      events: rows.map((r) => ({ eventId: r.event_id, type: r.type, occurredAt: r.occurred_at.toISOString(), producer: r.producer, flow: r.flow, causationId: r.causation_id, correlationId: r.correlation_id, data: r.data })),
    };
  });

  app.get(
    '/orders',
    { schema: { summary: 'Orders by status, customer and flow, newest id first, with a cursor', querystring: ListQuery, response: { 200: Type.Object({ data: Type.Array(Type.Object({ orderId: Type.String(), flow: Type.String(), status: Type.String(), customerId: Type.Union([Type.String(), Type.Null()]) })), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...failures } } },
    async (request) => {
      const { status, customerId, flow } = request.query;
      const after = request.query.cursor === undefined ? null : decodeListCursor(request.query.cursor);
      const limit = Number(request.query.limit ?? 20);
      const { rows } = await deps.pool.query<{ order_id: string; flow: string; status: string; customer_id: string | null }>(
        `select order_id, flow, status, customer_id from read_model.order_view
          where ($1::text is null or status = $1) and ($2::text is null or customer_id = $2) and ($3::text is null or flow = $3) and ($4::text is null or order_id > $4)
          order by order_id limit $5`,
        [status ?? null, customerId ?? null, flow ?? null, after, limit + 1],
      );
      const page = rows.slice(0, limit);
      return { data: page.map((r) => ({ orderId: r.order_id, flow: r.flow, status: r.status, customerId: r.customer_id })), nextCursor: rows.length > limit ? encodeListCursor(page[page.length - 1]!.order_id) : null };
    },
  );

  for (const command of ['cancel', 'approve', 'reject'] as const) {
    app.post(
      `/orders/:id/${command}`,
      {
        schema: { operationId: `${command}Order`, summary: `${command} an order, in the flow that runs it`, params: OrderIdParams, response: { 202: Type.Object({ orderId: Type.String(), accepted: Type.Literal(true) }), ...commandFailures } },
        // Orchestrated orders: the saga client's error says what became of the update.
        config: { ifUnavailable: `the ${command} may not have been applied; read the order before sending it again` },
      },
      async (request, reply) => {
        const { id } = request.params;
        const row = (await deps.pool.query<{ flow: string }>('select flow from orders.orders where order_id = $1', [id])).rows[0];
        if (row?.flow === 'choreographed') {
          if (command === 'cancel') await cancelOrder(deps.pool, id);
          else await decideReview(deps.pool, id, command);
        } else {
          // Orchestrated, or not recorded yet: the saga answers (OrderNotFoundError when there is none).
          await deps.sagas[command](id);
        }
        return reply.status(202).send({ orderId: id, accepted: true as const });
      },
    );
  }

  const operations = ['operations'];
  app.get('/healthz', { schema: { summary: 'Liveness: the process answers', tags: operations, response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, () => ({ status: 'ok' as const }));
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: PostgreSQL, Kafka, the Temporal frontend and a worker on the saga task queue answer (503 names the ones that do not)',
        tags: operations,
        response: { 200: Type.Object({ status: Type.Literal('ready'), checks: Type.Array(Type.String()) }), 503: Problem },
      },
    },
    async (_request, reply) => {
      const timeoutMs = deps.readinessTimeoutMs ?? 2000;
      const results = await Promise.all(
        deps.readiness.map(async ({ name, check }) => ({ name, error: await withDeadline(check(), timeoutMs).then(() => null, (err: unknown) => (err instanceof Error ? err.message : String(err))) })),
      );
      const failing = results.filter((r) => r.error !== null);
      if (failing.length > 0) return reply.status(503).send(problem(503, 'NOT_READY', failing.map((f) => `${f.name}: ${f.error}`).join('; ')));
      return { status: 'ready' as const, checks: results.map((r) => r.name) };
    },
  );
  app.get('/metrics', { schema: { summary: 'Prometheus metrics (text exposition format)', tags: operations, response: { 200: { content: { 'text/plain': { schema: Type.String() } } } } } }, async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));

  return app;
}

/** Rejects when `work` has not settled within `ms` (the work itself is left to finish or fail). */
async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The operations that take the `id` of an order that POST /orders answers. */
const orderOperations = ['getOrder', 'getOrderEvents', 'cancelOrder', 'approveOrder', 'rejectOrder'];

/**
 * Adds OpenAPI links from POST /orders's answer to the operations on that order, so that a
 * client (and the stateful phase of the fuzz test) knows where its `orderId` goes.
 */
function withOrderLinks<T extends { paths?: Record<string, unknown> }>(doc: T): T {
  const placed = (doc.paths?.['/orders'] as { post?: { responses?: Record<string, { links?: unknown }> } } | undefined)?.post?.responses?.['202'];
  if (placed) placed.links = Object.fromEntries(orderOperations.map((operationId) => [operationId, { operationId, parameters: { id: '$response.body#/orderId' } }]));
  return doc;
}
