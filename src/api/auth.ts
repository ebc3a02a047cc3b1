import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpProblem } from './error-handler.ts';
import { Problem } from './schemas.ts';

/** What a caller may be. A customer acts on its own orders; an operator runs the business (approves, rejects, lists, reads codec payloads). */
export type Role = 'customer' | 'operator';

/** Who made a request, from its verified bearer token. */
export interface Principal {
  /** The token's `sub`. */
  subject: string;
  roles: ReadonlySet<Role>;
  /** The customer the caller acts for (from the customer claim); only with the customer role. */
  customerId?: string;
}

/**
 * Who may call a route: `'public'` (probes, metrics, the OpenAPI document) or the roles of which
 * the caller needs one. Every route of the API declares it; a route without is refused at startup.
 */
export type Access = 'public' | readonly Role[];

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call this route (see {@link Access}). */
    access?: Access;
  }
  interface FastifyRequest {
    /** The verified caller; undefined on a request without a valid token. */
    principal?: Principal;
    /** Why the request's token was not accepted (set by the authentication hook, answered by the route's access check). */
    authFailure?: HttpProblem;
  }
}

/** Checks a bearer token and says who it is for; rejects with an {@link HttpProblem} (401, or 503 when the issuer's keys cannot be fetched). */
export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

/** Options of {@link jwksTokenVerifier}. */
export interface JwksVerifierOptions {
  /** The issuer (`iss`) tokens must come from; its discovery document names the JWKS unless `jwksUrl` is given. */
  issuer: string;
  /** The audience (`aud`) tokens must be for. */
  audience: string;
  /** Where the issuer's public keys are; found through `<issuer>/.well-known/openid-configuration` when omitted. */
  jwksUrl?: string | undefined;
  /** @default 'roles' */
  rolesClaim?: string | undefined;
  /** @default 'customer_id' */
  customerClaim?: string | undefined;
  /** Or a key set of its own (tests with keys made on the spot). */
  keys?: JWTVerifyGetKey;
}

const roles: readonly Role[] = ['customer', 'operator'];
/** Asymmetric algorithms only: an `alg: none` or an HMAC token signed with a public key is refused. */
const algorithms = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'];

const unauthenticated = (message: string) => new HttpProblem(401, 'UNAUTHENTICATED', message);

/**
 * Verifies JWT access tokens against an OpenID Connect issuer's published keys (JWKS), as any
 * identity provider issues them: signature (asymmetric algorithms only), issuer, audience, expiry
 * (required, with 5 s of clock skew). The keys are fetched when first needed and again when a token names a
 * key id not seen yet (the issuer rotated), at most every 30 s.
 */
export function jwksTokenVerifier(options: JwksVerifierOptions): TokenVerifier {
  const rolesClaim = options.rolesClaim ?? 'roles';
  const customerClaim = options.customerClaim ?? 'customer_id';
  let keys: Promise<JWTVerifyGetKey> | undefined = options.keys ? Promise.resolve(options.keys) : undefined;
  const keySet = () => {
    keys ??= discoverJwks(options).then((url) => createRemoteJWKSet(new URL(url), { timeoutDuration: 5000, cooldownDuration: 30_000 }));
    keys.catch(() => (keys = undefined));
    return keys;
  };
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        // exp is required (RFC 9068 §2.2): jose checks it only when present, and a token without one would never expire.
        ({ payload } = await jwtVerify(token, await keySet(), {
          issuer: options.issuer,
          audience: options.audience,
          algorithms,
          clockTolerance: 5,
          requiredClaims: ['exp'],
        }));
      } catch (err) {
        throw verificationProblem(err, options.issuer);
      }
      if (!payload.sub) throw unauthenticated('the token has no subject (sub)');
      const granted = new Set(asStrings(payload[rolesClaim]).filter((role): role is Role => (roles as readonly string[]).includes(role)));
      const customer = payload[customerClaim];
      return {
        subject: payload.sub,
        roles: granted,
        ...(granted.has('customer') && typeof customer === 'string' && customer !== '' ? { customerId: customer } : {}),
      };
    },
  };
}

const asStrings = (claim: unknown): string[] =>
  Array.isArray(claim) ? claim.filter((v): v is string => typeof v === 'string') : typeof claim === 'string' ? claim.split(' ') : [];

async function discoverJwks(options: JwksVerifierOptions): Promise<string> {
  if (options.jwksUrl) return options.jwksUrl;
  const url = new URL('.well-known/openid-configuration', options.issuer.endsWith('/') ? options.issuer : `${options.issuer}/`);
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`${url.toString()} answered HTTP ${response.status}`);
  const { jwks_uri: jwksUri } = (await response.json()) as { jwks_uri?: string };
  if (!jwksUri) throw new Error(`${url.toString()} names no jwks_uri`);
  return jwksUri;
}

/** A 401 that says what is wrong with the token, or a 503 when the issuer's keys could not be had (the token may be fine). */
function verificationProblem(err: unknown, issuer: string): HttpProblem {
  if (err instanceof joseErrors.JWTExpired) return unauthenticated('the token has expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) return unauthenticated(`the token's ${err.claim} claim is not accepted: ${err.reason}`);
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return unauthenticated('the token signature does not verify');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return unauthenticated(`the token is not signed by a key of ${issuer}`);
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return unauthenticated('the token is signed with an algorithm that is not accepted');
  if (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError))
    return new HttpProblem(503, 'AUTH_UNAVAILABLE', `the keys of the identity provider ${issuer} could not be fetched; try again later`);
  return unauthenticated('the token is not a valid JWT');
}

/**
 * Authentication and access control of every route:
 *
 * 1. an instance hook verifies the bearer token, if any, and sets `request.principal` (it never
 *    answers, so that the rate limit, a route hook, can count the request by principal first);
 * 2. each route's own hook, added last, answers 401 without a valid token and 403 without one of
 *    the route's roles. A route that declares no `access` stops the API from starting.
 *
 * Call before the routes are registered and after the rate limit.
 */
export function installAccessControl(app: FastifyInstance, verifier: TokenVerifier): void {
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    if (header === undefined) return;
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header.trim());
    if (!match?.[1]) {
      request.authFailure = unauthenticated('the Authorization header must be "Bearer <token>"');
      return;
    }
    try {
      request.principal = await verifier.verify(match[1]);
      // Every log line of the request names who made it: who approved, rejected or cancelled an order.
      request.log = request.log.child({ actor: actorOf(request.principal) });
    } catch (err) {
      request.authFailure = err instanceof HttpProblem ? err : unauthenticated('the token is not valid');
    }
  });
  app.addHook('onRoute', (route) => {
    // Swagger UI's routes (a plugin's) are the public document; CORS preflights carry no credentials.
    const access = route.config?.access ?? (route.url.startsWith('/docs') || route.method === 'OPTIONS' ? 'public' : undefined);
    if (access === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no access (config.access)`);
    if (access === 'public') return;
    // In the OpenAPI document: the route needs the bearer scheme, and may answer 401 and 403.
    if (route.schema) {
      route.schema = {
        ...route.schema,
        security: [{ bearerAuth: [] }],
        response: { ...(route.schema.response as Record<string, unknown> | undefined), 401: Problem, 403: Problem },
      };
    }
    const check = accessCheck(access);
    route.onRequest = [...(Array.isArray(route.onRequest) ? route.onRequest : route.onRequest ? [route.onRequest] : []), check];
  });
}

function accessCheck(allowed: readonly Role[]) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.authFailure) {
      if (request.authFailure.statusCode === 401) void reply.header('www-authenticate', 'Bearer error="invalid_token"');
      throw request.authFailure;
    }
    if (!request.principal) {
      void reply.header('www-authenticate', 'Bearer');
      throw unauthenticated('this route needs a bearer token (Authorization: Bearer <token>)');
    }
    const { principal } = request;
    if (!allowed.some((role) => principal.roles.has(role)))
      throw new HttpProblem(
        403,
        'FORBIDDEN',
        `this route is for the ${allowed.join(' or ')} role; the token has ${[...principal.roles].join(', ') || 'no role'}`,
      );
    if (allowed.length === 1 && allowed[0] === 'customer' && !principal.customerId)
      throw new HttpProblem(403, 'FORBIDDEN', 'the token has the customer role but names no customer');
  };
}

/** How logs name a caller: `customer <id>`, or `<role> <subject>`. */
export function actorOf(principal: Principal): string {
  if (principal.customerId !== undefined) return `customer ${principal.customerId}`;
  return `${[...principal.roles].join('+') || 'no-role'} ${principal.subject}`;
}

/**
 * The customer a request may act for: undefined for an operator (any customer), the token's
 * customer for a customer. What the order routes use to keep a customer to its own orders.
 */
export function actingCustomer(request: FastifyRequest): { any: true } | { any: false; customerId: string } {
  const principal = request.principal;
  if (principal?.roles.has('operator')) return { any: true };
  if (principal?.customerId) return { any: false, customerId: principal.customerId };
  throw new HttpProblem(403, 'FORBIDDEN', 'the token names no customer');
}
