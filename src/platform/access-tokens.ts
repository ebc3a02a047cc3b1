import { readFileSync } from 'node:fs';

/** The audience of the API's tokens (their `aud`), and the resource indicator a client asks a token for. */
export const apiAudience = 'urn:order-saga:api';

/** The clients of the local identity provider (src/identity), by what they stand for. */
export const localClientIds = {
  operator: 'order-saga-operator',
  customers: 'order-saga-customers',
  webUi: 'order-saga-temporal-ui',
  /** The web console (src/console): a public client (authorization code with PKCE, no secret), served by the API. */
  console: 'order-saga-console',
} as const;

/** The scope the customers client asks for to act for one customer: `customer:<id>`, the id percent-encoded (a scope holds no space). */
export const customerScopeOf = (customerId: string) => `customer:${encodeURIComponent(customerId)}`;

/** The customer id a `customer:<id>` scope names, or undefined for any other scope. */
export function customerOfScope(scope: string): string | undefined {
  if (!scope.startsWith('customer:') || scope.length === 'customer:'.length) return undefined;
  try {
    return decodeURIComponent(scope.slice('customer:'.length));
  } catch {
    return undefined;
  }
}

/** Who a token is for. */
export type TokenSubject = { role: 'operator' } | { role: 'customer'; customerId: string };

/** A confidential client's credentials. */
export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

/** What a token tool needs (written by the local identity provider as it starts; git-ignored under STACK_DATA_DIR). */
export interface IdentityClientsFile {
  issuer: string;
  audience: string;
  operator: ClientCredentials;
  customers: ClientCredentials;
  /** The Temporal Web UI's client (authorization code, its users sign in); what the stack's ui-server configuration names. */
  webUi?: ClientCredentials;
}

/**
 * The identity clients file of the local stack: IDENTITY_CLIENTS_FILE, else the one under
 * STACK_DATA_DIR (default `.data`, relative to the project root where npm runs scripts).
 */
export const stackClientsFile = (env: NodeJS.ProcessEnv = process.env): string =>
  env.IDENTITY_CLIENTS_FILE || `${env.STACK_DATA_DIR || '.data'}/secrets/identity-clients.json`;

/** Reads an identity clients file, saying which file when it is missing. */
export function readClientsFile(path: string): IdentityClientsFile {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as IdentityClientsFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error(`no identity clients file at ${path}: the local identity provider writes it as it starts (npm start, or npm run stack:up)`);
    throw err;
  }
}

/** An access token, and when to fetch a new one. */
interface CachedToken {
  value: string;
  renewAt: number;
}

/**
 * Access tokens for the API from an OpenID Connect provider's token endpoint (client credentials
 * grant), found through the issuer's discovery document. A token is reused until 80% of its
 * lifetime has passed. What the demo, the benchmark, `npm run token` and the tests use.
 */
export class AccessTokens {
  private tokenEndpoint: Promise<string> | undefined;
  private readonly cache = new Map<string, Promise<CachedToken>>();

  constructor(private readonly clients: IdentityClientsFile) {}

  /** A file's clients (see {@link readClientsFile}). */
  static fromFile(path: string): AccessTokens {
    return new AccessTokens(readClientsFile(path));
  }

  /** A bearer token for `subject`. */
  async token(subject: TokenSubject): Promise<string> {
    const key = subject.role === 'operator' ? 'operator' : `customer ${subject.customerId}`;
    const cached = this.cache.get(key);
    if (cached) {
      const token = await cached.catch(() => undefined);
      if (token && token.renewAt > Date.now()) return token.value;
    }
    const fetched = this.fetchToken(subject);
    this.cache.set(key, fetched);
    fetched.catch(() => this.cache.delete(key));
    return (await fetched).value;
  }

  /** `{ authorization: 'Bearer …' }` for `subject`. */
  async headers(subject: TokenSubject): Promise<{ authorization: string }> {
    return { authorization: `Bearer ${await this.token(subject)}` };
  }

  private async fetchToken(subject: TokenSubject): Promise<CachedToken> {
    const client = subject.role === 'operator' ? this.clients.operator : this.clients.customers;
    const body = new URLSearchParams({ grant_type: 'client_credentials', resource: this.clients.audience });
    if (subject.role === 'customer') body.set('scope', customerScopeOf(subject.customerId));
    const endpoint = await this.discover();
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    const answer = (await response.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; error?: string; error_description?: string };
    if (!response.ok || !answer.access_token)
      throw new Error(
        `the identity provider at ${endpoint} refused a token (HTTP ${response.status}): ${answer.error ?? ''} ${answer.error_description ?? ''}`.trim(),
      );
    const lifetimeMs = (answer.expires_in ?? 60) * 1000;
    return { value: answer.access_token, renewAt: Date.now() + lifetimeMs * 0.8 };
  }

  private discover(): Promise<string> {
    this.tokenEndpoint ??= (async () => {
      const url = new URL('.well-known/openid-configuration', this.clients.issuer.endsWith('/') ? this.clients.issuer : `${this.clients.issuer}/`);
      const response = await fetch(url, { signal: AbortSignal.timeout(10_000) }).catch((err: unknown) => {
        throw new Error(`the identity provider at ${this.clients.issuer} does not answer (${err instanceof Error ? err.message : String(err)})`);
      });
      if (!response.ok) throw new Error(`${url.toString()} answered HTTP ${response.status}`);
      return ((await response.json()) as { token_endpoint: string }).token_endpoint;
    })();
    this.tokenEndpoint.catch(() => (this.tokenEndpoint = undefined));
    return this.tokenEndpoint;
  }
}
