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
  /**
   * Where the Temporal Web UI (ui-server) takes its users back after they sign in: when set, the
   * provider has a login page and a client for the Web UI (authorization code), whose users'
   * access tokens the UI passes to the API's codec endpoint. The login `operator` is an operator.
   */
  webUiRedirectUri?: string;
  /**
   * Where the web console (served by the API at `/`) takes its users back after they sign in: when
   * set, the provider has a login page and the console's public client (authorization code with
   * PKCE). The login `operator` is an operator; anyone else is the customer of that name.
   */
  consoleRedirectUris?: readonly string[];
}

/** What the provider keeps between restarts: tokens it signed stay valid, clients keep their secrets. */
export interface IdentityState {
  /** The ES256 private key (JWK) tokens are signed with; its public half is served at the JWKS URL. */
  signingKey: JWK;
  /** Secret of each client, by client id. */
  clientSecrets: Record<string, string>;
}

const newSecret = () => randomBytes(32).toString('base64url');

/** The clients with a secret: all but the console, a page in the browser, which can keep none (it uses PKCE). */
export const confidentialClientIds = [localClientIds.operator, localClientIds.customers, localClientIds.webUi];

/** A client's secret in the state; throws for a client the state has none for (ensureIdentityState gives every client one). */
function secretOf(state: IdentityState, clientId: string): string {
  const secret = state.clientSecrets[clientId];
  if (!secret) throw new Error(`the identity provider's state has no secret for client ${clientId}`);
  return secret;
}

/**
 * Reads the provider's state file, or writes a new one (signing key and client secrets) the first
 * time; a client added since the file was written gets its secret added. Only the owner may read it.
 */
export async function ensureIdentityState(path: string): Promise<IdentityState> {
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as IdentityState;
    const missing = confidentialClientIds.filter((id) => !state.clientSecrets[id]);
    if (missing.length === 0) return state;
    for (const id of missing) state.clientSecrets[id] = newSecret();
    writeFileSync(path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    return state;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: `local-${new Date().toISOString().slice(0, 10)}`, alg: 'ES256', use: 'sig' };
  const state: IdentityState = {
    signingKey,
    clientSecrets: Object.fromEntries(confidentialClientIds.map((id) => [id, newSecret()])),
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
    webUi: { clientId: localClientIds.webUi, clientSecret: state.clientSecrets[localClientIds.webUi] ?? '' },
  };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
}

/** The provider, ready to be served (`provider.callback()` is a Node request listener). */
export function createLocalIdentityProvider(options: LocalIdentityProviderOptions): Provider {
  const ttl = options.tokenTtlSeconds ?? 3600;
  const machineClients = [localClientIds.operator, localClientIds.customers].map((clientId) => ({
    client_id: clientId,
    client_secret: secretOf(options.state, clientId),
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic' as const,
    // Its one key is an ES256 key; the default (RS256) would need an RSA one.
    id_token_signed_response_alg: 'ES256' as const,
  }));
  const webUiClient = options.webUiRedirectUri
    ? [
        {
          client_id: localClientIds.webUi,
          client_secret: secretOf(options.state, localClientIds.webUi),
          grant_types: ['authorization_code', 'refresh_token'],
          redirect_uris: [options.webUiRedirectUri],
          response_types: ['code' as const],
          token_endpoint_auth_method: 'client_secret_basic' as const,
          id_token_signed_response_alg: 'ES256' as const,
        },
      ]
    : [];
  const consoleClient =
    options.consoleRedirectUris && options.consoleRedirectUris.length > 0
      ? [
          {
            client_id: localClientIds.console,
            // A public client: the page cannot keep a secret; PKCE (required for it) binds the code to the page that asked.
            token_endpoint_auth_method: 'none' as const,
            grant_types: ['authorization_code'],
            redirect_uris: [...options.consoleRedirectUris],
            response_types: ['code' as const],
            id_token_signed_response_alg: 'ES256' as const,
          },
        ]
      : [];
  const configuration: Configuration = {
    clients: [...machineClients, ...webUiClient, ...consoleClient],
    jwks: { keys: [options.state.signingKey] },
    // A person who signs in (the Web UI's login page): any login, its name as the subject.
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, name: id }) }),
    features: {
      // The login page of the Web UI's client: it takes any login and any password (local use only).
      devInteractions: { enabled: webUiClient.length + consoleClient.length > 0 },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // A token request without `resource` is for the API: its tokens are JWTs the API verifies by itself.
        defaultResource: () => apiAudience,
        // The Web UI's code is exchanged without naming a resource: its access token is for the API all the same.
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx: KoaContextWithOIDC, resource: string) => {
          if (resource !== apiAudience) throw new errors.InvalidTarget(`unknown resource ${resource}; this provider issues tokens for ${apiAudience}`);
          return { audience: apiAudience, scope: allowedScope(ctx), accessTokenFormat: 'jwt', accessTokenTTL: ttl, jwt: { sign: { alg: 'ES256' } } };
        },
      },
    },
    extraTokenClaims: (_ctx, token) => {
      const { clientId, accountId } = token as { clientId?: string; accountId?: string };
      if (clientId === localClientIds.operator) return { roles: ['operator'] };
      // Someone signed in to the Web UI: the login `operator` is an operator, anyone else has no role.
      if (clientId === localClientIds.webUi) return { roles: accountId === 'operator' ? ['operator'] : [] };
      // Someone signed in to the console: the login `operator` is an operator (reviews, dead
      // letters, any order), anyone else the customer of that name (places and follows its orders).
      if (clientId === localClientIds.console && accountId)
        return accountId === 'operator' ? { roles: ['operator'] } : { roles: ['customer'], customer_id: accountId };
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
