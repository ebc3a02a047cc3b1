import type pg from 'pg';
import { OutOfStockError, UnknownSkuError } from '../../domain/errors.ts';
import { shopCurrency, type Money } from '../../domain/money.ts';
import type { OrderLine, PricedLine } from '../../domain/order.ts';
import { withTransaction, type Queryable } from '../../platform/database.ts';

/** Stock held for one order, priced from the catalog. */
export interface Reservation {
  orderId: string;
  status: 'reserved' | 'released';
  lines: PricedLine[];
  total: Money;
}

interface ReservationRow {
  order_id: string;
  status: 'reserved' | 'released';
  lines: PricedLine[];
  total_cents: number;
  currency: string;
}

const toReservation = (row: ReservationRow): Reservation => ({
  orderId: row.order_id,
  status: row.status,
  lines: row.lines,
  total: { amountCents: row.total_cents, currency: row.currency },
});

/** Adds up the quantity per SKU, so an order naming a SKU twice is checked against stock once. */
function quantitiesBySku(items: OrderLine[]): Map<string, number> {
  const bySku = new Map<string, number>();
  for (const { sku, quantity } of items) bySku.set(sku, (bySku.get(sku) ?? 0) + quantity);
  return bySku;
}

/**
 * Reserves the order's items at catalog prices, idempotently by order id: a second call returns
 * the first reservation and takes no more stock; a call after a release returns the released
 * reservation and takes nothing.
 * @throws UnknownSkuError when an item is not in the catalog.
 * @throws OutOfStockError when there is not enough stock of an item (nothing is reserved).
 */
export function reserveStock(pool: pg.Pool, orderId: string, items: OrderLine[]): Promise<Reservation> {
  return withTransaction(pool, (tx) => reserveStockIn(tx, orderId, items));
}

/** {@link reserveStock} inside the caller's transaction `tx` (the choreographed flow adds its outbox rows to it). */
export async function reserveStockIn(tx: Queryable, orderId: string, items: OrderLine[]): Promise<Reservation> {
  const existing = await tx.query<ReservationRow>('select * from inventory.reservations where order_id = $1', [orderId]);
  if (existing.rows[0]) return toReservation(existing.rows[0]);

  const wanted = quantitiesBySku(items);
  // Lock the catalog rows in SKU order, so two orders for the same SKUs cannot deadlock.
  const skus = [...wanted.keys()].sort();
  const catalog = await tx.query<{ sku: string; price_cents: number; currency: string; stock: number }>(
    'select sku, price_cents, currency, stock from inventory.catalog where sku = any($1) order by sku for update',
    [skus],
  );
  const bySku = new Map(catalog.rows.map((row) => [row.sku, row]));
  for (const [sku, quantity] of wanted) {
    const row = bySku.get(sku);
    if (!row) throw new UnknownSkuError(sku);
    if (row.stock < quantity) throw new OutOfStockError(sku, quantity, row.stock);
  }
  const lines: PricedLine[] = items.map(({ sku, quantity }) => {
    const unitPriceCents = bySku.get(sku)!.price_cents;
    return { sku, quantity, unitPriceCents, lineTotalCents: unitPriceCents * quantity };
  });
  const total: Money = { amountCents: lines.reduce((sum, l) => sum + l.lineTotalCents, 0), currency: catalog.rows[0]?.currency ?? shopCurrency };

  const inserted = await tx.query<ReservationRow>(
    `insert into inventory.reservations (order_id, status, lines, total_cents, currency, reserved_at)
     values ($1, 'reserved', $2, $3, $4, now())
     on conflict (order_id) do nothing
     returning *`,
    [orderId, JSON.stringify(lines), total.amountCents, total.currency],
  );
  if (!inserted.rows[0]) {
    // A concurrent call for the same order committed first (we waited on its row locks): its
    // reservation stands, and this one takes nothing.
    const winner = await tx.query<ReservationRow>('select * from inventory.reservations where order_id = $1', [orderId]);
    return toReservation(winner.rows[0]!);
  }
  for (const [sku, quantity] of wanted) {
    await tx.query('update inventory.catalog set stock = stock - $2 where sku = $1', [sku, quantity]);
  }
  return toReservation(inserted.rows[0]);
}

/**
 * Releases the order's reservation and puts its stock back, idempotently: releasing twice puts
 * stock back once. Releasing an order that never reserved records a release so that a late
 * reserve takes nothing, and returns `null`.
 */
export function releaseStock(pool: pg.Pool, orderId: string): Promise<ReleaseOutcome> {
  return withTransaction(pool, (tx) => releaseStockIn(tx, orderId));
}

/** What {@link releaseStock} did. */
export interface ReleaseOutcome {
  /** True when this call put stock back. */
  releasedNow: boolean;
  /** True when this call recorded a release for an order that never reserved. */
  tombstonedNow: boolean;
  /** The released reservation, null when the order never reserved anything. */
  reservation: Reservation | null;
}

/** {@link releaseStock} inside the caller's transaction `tx`. */
export async function releaseStockIn(tx: Queryable, orderId: string): Promise<ReleaseOutcome> {
  const released = await tx.query<ReservationRow>(
    `update inventory.reservations set status = 'released', released_at = now()
      where order_id = $1 and status = 'reserved'
      returning *`,
    [orderId],
  );
  if (released.rows[0]) {
    for (const [sku, quantity] of quantitiesBySku(released.rows[0].lines)) {
      await tx.query('update inventory.catalog set stock = stock + $2 where sku = $1', [sku, quantity]);
    }
    return { releasedNow: true, tombstonedNow: false, reservation: toReservation(released.rows[0]) };
  }
  const tombstone = await tx.query<ReservationRow>(
    `insert into inventory.reservations (order_id, status, lines, total_cents, currency, released_at)
     values ($1, 'released', '[]', 0, $2, now())
     on conflict (order_id) do nothing
     returning *`,
    [orderId, shopCurrency],
  );
  if (tombstone.rows[0]) return { releasedNow: false, tombstonedNow: true, reservation: null };
  const existing = await tx.query<ReservationRow>('select * from inventory.reservations where order_id = $1', [orderId]);
  const reservation = toReservation(existing.rows[0]!);
  return { releasedNow: false, tombstonedNow: false, reservation: reservation.lines.length > 0 ? reservation : null };
}

/** Stock of one SKU (tests and the API). */
export async function stockOf(pool: pg.Pool, sku: string): Promise<number> {
  const { rows } = await pool.query<{ stock: number }>('select stock from inventory.catalog where sku = $1', [sku]);
  if (!rows[0]) throw new UnknownSkuError(sku);
  return rows[0].stock;
}

/** The SKUs of `skus` that the catalog does not have, in the order given (the API refuses such an order). */
export async function unknownSkus(db: Queryable, skus: readonly string[]): Promise<string[]> {
  const { rows } = await db.query<{ sku: string }>('select sku from inventory.catalog where sku = any($1)', [skus]);
  const known = new Set(rows.map((r) => r.sku));
  return skus.filter((sku) => !known.has(sku));
}

/** One product of the catalog, with its price and the stock on hand. */
export interface CatalogItem {
  sku: string;
  name: string;
  priceCents: number;
  currency: string;
  stock: number;
}

/** The whole catalog, by SKU (what a shop front lists; it is small: no paging). */
export async function listCatalog(db: Queryable): Promise<CatalogItem[]> {
  const { rows } = await db.query<{ sku: string; name: string; price_cents: number; currency: string; stock: number }>(
    'select sku, name, price_cents, currency, stock from inventory.catalog order by sku',
  );
  return rows.map((row) => ({ sku: row.sku, name: row.name, priceCents: row.price_cents, currency: row.currency, stock: row.stock }));
}
