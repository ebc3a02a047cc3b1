import type { Sweep } from '../platform/retention.ts';

/**
 * The read model's ended orders past their retention (docs/retention.md): an order confirmed or
 * cancelled whose view has not changed for `retentionMs` goes with its timeline, a batch of orders
 * per statement. An order that has not ended stays, however old: it still needs an operator.
 */
export function readModelSweep(retentionMs: number, batchSize = 500): Sweep {
  return {
    name: 'read_model',
    async run(client) {
      let removed = 0;
      for (;;) {
        const { rows } = await client.query<{ orders: number }>(
          `with ended as (
             select order_id from read_model.order_view
             where status in ('confirmed', 'cancelled') and updated_at < now() - make_interval(secs => $1)
             limit $2
           ),
           timeline as (delete from read_model.order_timeline t using ended where t.order_id = ended.order_id),
           views as (delete from read_model.order_view v using ended where v.order_id = ended.order_id returning 1)
           select count(*)::int as orders from views`,
          [retentionMs / 1000, batchSize],
        );
        removed += rows[0]!.orders;
        if (rows[0]!.orders < batchSize) return removed;
      }
    },
  };
}
