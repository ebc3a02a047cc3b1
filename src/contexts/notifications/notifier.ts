import type { Transporter } from 'nodemailer';
import { NotificationFailedError } from '../../domain/errors.ts';
import type { NotificationTemplate } from '../../domain/saga-steps.ts';
import type { Queryable } from '../../platform/database.ts';
import { renderTemplate, type TemplateData } from './templates.ts';

/** The sender address of every notification. */
export const notificationSender = 'orders@order-saga.local';

/** A stable Message-ID per order and template, so a receiver can drop a duplicate. */
export const messageIdFor = (orderId: string, template: NotificationTemplate) => `<${template}.${orderId}@order-saga.local>`;

/**
 * Sends one email per order and template over SMTP, idempotently: a second call sends nothing
 * and returns the first message id. A crash between the SMTP hand-over and the insert can send
 * a second copy with the same Message-ID (email delivery is at least once).
 * @throws NotificationFailedError when the SMTP server does not take the message (retry later).
 */
export async function sendNotification(
  db: Queryable,
  mailer: Pick<Transporter, 'sendMail'>,
  request: { orderId: string; template: NotificationTemplate; to: string; data: TemplateData },
): Promise<{ sentNow: boolean; messageId: string }> {
  const existing = await db.query<{ message_id: string }>('select message_id from notifications.sent_messages where order_id = $1 and template = $2', [request.orderId, request.template]);
  if (existing.rows[0]) return { sentNow: false, messageId: existing.rows[0].message_id };

  const messageId = messageIdFor(request.orderId, request.template);
  const { subject, text } = renderTemplate(request.template, request.data);
  try {
    await mailer.sendMail({ from: notificationSender, to: request.to, subject, text, messageId, headers: { 'X-Order-Id': request.orderId } });
  } catch (err) {
    throw new NotificationFailedError(request.orderId, (err as Error).message, { cause: err });
  }
  await db.query('insert into notifications.sent_messages (order_id, template, recipient, message_id) values ($1, $2, $3, $4) on conflict do nothing', [
    request.orderId,
    request.template,
    request.to,
    messageId,
  ]);
  return { sentNow: true, messageId };
}
