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
  const existing = await db.query<{ message_id: string }>('select message_id from notifications.sent_messages where order_id = $1 and template = $2', [
    request.orderId,
    request.template,
  ]);
  if (existing.rows[0]) return { sentNow: false, messageId: existing.rows[0].message_id };

  const messageId = await deliverEmail(mailer, request);
  await db.query('insert into notifications.sent_messages (order_id, template, recipient, message_id) values ($1, $2, $3, $4) on conflict do nothing', [
    request.orderId,
    request.template,
    request.to,
    messageId,
  ]);
  return { sentNow: true, messageId };
}

/**
 * Hands one email to the SMTP server, with the stable Message-ID of its order and template; no
 * database work, so no transaction waits on SMTP.
 * @throws NotificationFailedError when the SMTP server does not take the message (retry later).
 */
export async function deliverEmail(
  mailer: Pick<Transporter, 'sendMail'>,
  request: { orderId: string; template: NotificationTemplate; to: string; data: TemplateData },
): Promise<string> {
  const messageId = messageIdFor(request.orderId, request.template);
  const { subject, text } = renderTemplate(request.template, request.data);
  try {
    await mailer.sendMail({ from: notificationSender, to: request.to, subject, text, messageId, headers: { 'X-Order-Id': request.orderId } });
  } catch (err) {
    throw new NotificationFailedError(request.orderId, (err as Error).message, { cause: err });
  }
  return messageId;
}

/** An email waiting to be sent, claimed by one event. */
export interface ClaimedMessage {
  template: NotificationTemplate;
  data: Omit<TemplateData, 'orderId'>;
}

/**
 * Claims the order's pending emails for the event `claimedBy` and returns those it holds
 * (including the ones it claimed before a crash). Emails claimed by another event are left to
 * that event: two events never send the same email. Emails already sent are dropped.
 */
export async function claimPendingMessages(db: Queryable, orderId: string, claimedBy: string): Promise<ClaimedMessage[]> {
  await db.query(
    'delete from notifications.pending_messages p using notifications.sent_messages s where p.order_id = $1 and s.order_id = p.order_id and s.template = p.template',
    [orderId],
  );
  const { rows } = await db.query<ClaimedMessage>(
    `update notifications.pending_messages set claimed_by = $2 where order_id = $1 and (claimed_by is null or claimed_by = $2) returning template, data`,
    [orderId, claimedBy],
  );
  return rows;
}

/** Records an email as sent and drops it from the pending ones; false when it was recorded already. */
export async function recordSent(db: Queryable, request: { orderId: string; template: NotificationTemplate; to: string; messageId: string }): Promise<boolean> {
  await db.query('delete from notifications.pending_messages where order_id = $1 and template = $2', [request.orderId, request.template]);
  const { rowCount } = await db.query(
    'insert into notifications.sent_messages (order_id, template, recipient, message_id) values ($1, $2, $3, $4) on conflict do nothing',
    [request.orderId, request.template, request.to, request.messageId],
  );
  return (rowCount ?? 0) > 0;
}

// The choreographed flow learns an order's recipient from order.placed, and the events that ask
// for an email may arrive before it: those emails wait as pending messages until the recipient
// is known (migration 1795000100000_pending.sql).

/** Records the order's recipient; a second call keeps the first. */
export async function recordRecipient(db: Queryable, orderId: string, email: string): Promise<void> {
  await db.query('insert into notifications.recipients (order_id, email) values ($1, $2) on conflict do nothing', [orderId, email]);
}

/** The order's recipient, or undefined while order.placed has not been seen. */
export async function recipientOf(db: Queryable, orderId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ email: string }>('select email from notifications.recipients where order_id = $1', [orderId]);
  return rows[0]?.email;
}

/** Queues the order's email of `template` until it is claimed and sent; a second call keeps the first. */
export async function queueMessage(db: Queryable, orderId: string, template: NotificationTemplate, data: Omit<TemplateData, 'orderId'>): Promise<void> {
  await db.query('insert into notifications.pending_messages (order_id, template, data) values ($1, $2, $3) on conflict do nothing', [
    orderId,
    template,
    JSON.stringify(data),
  ]);
}
