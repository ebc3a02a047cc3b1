/** ISO 4217 code of the one currency the shop sells in. */
export const shopCurrency = 'USD';

/** An amount of money in integer minor units (cents), never a float. */
export interface Money {
  amountCents: number;
  currency: string;
}

/** `12.34 USD` for messages and emails. */
export function formatMoney(money: Money): string {
  return `${(money.amountCents / 100).toFixed(2)} ${money.currency}`;
}
