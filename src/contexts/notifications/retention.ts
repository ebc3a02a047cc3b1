import { deleteOlderThan, type Sweep } from '../../platform/retention.ts';

/**
 * The notifications context's records past their retention (docs/retention.md): the emails sent
 * (which make a redelivered request send nothing, so kept at least as long as the dedupe window)
 * and the recipients learned from order.placed (an address, personal data, needed only while the
 * order may still ask for an email).
 */
export function notificationsSweep(retentionMs: number): Sweep {
  return {
    name: 'notifications',
    async run(client) {
      const sent = await deleteOlderThan(client, 'notifications.sent_messages', 'sent_at', retentionMs);
      const recipients = await deleteOlderThan(client, 'notifications.recipients', 'learned_at', retentionMs);
      return sent + recipients;
    },
  };
}
