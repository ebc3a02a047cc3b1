import { connect } from 'node:net';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientErrorHandler } from '../../src/api/client-errors.ts';

describe("the API's answer to what Node's HTTP parser refuses", () => {
  const app = Fastify({ logger: false, clientErrorHandler });
  app.get('/', () => ({ ok: true }));
  let port = 0;

  beforeAll(async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  });

  afterAll(() => app.close());

  /** Sends raw bytes; resolves with everything the server wrote before it closed the connection. */
  const exchange = (request: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(Buffer.from(request, 'latin1')));
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString('utf8')));
      socket.on('error', reject);
      socket.on('close', () => resolve(answer));
    });

  it('answers headers over Node’s limit with 431 in the error shape and closes the connection', async () => {
    const answer = await exchange(`GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    const [head = '', body = ''] = answer.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(head).toMatch(new RegExp(`content-length: ${Buffer.byteLength(body)}`));
    expect(head).toMatch(/connection: close/);
    expect(JSON.parse(body)).toEqual({
      statusCode: 431,
      code: 'HEADERS_TOO_LARGE',
      error: 'Request Header Fields Too Large',
      message: expect.stringMatching(/HPE_HEADER_OVERFLOW/) as unknown,
    });
  });

  it('names what the parser refused in a 400 MALFORMED_REQUEST', async () => {
    const answer = await exchange('GET / HTTP/1.1\r\nHost: localhost\r\nBad Name: x\r\n\r\n');
    const body = JSON.parse(answer.split('\r\n\r\n')[1] ?? '') as unknown;
    expect(body).toEqual({
      statusCode: 400,
      code: 'MALFORMED_REQUEST',
      error: 'Bad Request',
      message: expect.stringMatching(/^the HTTP request is malformed and was not read: .*\(HPE_[A-Z_]+\)$/) as unknown,
    });
  });

  it('answers a malformed request that follows an answered one on a kept-alive connection', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'));
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('utf8');
        // The first answer is complete: send the malformed second request on the same connection.
        if (received.endsWith('{"ok":true}')) socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nBad Name: x\r\n\r\n');
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(received));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\{"ok":true\}HTTP\/1\.1 400 Bad Request\r\n[\s\S]*"code":"MALFORMED_REQUEST"/);
  });
});
