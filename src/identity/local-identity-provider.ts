import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { apiAudience, customerScopeOf, customerOfScope, localClientIds, type IdentityClientsFile } from '../platform/access-tokens.ts';

/**
 * The local OpenID Connect provider the stack and the integration tests run, so that the API is
 * used exactly as in production: bearer tokens (JWT) signed by an issuer whose keys the API reads
 * from the issuer's JWKS. It is `oidc-provider` (a certified OpenID Connect implementation) with
 * two confidential clients that use the client credentials grant:
 *
 * - `order-saga-operator`: its tokens carry `roles: ["operator"]`;
 * - `order-saga-customers`: a stand-in for the customer login of a real shop, trusted to act for
 *   any customer: it asks for the scope `customer:<id>` and gets `roles: ["customer"]` and
 *   `customer_id: <id>`.
 *
 * A production deployment points the API at its own identity provider instead (AUTH_ISSUER), which
 * puts the same claims (or the ones named by AUTH_ROLES_CLAIM and AUTH_CUSTOMER_CLAIM) into tokens
 * issued to people who logged in. Nothing here is meant to face the internet.
 */
export interface LocalIdentityProviderOptions {
  /** The issuer URL, `http://127.0.0.1:<port>`: the `iss` of every token, and where its discovery document is. */
  issuer: string;
  /** Its private signing key and the clients' secrets (see {@link ensureIdentityState}). */
  state: IdentityState;
  /**
   * How long an access token is valid.
   * @default 3600
   */
  tokenTtlSeconds?: number;
}

/** What the provider keeps between restarts: tokens it signed stay valid, clients keep their secrets. */
export interface IdentityState {
  /** The ES256 private key (JWK) tokens are signed with; its public half is served at the JWKS URL. */
  signingKey: JWK;
  /** Secret of each client, by client id. */
  clientSecrets: Record<string, string>;
}

/** Reads the provider's state file, or writes a new one (signing key and client secrets) the first time. Only the owner may read it. */
export async function ensureIdentityState(path: string): Promise<IdentityState> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as IdentityState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: `local-${new Date().toISOString().slice(0, 10)}`, alg: 'ES256', use: 'sig' };
  const state: IdentityState = {
    signingKey,
    clientSecrets: Object.fromEntries(Object.values(localClientIds).map((id) => [id, randomBytes(32).toString('base64url')])),
  };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    // 'wx': never overwrites, also when two processes start at once; the loser reads the winner's.
    writeFileSync(path, `${JSON.stringify(state, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return JSON.parse(readFileSync(path, 'utf8')) as IdentityState;
  }
  return state;
}

/** The file the token tools read (`npm run token`, the demo, the benchmark, the tests): the issuer and the clients' credentials, no signing key. */
export function writeClientsFile(path: string, issuer: string, state: IdentityState): void {
  const file: IdentityClientsFile = {
    issuer,
    audience: apiAudience,
    operator: { clientId: localClientIds.operator, clientSecret: state.clientSecrets[localClientIds.operator] ?? '' },
    customers: { clientId: localClientIds.customers, clientSecret: state.clientSecrets[localClientIds.customers] ?? '' },
  };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
}

/** The provider, ready to be served (`provider.callback()` is a Node request listener). */
export function createLocalIdentityProvider(options: LocalIdentityProviderOptions): Provider {
  const ttl = options.tokenTtlSeconds ?? 3600;
  const clients = Object.values(localClientIds).map((clientId) => ({
    client_id: clientId,
    client_secret: options.state.clientSecrets[clientId],
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic' as const,
    // Its one key is an ES256 key; the default (RS256) would need an RSA one.
    id_token_signed_response_alg: 'ES256' as const,
  }));
  const configuration: Configuration = {
    clients,
    jwks: { keys: [options.state.signingKey] },
    features: {
      // Off: this provider only issues machine tokens; there is no login page.
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // A token request without `resource` is for the API: its tokens are JWTs the API verifies by itself.
        defaultResource: () => apiAudience,
        getResourceServerInfo: (ctx: KoaContextWithOIDC, resource: string) => {
          if (resource !== apiAudience) throw new errors.InvalidTarget(`unknown resource ${resource}; this provider issues tokens for ${apiAudience}`);
          return { audience: apiAudience, scope: allowedScope(ctx), accessTokenFormat: 'jwt', accessTokenTTL: ttl, jwt: { sign: { alg: 'ES256' } } };
        },
      },
    },
    extraTokenClaims: (_ctx, token) => {
      const clientId = (token as { clientId?: string }).clientId;
      if (clientId === localClientIds.operator) return { roles: ['operator'] };
      const customerId = customerOfScope(String((token as { scope?: string }).scope ?? ''));
      return customerId === undefined ? { roles: [] } : { roles: ['customer'], customer_id: customerId };
    },
    ttl: { ClientCredentials: ttl },
    // Errors are answered to the client; the default would also print each one to stderr.
    renderError: (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
  return new Provider(options.issuer, configuration);
}

/**
 * The scope a token request may be granted: the customers client may ask for exactly one
 * `customer:<id>`; the operator client for none. Any other scope is dropped from the token.
 */
function allowedScope(ctx: KoaContextWithOIDC): string {
  if (ctx.oidc.client?.clientId !== localClientIds.customers) return '';
  const scope = ctx.oidc.params?.scope;
  const asked = (typeof scope === 'string' ? scope : '').split(' ').filter((scope) => customerOfScope(scope) !== undefined);
  return asked.length === 1 ? customerScopeOf(customerOfScope(asked[0] ?? '') ?? '') : '';
}
