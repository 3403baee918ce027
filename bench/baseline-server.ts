/**
 * The baseline: a bare Hono app on Bun.serve that parses a JSON body and
 * answers JSON, and nothing else. Measured in the same run as a scenario, it
 * gives a ratio that survives a noisy machine: how much of the HTTP server's
 * ceiling the real path keeps.
 */
import { Hono } from 'hono';

const app = new Hono();
app.post('/baseline', async (c) => {
  const body = (await c.req.json()) as { username?: string };
  return c.json({ ok: true, username: body.username ?? '' });
});
app.get('/readyz', (c) => c.json({ status: 'ready' }));

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.HTTP_PORT ?? 18081),
  fetch: app.fetch,
  development: false,
});
process.on('SIGTERM', () => server.stop().then(() => process.exit(0)));
