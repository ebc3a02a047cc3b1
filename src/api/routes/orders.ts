import { createHash, randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';
import { Type } from 'typebox';
import { canonicalJson } from '../../domain/canonical-json.ts';
import { OrderNotFoundError } from '../../domain/errors.ts';
import { orderWorkflowId } from '../../domain/order.ts';
import type { OrderView, TimelineEvent } from '../../projections/read-model-queries.ts';
import { actingCustomer } from '../auth.ts';
import { HttpProblem } from '../error-handler.ts';
import { decodeListCursor, encodeListCursor } from '../list-cursor.ts';
// The types of the decorators the routes use (declaration merging on FastifyInstance).
import type {} from '../repositories.ts';
import { idempotencyHeaders, ListQuery, OrderIdParams, OrderViewResponse, PlaceOrderBody, PlaceOrderResponse, Problem, TimelineResponse } from '../schemas.ts';

/** Options of {@link orderRoutes}. */
export interface OrderRoutesOptions {
  /** Base URL of the Temporal Web UI, for the links of orchestrated orders. */
  temporalUiUrl: string;
  namespace: string;
  /** Counts the orders POST /orders accepts, by flow. */
  ordersPlaced: Counter<'flow'>;
  /** How long an Idempotency-Key is remembered, for the OpenAPI document (the store enforces it). */
  idempotencyKeyTtlMs: number;
}

// The errors each kind of route can answer, all in the one shape. 503/504: a dependency
// (PostgreSQL, Temporal or its worker) is unreachable or did not answer in time.
const failures = { 400: Problem, 500: Problem, 503: Problem, 504: Problem };
const readFailures = { ...failures, 404: Problem };
const commandFailures = { ...failures, 404: Problem, 409: Problem, 413: Problem, 415: Problem };
const placeFailures = { ...failures, 409: Problem, 413: Problem, 415: Problem, 422: Problem };

/** How long GET /orders/:id/stream waits for an order placed a moment ago to reach the read model. */
const streamWaitMs = 10_000;
/** How long the stream of an ended order stays open waiting for its email (notified), at most. */
const streamLingerMs = 30_000;
const finalStatuses = new Set(['confirmed', 'cancelled']);

/** Throws the 404 of an order that is not the acting customer's (an operator may see any). */
function assertOwns(request: FastifyRequest, orderId: string, owner: string | null): void {
  const acting = actingCustomer(request);
  if (!acting.any && acting.customerId !== owner)
    throw new HttpProblem(404, 'ORDER_NOT_FOUND', `order ${orderId} is not an order of customer ${acting.customerId} (or not in the read model yet)`);
}

/**
 * The orders resource: place an order in either flow, read it (read model, or live from its
 * saga), its timeline, the list, and the commands, which go to the flow that runs the order.
 */
export const orderRoutes: FastifyPluginCallbackTypebox<OrderRoutesOptions> = (app, options, done) => {
  const viewAnswer = (view: OrderView) => ({
    ...view,
    updatedAt: view.updatedAt.toISOString(),
    source: 'read-model' as const,
    consistency: 'eventual: projected from the events',
    links: links(view.orderId, view.flow),
  });
  const eventAnswer = (event: TimelineEvent) => ({ ...event, occurredAt: event.occurredAt.toISOString() });
  const links = (orderId: string, flow: string) => ({
    status: `/orders/${orderId}`,
    events: `/orders/${orderId}/events`,
    ...(flow === 'orchestrated' ? { temporalUi: `${options.temporalUiUrl}/namespaces/${options.namespace}/workflows/${orderWorkflowId(orderId)}` } : {}),
  });

  app.post(
    '/orders',
    {
      schema: {
        operationId: 'placeOrder',
        summary: 'Place an order in either flow',
        body: PlaceOrderBody,
        headers: idempotencyHeaders(options.idempotencyKeyTtlMs),
        response: { 202: PlaceOrderResponse, ...placeFailures },
      },
      config: {
        access: ['customer'],
        ifUnavailable: 'the order may or may not have been accepted; retry with the same Idempotency-Key, which never places it twice',
      },
    },
    async (request, reply) => {
      const body = request.body;
      // A customer route: the token's own customer, also when it has the operator role too (whose
      // any-customer reach is for reads and commands, not for placing orders in a customer's name).
      const customerId = request.principal?.customerId;
      if (customerId !== body.customerId)
        throw new HttpProblem(
          403,
          'FORBIDDEN',
          `body/customerId: a customer places orders for itself only (the token is for customer ${customerId ?? 'none'})`,
        );
      const key = request.headers['idempotency-key'];
      // The same content is the same request, whatever its key order or whitespace.
      const hash = createHash('sha256').update(canonicalJson(body)).digest('hex');
      const unknown = await app.catalog.unknownSkus([...new Set(body.items.map((i) => i.sku))]);
      if (unknown.length > 0) throw new HttpProblem(422, 'UNKNOWN_SKU', `body/items: unknown SKU ${unknown.join(', ')}`);

      // The key is stored with its order id before anything starts: a retry, or a concurrent
      // duplicate, gets the same order id, and starting that order again is idempotent.
      const orderId = randomUUID();
      const stored = await app.idempotencyKeys.claim(key, hash, { orderId, flow: body.flow, links: links(orderId, body.flow) });
      if (stored.requestHash !== hash) throw new HttpProblem(409, 'IDEMPOTENCY_KEY_REUSED', `Idempotency-Key ${key} was already used with a different body`);
      const { orderId: id } = stored.response;
      await app.flows.place(
        body.flow,
        { orderId: id, customerId: body.customerId, email: body.email, items: body.items, paymentToken: body.paymentToken },
        request.id,
      );
      if (id === orderId) options.ordersPlaced.inc({ flow: body.flow });
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
        querystring: Type.Object({ source: Type.Optional(Type.Enum(['read-model', 'workflow'])) }, { additionalProperties: false }),
        response: { 200: OrderViewResponse, ...readFailures },
      },
      config: { access: ['customer', 'operator'] },
    },
    async (request) => {
      const { id } = request.params;
      if (request.query.source === 'workflow') {
        await assertMayRead(request, id);
        // Live from the saga: only the orchestrated flow has one. A choreographed order has none to
        // read, which is not the same answer as an order that does not exist. (The read model
        // failing here leaves the answer the saga gave.)
        const live = await app.flows
          .flow('orchestrated')
          .status(id)
          .catch(async (err: unknown) => {
            if (err instanceof OrderNotFoundError && (await app.readModel.orderView(id).catch(() => undefined))?.flow === 'choreographed')
              throw new HttpProblem(
                400,
                'VALIDATION_FAILED',
                `order ${id} is choreographed: it has no workflow to read live; leave out source=workflow to read it from the read model`,
              );
            throw err;
          });
        return {
          orderId: id,
          flow: 'orchestrated',
          status: live.status,
          reason: live.reason,
          customerId: null,
          total: live.total,
          paymentStatus: null,
          stockStatus: null,
          notified: live.notified === true,
          updatedAt: new Date().toISOString(),
          source: 'workflow' as const,
          consistency: `live: the saga is at step ${live.step}`,
          links: links(id, 'orchestrated'),
        };
      }
      const view = await app.readModel.orderView(id);
      if (!view) throw new HttpProblem(404, 'ORDER_NOT_FOUND', `order ${id} is not in the read model (yet: it is eventually consistent)`);
      assertOwns(request, id, view.customerId);
      return viewAnswer(view);
    },
  );

  app.get(
    '/orders/:id/events',
    {
      schema: {
        operationId: 'getOrderEvents',
        summary: "An order's timeline: every event, with its cause",
        params: OrderIdParams,
        response: { 200: TimelineResponse, ...readFailures },
      },
      config: { access: ['customer', 'operator'] },
    },
    async (request) => {
      const { id } = request.params;
      await assertMayRead(request, id);
      const events = await app.readModel.timeline(id);
      if (events.length === 0) throw new HttpProblem(404, 'ORDER_NOT_FOUND', `order ${id} has no events in the read model`);
      return { orderId: id, events: events.map(eventAnswer) };
    },
  );

  app.get(
    '/orders/:id/stream',
    {
      schema: {
        operationId: 'streamOrder',
        summary: 'An order and its timeline, live (server-sent events): one `order` event now and one after each change the projector commits',
        description:
          'Each `order` event carries `{ order, events }`, the bodies of GET /orders/:id and GET /orders/:id/events, whole. ' +
          'The stream ends once the order has ended and its email is out (or 30 s after its end). ' +
          'When the read model cannot be read, an `unavailable` event says so (`{ message }`) and the read is tried again every second. ' +
          'An order placed a moment ago may not be in the read model yet: the stream waits up to 10 s for it before answering 404. ' +
          'A comment line is sent every 15 s so that proxies keep the connection open.',
        params: OrderIdParams,
        response: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: Type.String() } } }, ...readFailures },
      },
      config: { access: ['customer', 'operator'] },
    },
    async (request, reply) => {
      const { id } = request.params;
      let changed: (() => void) | undefined;
      // Subscribed before the first read: a change committed between the read and the subscription is not missed.
      const unsubscribe = app.orderChanges.subscribe(id, () => changed?.());
      try {
        // A customer's order is theirs once the read model knows its customer: its first events
        // may be projected before order.placed (they travel on other topics), with no customer yet.
        const anyCustomer = actingCustomer(request).any;
        const known = (view: OrderView | undefined) => view !== undefined && (anyCustomer || view.customerId !== null);
        let view = await app.readModel.orderView(id);
        const deadline = Date.now() + streamWaitMs;
        while (!known(view) && Date.now() < deadline) {
          await new Promise<void>((resolve) => {
            changed = resolve;
            setTimeout(resolve, Math.min(1000, deadline - Date.now())).unref();
          });
          view = await app.readModel.orderView(id);
        }
        if (!view || !known(view))
          throw new HttpProblem(404, 'ORDER_NOT_FOUND', `order ${id} is not in the read model (it waited ${streamWaitMs / 1000} s for it)`);
        assertOwns(request, id, view.customerId);
      } catch (err) {
        unsubscribe();
        throw err;
      }

      const stream = new PassThrough();
      let writing = false;
      let again = false;
      let retry: NodeJS.Timeout | undefined;
      let lingering: NodeJS.Timeout | undefined;
      // One snapshot at a time; changes that arrive meanwhile are folded into one more.
      const push = async (): Promise<void> => {
        if (writing) {
          again = true;
          return;
        }
        writing = true;
        try {
          do {
            again = false;
            const [view, events] = await Promise.all([app.readModel.orderView(id), app.readModel.timeline(id)]);
            if (!view || stream.writableEnded) continue;
            stream.write(`event: order\ndata: ${JSON.stringify({ order: viewAnswer(view), events: events.map(eventAnswer) })}\n\n`);
            // An ended order changes no more once its email is out: the stream ends, and frees the
            // browser's connection (six per host over HTTP/1.1). An order whose email never goes
            // (its customer's data erased) ends the stream a while after its end.
            if (finalStatuses.has(view.status)) {
              if (view.notified) setImmediate(end);
              else lingering ??= setTimeout(end, streamLingerMs);
            }
          } while (again && !stream.writableEnded);
        } catch (err) {
          // Said to the page, and read again shortly: a change committed meanwhile is not missed.
          request.log.warn({ err, orderId: id }, 'a live order snapshot could not be read');
          const message = err instanceof Error ? err.message : String(err);
          if (!stream.writableEnded)
            stream.write(`event: unavailable\ndata: ${JSON.stringify({ message: `the read model cannot be read now (${message}); trying again` })}\n\n`);
          retry ??= setTimeout(() => {
            retry = undefined;
            void push();
          }, 1000);
        } finally {
          writing = false;
        }
      };
      changed = () => void push();
      const heartbeat = setInterval(() => stream.write(': still here\n\n'), 15_000);
      const end = () => {
        clearInterval(heartbeat);
        clearTimeout(retry);
        clearTimeout(lingering);
        unsubscribe();
        openStreams.delete(end);
        if (!stream.writableEnded) stream.end();
      };
      openStreams.add(end);
      request.raw.on('close', end);
      void push();
      return (
        reply
          .header('content-type', 'text/event-stream; charset=utf-8')
          .header('cache-control', 'no-cache, no-transform')
          .header('x-accel-buffering', 'no')
          // A stream is sent as it is written (the schema's string type is what the document shows).
          .send(stream as never)
      );
    },
  );
  // A live stream never ends by itself: closing the API ends them, or the server would wait for the clients.
  const openStreams = new Set<() => void>();
  app.addHook('preClose', (closed) => {
    for (const end of [...openStreams]) end();
    closed();
  });

  app.get(
    '/orders',
    {
      schema: {
        summary: 'Orders by status, customer and flow, newest id first, with a cursor',
        querystring: ListQuery,
        response: {
          200: Type.Object({
            data: Type.Array(
              Type.Object({ orderId: Type.String(), flow: Type.String(), status: Type.String(), customerId: Type.Union([Type.String(), Type.Null()]) }),
            ),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...failures,
        },
      },
      config: { access: ['operator'] },
    },
    async (request) => {
      const { status, customerId, flow } = request.query;
      const after = request.query.cursor === undefined ? null : decodeListCursor(request.query.cursor);
      const limit = Number(request.query.limit ?? 20);
      // One more than the page: whether there is a next page.
      const rows = await app.readModel.list({ status, customerId, flow, after, limit: limit + 1 });
      const page = rows.slice(0, limit);
      return { data: page, nextCursor: rows.length > limit ? encodeListCursor(page[page.length - 1]!.orderId) : null };
    },
  );

  /**
   * A customer acts on its own orders only: another customer's order is answered 404, exactly as
   * one that does not exist, so that order ids cannot be probed. The owner is the read model's
   * (eventually consistent: an order placed a moment ago may not be there yet).
   */
  const assertMayRead = async (request: FastifyRequest, orderId: string) => {
    if (actingCustomer(request).any) return;
    assertOwns(request, orderId, (await app.readModel.orderView(orderId))?.customerId ?? null);
  };

  for (const command of ['cancel', 'approve', 'reject'] as const) {
    app.post(
      `/orders/:id/${command}`,
      {
        schema: {
          operationId: `${command}Order`,
          summary: `${command} an order, in the flow that runs it`,
          params: OrderIdParams,
          response: { 202: Type.Object({ orderId: Type.String(), accepted: Type.Literal(true) }), ...commandFailures },
        },
        // Orchestrated orders: the flow's FlowUnavailableError says what became of the command.
        config: {
          // A customer may cancel its own order; reviews are the operators' work.
          access: command === 'cancel' ? ['customer', 'operator'] : ['operator'],
          ifUnavailable: `the ${command} may not have been applied; read the order before sending it again`,
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        await assertMayRead(request, id);
        await app.flows.command(id, command);
        request.log.info({ orderId: id, command }, 'command accepted');
        return reply.status(202).send({ orderId: id, accepted: true as const });
      },
    );
  }
  done();
};
