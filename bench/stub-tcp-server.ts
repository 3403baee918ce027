/**
 * A TCP server (the real listener, framing and dispatch) whose only service
 * answers every login at once with a fixed session: in front of it, the real
 * HTTP server's cost per login is everything but the business logic. For
 * bench/http-alone.ts.
 */
import { loadTcpConfig } from '../src/config/tcp-config.ts';
import { silentLogger } from '../src/log.ts';
import { createDispatch } from '../src/tcp/dispatch.ts';
import { startTcpServer } from '../src/tcp/server.ts';

// Defaults, but for the shared secret: with one, the pool in front of it handshakes as in production.
const config = loadTcpConfig({ TCP_SHARED_SECRET: process.env.TCP_SHARED_SECRET });
const token = 'x'.repeat(150);
const dispatch = createDispatch(
  {
    login: () => ({ token, expiresAtMs: BigInt(Date.now() + 86_400_000) }),
    ping: () => ({}),
  },
  silentLogger,
);
const server = startTcpServer(
  {
    ...config.tcp,
    maxFrameBytes: config.maxFrameBytes,
    host: '127.0.0.1',
    port: Number(process.env.TCP_PORT ?? 19091),
  },
  dispatch,
  silentLogger,
);
process.on('SIGTERM', () => server.stop(1000).then(() => process.exit(0)));
