import type { AddressInfo } from 'node:net';
import { connect, createServer, type Socket } from 'node:net';

/** A TCP forwarder to a local port that can be unplugged: the dependency behind it becomes unreachable. */
export interface Cable {
  /** Where clients connect instead of the target. */
  readonly url: string;
  /** Connections refused while unplugged. */
  readonly refused: () => number;
  /** Cuts every open connection and resets each new one until plugged in again. */
  unplug(): void;
  plugIn(): void;
  close(): Promise<void>;
}

/**
 * The least invasive way to take DynamoDB away from the broker: DynamoDB Local keeps running with its data (it
 * is in memory: stopping it would lose the table), nothing in the broker or the edge changes, and the broker's
 * client sees exactly what a network outage looks like (connections reset), pointed here by configuration
 * alone (AWS_ENDPOINT_URL_DYNAMODB).
 */
export async function cableTo(targetPort: number, host = '127.0.0.1'): Promise<Cable> {
  const open = new Set<Socket>();
  let plugged = true;
  let refused = 0;
  const server = createServer((client) => {
    if (!plugged) {
      refused++;
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, host);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', drop);
      socket.on('close', drop);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    refused: () => refused,
    unplug() {
      plugged = false;
      for (const socket of open) socket.destroy();
      open.clear();
    },
    plugIn() {
      plugged = true;
    },
    close() {
      for (const socket of open) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
