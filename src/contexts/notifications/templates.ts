import { formatMoney, type Money } from '../../domain/money.ts';
import type { NotificationTemplate } from '../../domain/saga-steps.ts';

/** What a template needs to render. */
export interface TemplateData {
  orderId: string;
  total?: Money | null;
  reason?: string | null;
}

/** Subject and plain-text body of a notification email. */
export function renderTemplate(template: NotificationTemplate, data: TemplateData): { subject: string; text: string } {
  switch (template) {
    case 'order_confirmed':
      return {
        subject: `Order ${data.orderId} confirmed`,
        text: `Your order ${data.orderId} is confirmed${data.total ? ` (${formatMoney(data.total)})` : ''}. Thank you!`,
      };
    case 'order_cancelled':
      return {
        subject: `Order ${data.orderId} cancelled`,
        text: `Your order ${data.orderId} was cancelled (${(data.reason ?? 'unknown').replaceAll('_', ' ')}). You have not been charged, or your payment was refunded.`,
      };
  }
}
