import { randomUUID } from 'node:crypto';
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
 * Sends one email per order and template over SMTP, idempotently (`recipient`: the address as the
 * order carries it, sealed, which is what the record keeps; `to` by default): a second call sends nothing
 * and returns the first message id. A crash between the SMTP hand-over and the insert can send
 * a second copy with the same Message-ID (email delivery is at least once).
 * @throws NotificationFailedError when the SMTP server does not take the message (retry later).
 */
export async function sendNotification(
  db: Queryable,
  mailer: Pick<Transporter, 'sendMail'>,
  request: { orderId: string; template: NotificationTemplate; to: string; data: TemplateData; recipient?: string },
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
    request.recipient ?? request.to,
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
 * How long a claim on an order's emails holds while its attempt has not recorded them sent. Far
 * longer than a hand-over to SMTP takes; after a crash between the claim and the record, the
 * redelivered event sends the emails once this has passed.
 */
export const emailClaimLeaseMs = 30_000;

/**
 * Claims the order's pending emails for one delivery attempt of the event `eventId` and returns
 * those it now holds. An email claimed by another event is left to that event (its delivery
 * sends it); one whose claim has run out is taken over. Emails already sent are dropped.
 * @throws NotificationFailedError (retryable) when another attempt of the same event holds a live
 * claim: it is sending them, and this attempt must neither send them again nor finish before
 * that one has recorded them (it would mark the event applied with the emails unrecorded).
 */
export async function claimPendingMessages(db: Queryable, orderId: string, eventId: string, leaseMs = emailClaimLeaseMs): Promise<ClaimedMessage[]> {
  await db.query(
    'delete from notifications.pending_messages p using notifications.sent_messages s where p.order_id = $1 and s.order_id = p.order_id and s.template = p.template',
    [orderId],
  );
  const claimant = `${eventId} ${randomUUID()}`;
  const { rows } = await db.query<ClaimedMessage>(
    `update notifications.pending_messages set claimed_by = $2, claimed_at = now()
     where order_id = $1 and (claimed_by is null or claimed_at is null or claimed_at < now() - make_interval(secs => $3))
     returning template, data`,
    [orderId, claimant, leaseMs / 1000],
  );
  const heldByAnotherAttempt = await db.query(
    "select 1 from notifications.pending_messages where order_id = $1 and split_part(claimed_by, ' ', 1) = $2 and claimed_by <> $3",
    [orderId, eventId, claimant],
  );
  if ((heldByAnotherAttempt.rowCount ?? 0) > 0)
    throw new NotificationFailedError(orderId, `another delivery of event ${eventId} is sending this order's emails; retrying once it has recorded them`);
  return rows;
}

/** Drops the order's pending emails (its customer was erased: they can never be sent). */
export async function dropPendingMessages(db: Queryable, orderId: string): Promise<void> {
  await db.query('delete from notifications.pending_messages where order_id = $1', [orderId]);
}

/** Records an email as sent (`to`: the recipient as the order carries it, sealed) and drops it from the pending ones; false when it was recorded already. */
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
