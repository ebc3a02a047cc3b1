import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpSink } from '../../src/smtp-sink/smtp-sink.ts';

describe('SMTP sink', () => {
  let sink: Awaited<ReturnType<typeof startSmtpSink>>;

  beforeAll(async () => {
    sink = await startSmtpSink({ smtpPort: 0, httpPort: 0 }, { maxMessages: 3 });
  });
  afterAll(async () => {
    await sink?.close();
  });

  it('keeps the last SMTP_SINK_MAX_MESSAGES messages, dropping the oldest', async () => {
    const transport = createTransport({ host: '127.0.0.1', port: sink.smtpPort, secure: false, ignoreTLS: true });
    try {
      for (let i = 1; i <= 5; i++) {
        await transport.sendMail({
          from: 'shop@example.com',
          to: 'ada@example.com',
          subject: `mail ${i}`,
          text: 'hi',
          headers: { 'x-order-id': `order-${i}` },
        });
      }
    } finally {
      transport.close();
    }
    const listed = (await (await fetch(`${sink.httpUrl}/messages?to=ada@example.com`)).json()) as { data: { subject: string; orderId: string }[] };
    expect(listed.data.map((m) => m.subject)).toEqual(['mail 3', 'mail 4', 'mail 5']);
    expect(sink.messages).toHaveLength(3);
  });
});
