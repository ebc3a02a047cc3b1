import { createServer } from 'node:net';

/** True when nothing listens on `host:port`, so a server of ours can bind it. */
export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A port on 127.0.0.1 that was free a moment ago, picked at random below Linux's ephemeral range
 * (32768-60999): a port the OS hands out for `listen(0)` is one it also hands to outgoing
 * connections, and with Kafka, PostgreSQL and Temporal clients busy one could take it between
 * the choice and the server's bind.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * 22_000);
    if (await isPortFree(port, host)) return port;
  }
  return osChosenPort(host);
}

/** A port the OS picks for `listen(0)`. */
async function osChosenPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The first of `size` consecutive ports on 127.0.0.1 that were all free a moment ago, between
 * `from` and `to` (the cluster's Temporal services need a block, and store each port as smallint).
 */
export async function freePortRange(size: number, from = 20_000, to = 30_000): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = from + Math.floor(Math.random() * (to - from - size));
    const free = await Promise.all(Array.from({ length: size }, (_, i) => isPortFree(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no ${size} free ports in a row between ${from} and ${to}`);
}
