import type pg from 'pg';

/**
 * The PostgreSQL channel the projector notifies, in the transaction that changed an order's view,
 * with the order id as payload: a listener hears of a change once it is committed, never before.
 */
export const orderChangedChannel = 'read_model_order_changed';

/** What a listener is told: this order's view and timeline changed, or (`'*'`) anything may have changed while the listener was deaf. */
export type OrderChangeListener = (orderId: string) => void;

/** Changes of the read model, by order, for the API's live timelines (`GET /orders/:id/stream`). */
export interface OrderChanges {
  /** Calls `listener` after each committed change of `orderId`; returns what stops it. */
  subscribe(orderId: string, listener: OrderChangeListener): () => void;
  /** Stops listening and frees the connection. */
  close(): Promise<void>;
}

/** Options of {@link listenForOrderChanges}. */
export interface OrderChangesOptions {
  /**
   * How long to wait before connecting again after the listening connection was lost.
   * @default 1000
   */
  reconnectDelayMs?: number;
  /** Where a lost connection is reported (a pino or Fastify logger). */
  log?: { warn(details: object, message: string): void };
}

/**
 * LISTENs on {@link orderChangedChannel} over one connection of `pool`, taken when the first
 * listener subscribes and kept until {@link OrderChanges.close}. Notifications sent while the connection was lost
 * are gone: when it is back, every listener is called once (it reads the order again), so that a
 * page following an order never misses its end.
 */
export function listenForOrderChanges(pool: pg.Pool, options: OrderChangesOptions = {}): OrderChanges {
  const listeners = new Map<string, Set<OrderChangeListener>>();
  const reconnectDelayMs = options.reconnectDelayMs ?? 1000;
  let client: pg.PoolClient | undefined;
  let connecting: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;
  let closed = false;

  const notifyAll = () => {
    for (const [orderId, set] of listeners) for (const listener of set) listener(orderId);
  };
  const onNotification = (message: pg.Notification) => {
    if (message.channel !== orderChangedChannel || !message.payload) return;
    for (const listener of listeners.get(message.payload) ?? []) listener(message.payload);
  };
  const released = new WeakSet<pg.PoolClient>();
  const lost = (held: pg.PoolClient, err: unknown) => {
    // A lost connection may both fail its query and emit 'error': it is given back once.
    if (released.has(held)) return;
    released.add(held);
    options.log?.warn({ err }, 'the read model change listener lost its connection; listening again shortly');
    held.removeListener('notification', onNotification);
    held.release(err instanceof Error ? err : true);
    if (client === held) client = undefined;
    schedule();
  };
  const connect = async (): Promise<void> => {
    const held = await pool.connect();
    held.on('notification', onNotification);
    held.on('error', (err) => lost(held, err));
    try {
      await held.query(`listen ${orderChangedChannel}`);
    } catch (err) {
      lost(held, err);
      return;
    }
    if (closed || listeners.size === 0) {
      held.removeListener('notification', onNotification);
      released.add(held);
      held.release();
      return;
    }
    client = held;
    // What changed while nobody listened (the first connection: nothing was missed, and a read is cheap).
    notifyAll();
  };
  const ensure = () => {
    if (closed || client || connecting || retry) return;
    connecting = connect()
      .catch((err: unknown) => {
        options.log?.warn({ err }, 'the read model change listener could not connect; trying again shortly');
        schedule();
      })
      .finally(() => (connecting = undefined));
  };
  const schedule = () => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      if (listeners.size > 0) ensure();
    }, reconnectDelayMs);
    retry.unref();
  };

  return {
    subscribe(orderId, listener) {
      let set = listeners.get(orderId);
      if (!set) listeners.set(orderId, (set = new Set()));
      set.add(listener);
      ensure();
      return () => {
        set.delete(listener);
        if (set.size === 0) listeners.delete(orderId);
      };
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      await connecting;
      listeners.clear();
      if (client) {
        const held = client;
        client = undefined;
        held.removeListener('notification', onNotification);
        await held.query(`unlisten ${orderChangedChannel}`).catch(() => undefined);
        if (!released.has(held)) held.release();
        released.add(held);
      }
    },
  };
}
