import * as oauth from 'oauth4webapi';

/** The console's settings, from the API (`/console/config.json`). */
export interface ConsoleConfig {
  issuer: string;
  clientId: string;
  temporalUiUrl: string;
  namespace: string;
  zipkinUrl: string;
  mailUrl: string;
}

/** Who signed in, from the claims of their access token (the API checks the token; the page only shows who it is). */
export interface User {
  subject: string;
  customerId: string | null;
  roles: string[];
}

const tokenKey = 'order-saga.console.token';
const pendingKey = 'order-saga.console.sign-in';

/** The access token of whoever signed in, kept for this tab only (sessionStorage), while it is valid. */
export function accessToken(): string | null {
  const stored = sessionStorage.getItem(tokenKey);
  if (!stored) return null;
  const { token, expiresAt } = JSON.parse(stored) as { token: string; expiresAt: number };
  return Date.now() < expiresAt - 10_000 ? token : null;
}

/** The user the token is for, or null when nobody is signed in. */
export function currentUser(): User | null {
  const token = accessToken();
  if (!token) return null;
  const claims = JSON.parse(atob((token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/'))) as {
    sub?: string;
    roles?: string[];
    customer_id?: string;
  };
  return { subject: claims.sub ?? '', customerId: claims.customer_id ?? null, roles: claims.roles ?? [] };
}

/** Where the identity provider sends people back: the console's own page, as the provider has it registered. */
const redirectUri = () => `${location.origin}/`;

let settings: { config: ConsoleConfig; server: Promise<oauth.AuthorizationServer> } | undefined;
const client = (config: ConsoleConfig): oauth.Client => ({ client_id: config.clientId, id_token_signed_response_alg: 'ES256' });
// A local issuer is plain HTTP (127.0.0.1); a real one is HTTPS, where the library needs no leave.
const insecureIfLocal = (config: ConsoleConfig) => ({ [oauth.allowInsecureRequests]: new URL(config.issuer).protocol === 'http:' });

/** Reads the issuer's discovery document once. */
export function configureSignIn(config: ConsoleConfig): void {
  const issuer = new URL(config.issuer);
  settings = {
    config,
    server: oauth.discoveryRequest(issuer, insecureIfLocal(config)).then((response) => oauth.processDiscoveryResponse(issuer, response)),
  };
}

function required() {
  if (!settings) throw new Error('the console has no sign-in settings yet');
  return settings;
}

export const signIn = {
  /** Sends the browser to the identity provider (authorization code with PKCE: the code is bound to this tab's secret verifier). */
  async start(): Promise<void> {
    const { config, server } = required();
    const as = await server;
    if (!as.authorization_endpoint) throw new Error(`${config.issuer} names no authorization endpoint`);
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    sessionStorage.setItem(pendingKey, JSON.stringify({ verifier, state, returnTo: location.hash }));
    const url = new URL(as.authorization_endpoint);
    url.searchParams.set('client_id', config.clientId);
    url.searchParams.set('redirect_uri', redirectUri());
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('scope', 'openid');
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
    url.searchParams.set('code_challenge_method', 'S256');
    url.searchParams.set('state', state);
    location.assign(url.href);
  },

  /** On the way back from the identity provider (`?code=…&state=…`): exchanges the code for a token. Returns false when the page was not a sign-in's return. */
  async finish(): Promise<boolean> {
    const here = new URL(location.href);
    if (!here.searchParams.has('state')) return false;
    const pending = sessionStorage.getItem(pendingKey);
    sessionStorage.removeItem(pendingKey);
    // The address bar loses the code whatever happens: it is single-use.
    history.replaceState(null, '', `/${pending ? (JSON.parse(pending) as { returnTo: string }).returnTo : ''}`);
    if (!pending) throw new Error('this sign-in was not started from this tab; sign in again');
    const { verifier, state } = JSON.parse(pending) as { verifier: string; state: string };
    const { config, server } = required();
    const as = await server;
    const parameters = oauth.validateAuthResponse(as, client(config), here, state);
    const response = await oauth.authorizationCodeGrantRequest(as, client(config), oauth.None(), parameters, redirectUri(), verifier, insecureIfLocal(config));
    const result = await oauth.processAuthorizationCodeResponse(as, client(config), response);
    sessionStorage.setItem(tokenKey, JSON.stringify({ token: result.access_token, expiresAt: Date.now() + (result.expires_in ?? 300) * 1000 }));
    return true;
  },

  /** Forgets the token (the identity provider's own session stays: signing in again may not ask for a password). */
  out(): void {
    sessionStorage.removeItem(tokenKey);
    location.reload();
  },

  /** The API refused the token, or it ran out: forget it, and tell the page (which offers to sign in again, keeping what is on screen). */
  expired(): void {
    sessionStorage.removeItem(tokenKey);
    document.dispatchEvent(new CustomEvent('signed-out'));
  },
};
