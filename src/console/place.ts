import { api } from './api.ts';
import type { User } from './auth.ts';
import { field, h } from './dom.ts';

/** A line of the catalog (`GET /catalog`, from the inventory context). */
export interface CatalogItem {
  sku: string;
  name: string;
  priceCents: number;
  currency: string;
  stock: number;
}

/** The payment behaviours of the gateway simulator, as payment tokens (src/gateway/tokens.ts). */
const behaviours = [
  { value: 'approve', label: 'Approve', token: () => 'tok_approve' },
  { value: 'decline', label: 'Decline', token: () => 'tok_decline' },
  { value: 'fail', label: 'Fail N times, then approve', token: (n: number) => `tok_fail_${n}` },
  { value: 'slow', label: 'Slow (N ms), then approve', token: (n: number) => `tok_slow_${n}` },
  { value: 'unavailable', label: 'Gateway unavailable', token: () => 'tok_unavailable' },
] as const;

/**
 * The order form: a catalog line, a quantity, how the payment gateway behaves, and the flow, or
 * both, which places the same order in each flow at once (two orders, each with its own
 * Idempotency-Key). Calls `placed` with what the API accepted.
 */
export function placeForm(
  user: User,
  catalog: CatalogItem[],
  placed: (orders: { orderId: string; flow: string }[]) => void,
  onError: (err: unknown) => void,
): HTMLElement {
  const sku = h(
    'select',
    { name: 'sku', required: true },
    catalog.map((item) =>
      h('option', { value: item.sku }, `${item.name} (${item.sku}), ${(item.priceCents / 100).toFixed(2)} ${item.currency}, ${item.stock} in stock`),
    ),
  );
  // No upper bound here: the API's answer says what the limit is.
  const quantity = h('input', { name: 'quantity', type: 'number', min: 1, value: 1, required: true, inputmode: 'numeric' });
  const email = h('input', { name: 'email', type: 'email', value: `${user.customerId ?? 'customer'}@example.com`, required: true, autocomplete: 'email' });
  const behaviour = h(
    'select',
    { name: 'behaviour' },
    behaviours.map((b) => h('option', { value: b.value }, b.label)),
  );
  const times = h('input', { name: 'times', type: 'number', min: 0, max: 9999, value: 2, inputmode: 'numeric' });
  // What N means depends on the behaviour: failures before the approval, or a delay in milliseconds.
  behaviour.addEventListener('change', () => {
    if (behaviour.value === 'fail') times.value = '2';
    if (behaviour.value === 'slow') times.value = '3000';
  });
  const flows = h(
    'fieldset',
    { class: 'flows' },
    h('legend', {}, 'Flow'),
    (['both', 'orchestrated', 'choreographed'] as const).map((flow, i) =>
      h('label', {}, h('input', { type: 'radio', name: 'flow', value: flow, checked: i === 0 }), flow === 'both' ? 'Both, side by side' : flow),
    ),
  );
  const submit = h('button', { type: 'submit' }, 'Place order');
  const form = h(
    'form',
    { class: 'place', 'aria-labelledby': 'place-title' },
    h('h2', { id: 'place-title' }, 'Place an order'),
    h('p', { class: 'muted' }, `As customer ${user.customerId ?? '(none)'}. Orders of ${(1000).toFixed(2)} USD or more wait for an operator's review.`),
    field('Item', sku),
    field('Quantity', quantity),
    field('Email', email),
    field('Payment', behaviour, 'How the simulated payment gateway answers'),
    field('N (failures, or milliseconds)', times, 'Used by "Fail N times" and "Slow"'),
    flows,
    submit,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = behaviours.find((b) => b.value === behaviour.value) ?? behaviours[0];
    const flow = form.querySelector<HTMLInputElement>('input[name="flow"]:checked')?.value ?? 'both';
    const body = {
      customerId: user.customerId ?? '',
      email: email.value,
      items: [{ sku: sku.value, quantity: Number(quantity.value) }],
      paymentToken: chosen.token(Number(times.value)),
    };
    submit.disabled = true;
    const wanted = flow === 'both' ? ['orchestrated', 'choreographed'] : [flow];
    Promise.all(
      wanted.map((f) =>
        api<{ orderId: string; flow: string }>('POST', '/orders', {
          body: { ...body, flow: f },
          headers: { 'idempotency-key': `console-${crypto.randomUUID()}` },
        }),
      ),
    )
      .then((answers) => placed(answers.map((a) => ({ orderId: a.orderId, flow: a.flow }))))
      .catch(onError)
      .finally(() => (submit.disabled = false));
  });
  return form;
}
