import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { Registry } from 'prom-client';
import { Type } from 'typebox';
import { problem } from '../error-handler.ts';
import type { ReadinessCheck } from '../readiness.ts';
import { Problem } from '../schemas.ts';

/** Options of {@link operationRoutes}. */
export interface OperationRoutesOptions {
  /** What `/readyz` checks: each rejects when its dependency is not usable. */
  readiness: ReadinessCheck[];
  /**
   * How long `/readyz` waits for each check.
   * @default 2000
   */
  readinessTimeoutMs?: number | undefined;
  /** What `/metrics` exposes. */
  metrics: Registry;
}

const tags = ['operations'];

/** What operators and process managers call: liveness, readiness, Prometheus metrics. */
export const operationRoutes: FastifyPluginCallbackTypebox<OperationRoutesOptions> = (app, options, done) => {
  app.get(
    '/healthz',
    {
      config: { access: 'public' },
      schema: { summary: 'Liveness: the process answers', tags, response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
    },
    () => ({
      status: 'ok' as const,
    }),
  );
  app.get(
    '/readyz',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Readiness: PostgreSQL, Kafka, the Temporal frontend and a worker on the saga task queue answer (503 names the ones that do not)',
        tags,
        response: { 200: Type.Object({ status: Type.Literal('ready'), checks: Type.Array(Type.String()) }), 503: Problem },
      },
    },
    async (_request, reply) => {
      const timeoutMs = options.readinessTimeoutMs ?? 2000;
      const results = await Promise.all(
        options.readiness.map(async ({ name, check }) => ({
          name,
          error: await withDeadline(check(), timeoutMs).then(
            () => null,
            (err: unknown) => (err instanceof Error ? err.message : String(err)),
          ),
        })),
      );
      const failing = results.filter((r) => r.error !== null);
      if (failing.length > 0) return reply.status(503).send(problem(503, 'NOT_READY', failing.map((f) => `${f.name}: ${f.error}`).join('; ')));
      return { status: 'ready' as const, checks: results.map((r) => r.name) };
    },
  );
  app.get(
    '/metrics',
    // Public like the probes: Prometheus scrapes it, and it holds counts and timings, no order or customer data.
    {
      config: { access: 'public' },
      schema: { summary: 'Prometheus metrics (text exposition format)', tags, response: { 200: { content: { 'text/plain': { schema: Type.String() } } } } },
    },
    async (_request, reply) => reply.type(options.metrics.contentType).send(await options.metrics.metrics()),
  );
  done();
};

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
