import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { problem } from './error-handler.ts';

/** What Node's HTTP parser attaches to the error of a request it refuses (llhttp's code and reason). */
interface ParserError extends Error {
  code?: string;
  reason?: string;
}

/**
 * Writes a whole HTTP/1.1 answer in the error shape on a socket no request object owns, then
 * closes it: after a parse error the stream cannot be resynchronised, so the connection ends.
 */
function answerOnSocket(socket: Duplex, statusCode: number, code: string, message: string, headers: Record<string, string> = {}): void {
  // Node's own rule: answer unless a response in flight on this connection (keep-alive,
  // pipelining) has begun to be sent, which our bytes would corrupt; then just close.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(problem(statusCode, code, message));
  const head = [
    `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? 'Error'}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  // The HTTP server is half-open (allowHalfOpen): end() only closes our side, so destroy once it is sent.
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
}

/**
 * Answers a request Node's HTTP parser refused before Fastify could route it (a control character
 * in a header, a NUL byte in the path, a malformed request line), in the error shape: 400
 * `MALFORMED_REQUEST` naming what the parser refused, 431 for headers over Node's limit, 408 for a
 * request not received in time. Passed as Fastify's `clientErrorHandler` option.
 */
export function clientErrorHandler(this: { log: FastifyBaseLogger }, err: ParserError, socket: Duplex): void {
  // The client went away: nobody is left to answer.
  if (err.code === 'ECONNRESET') return;
  this.log.debug({ err }, 'request refused by the HTTP parser');
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    answerOnSocket(socket, 431, 'HEADERS_TOO_LARGE', 'the request headers are larger than the server accepts (HPE_HEADER_OVERFLOW)');
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    answerOnSocket(socket, 408, 'REQUEST_TIMEOUT', 'the request was not received in time');
  } else {
    const what = err.reason ?? err.message;
    answerOnSocket(
      socket,
      400,
      'MALFORMED_REQUEST',
      `the HTTP request is malformed and was not read: ${what.charAt(0).toLowerCase()}${what.slice(1)} (${err.code ?? 'parse error'})`,
    );
  }
}

/**
 * Answers a CONNECT request (Node hands it to the server's `connect` event, never to Fastify, and
 * closes the connection unanswered when nothing listens): 405 in the error shape, as for any method
 * a path does not have. `allowed` lists the methods of the request's path.
 */
export function answerConnect(request: IncomingMessage, socket: Duplex, allowed: (path: string) => string[]): void {
  const path = (request.url ?? '').split('?')[0] ?? '';
  // A proxy's CONNECT names a host:port (authority form), which is none of our paths.
  const methods = path.startsWith('/') ? allowed(path) : [];
  answerOnSocket(
    socket,
    405,
    'METHOD_NOT_ALLOWED',
    `CONNECT is not allowed on ${path}: this server is not a proxy${methods.length > 0 ? `; allowed: ${methods.join(', ')}` : ''}`,
    { allow: methods.join(', ') },
  );
}
