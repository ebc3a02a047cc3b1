import { accessToken, signIn } from './auth.ts';

/** An error answer of the API (its one shape, `{ statusCode, code, error, message }`), or a request that got no answer. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The API's error, in words: what was asked, what it answered and why. */
async function errorOf(method: string, path: string, response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const problem = JSON.parse(text) as { code?: string; message?: string };
    return new ApiError(
      response.status,
      problem.code ?? 'HTTP',
      `${method} ${path}: ${problem.message ?? text} (${problem.code ?? 'error'}, HTTP ${response.status})`,
    );
  } catch {
    return new ApiError(response.status, 'HTTP', `${method} ${path}: HTTP ${response.status} ${response.statusText}`);
  }
}

/** The signed-in user's token; when there is none any more (it expired, or was removed), the page is told and the call is not sent. */
function tokenFor(method: string, path: string): string {
  const token = accessToken();
  if (token) return token;
  signIn.expired();
  throw new ApiError(401, 'SIGNED_OUT', `${method} ${path} was not sent: your session has ended; sign in again`);
}

/** Sends a request with the signed-in user's token; resolves with the JSON answer, or rejects with an {@link ApiError} that says what went wrong. */
export async function api<T>(method: 'GET' | 'POST', path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<T> {
  const token = tokenFor(method, path);
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
  } catch (err) {
    throw new ApiError(0, 'NO_ANSWER', `${method} ${path}: the API did not answer (${err instanceof Error ? err.message : String(err)})`);
  }
  if (response.status === 401) void signIn.expired();
  if (!response.ok) throw await errorOf(method, path, response);
  return (await response.json()) as T;
}

/**
 * Follows a server-sent event stream of the API (`GET /orders/:id/stream`) with the user's token
 * (fetch rather than EventSource, which cannot send one): calls `onEvent` with each event's name
 * and parsed data until the stream ends or `signal` aborts.
 */
export async function followStream(path: string, onEvent: (name: string, data: unknown) => void, signal: AbortSignal): Promise<void> {
  const token = tokenFor('GET', path);
  let response: Response;
  try {
    response = await fetch(path, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new ApiError(0, 'NO_ANSWER', `GET ${path}: the API did not answer (${err instanceof Error ? err.message : String(err)})`);
  }
  if (response.status === 401) void signIn.expired();
  if (!response.ok || !response.body) throw await errorOf('GET', path, response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    let chunk: ReadableStreamReadResult<string>;
    try {
      chunk = await reader.read();
    } catch (err) {
      if (signal.aborted) throw err;
      throw new ApiError(0, 'NO_ANSWER', `GET ${path}: the connection to the API was lost (${err instanceof Error ? err.message : String(err)})`);
    }
    const { value, done } = chunk;
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      }
      if (data.length > 0) onEvent(name, JSON.parse(data.join('\n')) as unknown);
    }
  }
}
