import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import ajvFormats from 'ajv-formats';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type pg from 'pg';
import { Counter, Histogram } from 'prom-client';
import { erasePersonalData } from '../contexts/customers/personal-data.ts';
import { listCatalog, unknownSkus } from '../contexts/inventory/inventory-store.ts';
import type { OrderFlows } from '../flows/order-flows.ts';
import { createMetricsRegistry } from '../observability/metrics.ts';
import { startSweeper } from '../platform/retention.ts';
import { listenForOrderChanges } from '../projections/order-changes.ts';
import { readModelQueries } from '../projections/read-model-queries.ts';
import { installAccessControl, type TokenVerifier } from './auth.ts';
import { answerConnect, clientErrorHandler } from './client-errors.ts';
import { allowedMethods, frameworkErrors, installErrorHandler } from './error-handler.ts';
import { deadLetterReplays, recordDeadLetterReplays } from './dead-letter-replays.ts';
import { claimIdempotencyKey, defaultIdempotencyKeyTtlMs } from './idempotency-store.ts';
import type { ReadinessCheck } from './readiness.ts';
import { apiSweeps, type ApiRetention } from './retention.ts';
import { paymentVaultSweep } from '../contexts/payments/retention.ts';
import { registerSecurity, type ApiSecurityOptions } from './security.ts';
// The types of the decorators below (declaration merging on FastifyInstance).
import type {} from './repositories.ts';
import { backlogRoutes, type MetricsSource } from './routes/backlog.ts';
import { catalogRoutes } from './routes/catalog.ts';
import { codecRoutes, type CodecRoutesOptions } from './routes/codec.ts';
import { consoleRoutes, type ConsoleOptions } from './routes/console.ts';
import { customerRoutes } from './routes/customers.ts';
import { deadLetterRoutes, type DeadLetterRoutesOptions } from './routes/dead-letters.ts';
import { operationRoutes } from './routes/operations.ts';
import { orderRoutes } from './routes/orders.ts';
import { Problem, storableText } from './schemas.ts';

/** What the API needs; built by src/workers/api.ts. */
export interface ApiDeps {
  /** PostgreSQL; the process gives it deadlines (`createApiPool`) so that no request waits on a hung database. */
  pool: pg.Pool;
  /** Both flows behind the flows port (src/flows): the entry point wires the implementations. */
  flows: OrderFlows;
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
  /** CORS origins and the rate limit per client address (security headers are always on); closed and unlimited when omitted. */
  security?: ApiSecurityOptions;
  /**
   * Checks the bearer token of each request (src/api/auth.ts): every route but the probes, the
   * metrics and the OpenAPI document needs one, with a role the route allows.
   */
  auth: TokenVerifier;
  /**
   * When set, serves the Temporal codec server protocol at `/codec/decode` and `/codec/encode`
   * for the Web UI (src/api/routes/codec.ts), for operators unless `access` says otherwise.
   */
  codecEndpoint?: CodecRoutesOptions;
  /**
   * A certificate and key (PEM): the same routes are also served over HTTPS, on the port given to
   * {@link listenTls} (the cluster profile: the Web UI passes its user's token to an HTTPS codec
   * endpoint only).
   */
  tls?: { cert: string; key: string };
  /**
   * When set, serves the web console at `/` (src/console; src/api/routes/console.ts): where its
   * users sign in, and the links it shows. Its calls for data are the API's own, with their token.
   */
  console?: ConsoleOptions;
  /**
   * When set, operators list and replay the dead letters of these consumer groups
   * (`GET /dead-letters`, `POST /dead-letters/:group/replay`; src/api/routes/dead-letters.ts).
   * `groups`: Kafka group id by display name.
   */
  deadLetters?: DeadLetterRoutesOptions;
  /**
   * The `/metrics` endpoints `GET /operations/backlog` reads consumer lag, dead-letter depth and
   * the outbox from (the choreography's and the projector's, every instance). None: it answers
   * an empty backlog.
   */
  metricsSources?: readonly MetricsSource[];
  /**
   * How long the API's tables keep what they hold, and how often the API deletes what is past it
   * (src/api/retention.ts): from the app's start (ready) to its close, each sweep under its
   * advisory lock, so that one instance at a time runs it. Omitted (tests): Idempotency-Keys are
   * remembered for 24 h and nothing is swept.
   */
  retention?: ApiRetention & { sweepIntervalMs: number };
}

/** The HTTPS servers of apps built with `tls`, by app. */
const tlsServers = new WeakMap<object, HttpsServer>();

/**
 * Starts the HTTPS listener of an app built with `tls` (after `app.listen`, or `app.ready`): the
 * same router, hooks and error shape as the HTTP one. Closed with the app. Returns its URL.
 */
export async function listenTls(app: { ready(): PromiseLike<unknown> }, { host, port }: { host: string; port: number }): Promise<string> {
  const server = tlsServers.get(app);
  if (!server) throw new Error('listenTls: this app was built without `tls`');
  await app.ready();
  server.listen(port, host);
  await once(server, 'listening');
  const { address, port: bound } = server.address() as AddressInfo;
  return `https://${address.includes(':') ? `[${address}]` : address}:${bound}`;
}

/** The header that carries an order's journey id from the client through both flows. */
export const correlationHeader = 'x-correlation-id';
const usableCorrelationId = /^[A-Za-z0-9._:-]{1,128}$/;

// ajv-formats is CommonJS: under ESM its plugin may sit on `.default`.
const addFormats = (ajvFormats as unknown as { default?: typeof ajvFormats }).default ?? ajvFormats;

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
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, formats: { [storableText.format]: storableText.validate } },
      plugins: [addFormats as never],
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // A span per request (a no-op unless the process started tracing): the root of an order's trace.
  const operational = new Set(['/metrics', '/healthz', '/readyz']);
  const httpTracing = new FastifyOtelInstrumentation({ instrumentHooks: false, ignorePaths: ({ url }) => operational.has(url) || url.startsWith('/docs') });
  await app.register(httpTracing.plugin());

  installErrorHandler(app);
  // Before every route: the rate limit attaches itself to the routes registered after it.
  // The console's page exchanges its sign-in code for a token at the issuer: its one call to another origin.
  await registerSecurity(app, { ...deps.security, connectOrigins: deps.console ? [new URL(deps.console.issuer).origin] : [] });
  // After the rate limit (which counts a request by the principal this authenticates) and before every route.
  installAccessControl(app, deps.auth);
  // Node gives CONNECT to this event, never to the router, and drops the connection when nothing listens.
  app.server.on('connect', (request: IncomingMessage, socket: Duplex) => answerConnect(request, socket, (path) => allowedMethods(app, path)));
  if (deps.tls) {
    // Fastify's router as the request handler of a second, HTTPS server (fastify.routing).
    const tlsServer = createHttpsServer({ cert: deps.tls.cert, key: deps.tls.key }, (request, response) => app.routing(request, response));
    tlsServer.on('clientError', (err, socket) => clientErrorHandler.call(app, err, socket));
    tlsServer.on('connect', (request: IncomingMessage, socket: Duplex) => answerConnect(request, socket, (path) => allowedMethods(app, path)));
    tlsServers.set(app, tlsServer);
    app.addHook('onClose', async () => {
      if (!tlsServer.listening) return;
      tlsServer.closeIdleConnections();
      await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
    });
  }
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
  const ordersPlaced = new Counter({
    name: 'orders_placed_total',
    help: 'Orders accepted by POST /orders (a repeated Idempotency-Key counts once)',
    labelNames: ['flow'],
    registers: [metrics],
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    void reply.header(correlationHeader, request.id);
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    requestDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unknown', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
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
          'headers over 16 KiB 431 HEADERS_TOO_LARGE, a request not received in time 408 REQUEST_TIMEOUT, all Problems, and the connection is closed. ' +
          'A caller over its rate limit (API_RATE_LIMIT_PER_MINUTE; by principal, or by client address without a valid token) is answered 429 RATE_LIMITED, a Problem, with a Retry-After header. ' +
          'Every route but the probes, /metrics and this document needs a bearer token (JWT) from the configured OpenID Connect issuer: ' +
          '401 UNAUTHENTICATED without a valid one, 403 FORBIDDEN without a role the route allows (customer: its own orders, the catalog; operator: reviews, lists, any order, dead letters and the backlog).',
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: "An access token from the API's OpenID Connect issuer (locally: npm run token)",
          },
        },
        responses: {
          MethodNotAllowed: {
            description: 'the path has no such method; Allow lists the ones it has',
            headers: { Allow: { schema: { type: 'string' } } },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Problem' } } },
          },
        },
      },
    },
  });
  // persistAuthorization: the token pasted into Authorize survives a reload of the page.
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { persistAuthorization: true } });
  app.addSchema(Problem);

  // What the routes use (src/api/repositories.ts): decorators of the root, which every route
  // plugin inherits, so no plugin needs to break encapsulation.
  app.decorate('flows', deps.flows);
  app.decorate('readModel', readModelQueries(deps.pool));
  const orderChanges = listenForOrderChanges(deps.pool, deps.logger ? { log: deps.logger } : {});
  app.decorate('orderChanges', orderChanges);
  app.addHook('onClose', () => orderChanges.close());
  app.decorate('catalog', { unknownSkus: (skus: readonly string[]) => unknownSkus(deps.pool, skus), list: () => listCatalog(deps.pool) });
  app.decorate('deadLetterReplays', {
    record: (groupId: string, letterIds: readonly string[], actor: string) => recordDeadLetterReplays(deps.pool, groupId, letterIds, actor),
    of: (groupIds: readonly string[]) => deadLetterReplays(deps.pool, groupIds),
  });
  app.decorate('personalData', { erase: (customerId: string) => erasePersonalData(deps.pool, customerId) });
  const idempotencyKeyTtlMs = deps.retention?.idempotencyKeyTtlMs ?? defaultIdempotencyKeyTtlMs;
  app.decorate('idempotencyKeys', {
    claim: <T>(key: string, requestHash: string, response: T) => claimIdempotencyKey(deps.pool, key, requestHash, response, idempotencyKeyTtlMs),
  });
  if (deps.retention) {
    const retention = deps.retention;
    let sweeper: ReturnType<typeof startSweeper> | undefined;
    app.addHook('onReady', (done) => {
      sweeper = startSweeper({
        pool: deps.pool,
        log: app.log,
        sweeps: [...apiSweeps(retention), ...(retention.paymentVaultMs === undefined ? [] : [paymentVaultSweep(retention.paymentVaultMs)])],
        intervalMs: retention.sweepIntervalMs,
      });
      done();
    });
    // Before the process ends the pool: a sweep under way finishes (each batch is short).
    app.addHook('onClose', async () => {
      await sweeper?.stop();
    });
  }

  await app.register(orderRoutes, { temporalUiUrl: deps.temporalUiUrl, namespace: deps.namespace, ordersPlaced, idempotencyKeyTtlMs });
  await app.register(customerRoutes);
  await app.register(operationRoutes, { readiness: deps.readiness, readinessTimeoutMs: deps.readinessTimeoutMs, metrics });
  if (deps.codecEndpoint) await app.register(codecRoutes, deps.codecEndpoint);
  // The console's Operate tab (and any operator's client).
  await app.register(catalogRoutes);
  await app.register(backlogRoutes, { sources: deps.metricsSources ?? [], groups: deps.deadLetters?.groups });
  if (deps.deadLetters) await app.register(deadLetterRoutes, deps.deadLetters);
  if (deps.console) await app.register(consoleRoutes, deps.console);
  return app;
}

/** The operations that take the `id` of an order that POST /orders answers. */
const orderOperations = ['getOrder', 'getOrderEvents', 'cancelOrder', 'approveOrder', 'rejectOrder'];

/**
 * Adds OpenAPI links from POST /orders's answer to the operations on that order, so that a
 * client (and the stateful phase of the fuzz test) knows where its `orderId` goes.
 */
function withOrderLinks<T extends { paths?: Record<string, unknown> }>(doc: T): T {
  const placed = (doc.paths?.['/orders'] as { post?: { responses?: Record<string, { links?: unknown }> } } | undefined)?.post?.responses?.['202'];
  if (placed)
    placed.links = Object.fromEntries(orderOperations.map((operationId) => [operationId, { operationId, parameters: { id: '$response.body#/orderId' } }]));
  return doc;
}
