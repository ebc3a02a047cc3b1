import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { jwksTokenVerifier, type TokenVerifier } from '../../../src/api/auth.ts';
import { storableText } from '../../../src/api/schemas.ts';
import { AccessTokens, apiAudience, type TokenSubject } from '../../../src/platform/access-tokens.ts';
import type { TestServers } from '../../setup/servers.ts';

/** How the tests' APIs verify tokens and how the tests get them: the suite's real identity provider, as the stack's API does. */
export interface TestAuth {
  verifier: TokenVerifier;
  tokens: AccessTokens;
}

const byIssuer = new Map<string, TestAuth>();

/** The suite's {@link TestAuth} (one per identity provider, so tokens are reused across a file's tests). */
export function testAuth(servers: Pick<TestServers, 'identity'>): TestAuth {
  const { issuer, clientsFile } = servers.identity;
  let auth = byIssuer.get(issuer);
  if (!auth) {
    auth = { verifier: jwksTokenVerifier({ issuer, audience: apiAudience }), tokens: AccessTokens.fromFile(clientsFile) };
    byIssuer.set(issuer, auth);
  }
  return auth;
}

/**
 * Who a test request is sent as when the test does not say: placing an order as the customer the
 * body names (a body without one: the customer `test-customer`), everything else as an operator,
 * who may read any order and send any command. Tests of access itself send their own headers.
 */
export function defaultCaller(options: InjectOptions): TokenSubject {
  const url = (options.url as string | undefined) ?? (options.path as string | undefined) ?? '';
  if (options.method === 'POST' && url.split('?')[0] === '/orders') {
    let body: unknown = options.payload ?? options.body;
    if (typeof body === 'string') body = parsedOrNull(body);
    const customerId = (body as { customerId?: unknown } | null)?.customerId;
    // An id the API refuses anyway (over 100 characters, a NUL, a lone surrogate) is not one to ask a token for.
    const usable = typeof customerId === 'string' && customerId !== '' && customerId.length <= 100 && storableText.validate(customerId);
    return { role: 'customer', customerId: usable ? customerId : 'test-customer' };
  }
  return { role: 'operator' };
}

function parsedOrNull(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/**
 * The same API, whose `inject` adds a bearer token of the {@link defaultCaller} to each request
 * that has no Authorization header of its own. Everything else is the API itself, except that the
 * wrapper is not thenable (so that an async function can return it).
 */
export function signedIn<T extends FastifyInstance>(app: T, tokens: AccessTokens): T {
  const inject = async (options: InjectOptions | string): Promise<LightMyRequestResponse> => {
    const given: InjectOptions = typeof options === 'string' ? { method: 'GET', url: options } : options;
    const headers = { ...(given.headers ?? {}) };
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) Object.assign(headers, await tokens.headers(defaultCaller(given)));
    return app.inject({ ...given, headers });
  };
  return new Proxy(app, {
    get(target, property) {
      if (property === 'inject') return inject;
      // Not thenable: a Fastify instance is (it resolves to itself once ready), so awaiting the
      // wrapper, as returning it from an async function does, would hand back the bare API.
      // Nothing needs to await it: inject and listen wait for the API to be ready.
      if (property === 'then') return undefined;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
