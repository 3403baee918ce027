/**
 * A TCP proxy the tests can break: it forwards to a real server, and can be
 * stopped (every connection cut, nothing listening), started again on the
 * same port, or told to swallow traffic in both directions, like a server
 * that hangs or a network that drops packets.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  /** When true, bytes are accepted and dropped, in both directions. */
  blackhole = false;
  /** Client bytes for which this answers true are dropped (a server that ignores one request). */
  dropFromClient: (chunk: Buffer) => boolean = () => false;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** Listens (on the port of the previous start, if any). */
  async start(): Promise<void> {
    const server = createServer((client) => this.relay(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address !== null && typeof address === 'object') this.port = address.port;
    this.server = server;
  }

  /** Stops listening and cuts every connection, like a server going down. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private relay(client: Socket): void {
    const upstream = connect(this.targetPort, this.targetHost);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.sockets.add(from);
      from.on('data', (chunk: Buffer) => {
        if (this.blackhole || (from === client && this.dropFromClient(chunk))) return;
        to.write(chunk);
      });
      from.on('error', () => to.destroy());
      from.on('close', () => {
        this.sockets.delete(from);
        to.destroy();
      });
    }
  }
}
