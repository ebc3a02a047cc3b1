import Fastify, { type FastifyInstance } from 'fastify';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** One email the sink received. */
export interface ReceivedMail {
  messageId: string | null;
  from: string | null;
  to: string[];
  subject: string | null;
  text: string | null;
  orderId: string | null;
  receivedAt: string;
}

/** A running SMTP sink: an SMTP server that keeps every message, and an HTTP API to read them. */
export interface SmtpSink {
  smtp: SMTPServer;
  http: FastifyInstance;
  messages: ReceivedMail[];
  close(): Promise<void>;
}

/** Options of {@link buildSmtpSink}. */
export interface SmtpSinkOptions {
  /** Messages kept in memory; the oldest is dropped when one more arrives. @default 1000 */
  maxMessages?: number;
}

/**
 * Builds the development SMTP sink: accepts any mail without authentication (loopback only),
 * keeps the last `maxMessages` in memory, and serves `GET /messages?to=&orderId=` and
 * `DELETE /messages` over HTTP.
 */
export function buildSmtpSink(options: SmtpSinkOptions = {}): SmtpSink {
  const maxMessages = options.maxMessages ?? 1000;
  const messages: ReceivedMail[] = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          const to = (Array.isArray(mail.to) ? mail.to : mail.to ? [mail.to] : []).flatMap((a) => a.value.map((v) => v.address ?? ''));
          const orderId = mail.headers.get('x-order-id');
          messages.push({
            messageId: mail.messageId ?? null,
            from: mail.from?.value[0]?.address ?? null,
            to,
            subject: mail.subject ?? null,
            text: mail.text ?? null,
            orderId: typeof orderId === 'string' ? orderId : null,
            receivedAt: new Date().toISOString(),
          });
          if (messages.length > maxMessages) messages.splice(0, messages.length - maxMessages);
          callback();
        })
        .catch((err: Error) => callback(err));
    },
  });

  const http = Fastify({ logger: false });
  http.get('/messages', (request) => {
    const { to, orderId } = request.query as { to?: string; orderId?: string };
    return { data: messages.filter((m) => (to === undefined || m.to.includes(to)) && (orderId === undefined || m.orderId === orderId)) };
  });
  http.delete('/messages', () => {
    messages.length = 0;
    return { deleted: true };
  });
  http.get('/healthz', () => ({ status: 'ok' }));

  return {
    smtp,
    http,
    messages,
    async close() {
      await http.close();
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    },
  };
}

/** Starts the sink's SMTP and HTTP servers on 127.0.0.1 (port 0 picks a free one). */
export async function startSmtpSink(
  ports: { smtpPort: number; httpPort: number },
  options: SmtpSinkOptions = {},
): Promise<SmtpSink & { smtpPort: number; httpUrl: string }> {
  const sink = buildSmtpSink(options);
  await new Promise<void>((resolve, reject) => {
    sink.smtp.once('error', reject);
    sink.smtp.listen(ports.smtpPort, '127.0.0.1', () => resolve());
  });
  const address = sink.smtp.server.address();
  const smtpPort = typeof address === 'object' && address ? address.port : ports.smtpPort;
  const httpUrl = await sink.http.listen({ port: ports.httpPort, host: '127.0.0.1' });
  return { ...sink, smtpPort, httpUrl };
}
