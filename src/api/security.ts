import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
// The type of request.principal (declaration merging on FastifyRequest).
import type {} from './auth.ts';
import { HttpProblem } from './error-handler.ts';

/** The API's browser policy and abuse limits (issue 16, item 2: the parts that need no authentication). */
export interface ApiSecurityOptions {
  /**
   * Origins a browser may call the API from (`https://shop.example.com`); none when empty, so a
   * page of another origin cannot read any answer.
   * @default []
   */
  corsOrigins?: readonly string[] | undefined;
  /**
   * Requests a caller (its principal, or its address without a valid token) may make per minute; 0 turns the limit off.
   * @default 0
   */
  rateLimitPerMinute?: number | undefined;
  /**
   * Origins besides the API's own that its pages may call (Content-Security-Policy `connect-src`):
   * the identity provider the web console exchanges its sign-in code at.
   * @default []
   */
  connectOrigins?: readonly string[] | undefined;
}

/** What probes and Prometheus call: limiting them would turn a busy minute into a restart or a gap in the metrics. */
const unlimitedRoutes = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The key a request is counted under: its verified caller (src/api/auth.ts authenticates before
 * the limit counts), so that customers behind one address do not share a budget and one caller
 * cannot spread over many addresses; a request without a valid token counts by its client address
 * (an IPv6 address by its /64, which one client typically holds whole). Behind a proxy,
 * `request.ip` is the proxy's address unless Fastify's `trustProxy` is set.
 */
export const rateLimitKey = (request: FastifyRequest): string => {
  const principal = request.principal;
  if (principal) return principal.customerId === undefined ? `subject ${principal.subject}` : `customer ${principal.customerId}`;
  return `address ${normalizeIP(request.ip)}`;
};

/**
 * Registers security headers (helmet), CORS closed unless origins are configured, and the rate
 * limit per client address, whose 429 goes through the one error handler as `RATE_LIMITED` with
 * `Retry-After`. Register before the routes: the rate limit attaches itself to routes added after it.
 */
export async function registerSecurity(app: FastifyInstance, options: ApiSecurityOptions): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      // Helmet's default policy is what Swagger UI at /docs and the web console at / need: its scripts and styles come
      // from 'self' (@fastify/swagger-ui inlines none), its icons are data: images, and React sets
      // inline style attributes (style-src allows 'unsafe-inline'). Only upgrade-insecure-requests
      // goes: the API serves plain HTTP (TLS is issue 16, item 6), and the directive makes a
      // browser fetch /docs's scripts over https from any host but localhost, which fails.
      directives: { upgradeInsecureRequests: null, connectSrc: ["'self'", ...(options.connectOrigins ?? [])] },
    },
  });
  const origins = options.corsOrigins ?? [];
  // origin false: no CORS header on any answer, and a preflight goes to the not-found handler.
  await app.register(cors, { origin: origins.length > 0 ? [...origins] : false });
  const perMinute = options.rateLimitPerMinute ?? 0;
  if (perMinute > 0) {
    // In memory, per process: two API instances (the cluster profile) each allow the limit.
    await app.register(rateLimit, {
      max: perMinute,
      timeWindow: 60_000,
      keyGenerator: rateLimitKey,
      allowList: (request) => unlimitedRoutes.has(request.routeOptions.url ?? ''),
      errorResponseBuilder: (_request, context) =>
        new HttpProblem(429, 'RATE_LIMITED', `more than ${context.max} requests a minute from this caller: retry in ${context.after}`),
    });
  }
}
