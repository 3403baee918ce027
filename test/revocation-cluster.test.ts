/**
 * The revoked-session mirror on a real 3-node Redis Cluster, one node of
 * which loses its data (as a node restarted without persistence does).
 * Regression: `rv:loaded` and the `rv:<session>` entries lived in different
 * hash slots, so a node that lost entries brought their logged-out tokens
 * back while the sentinel, on another node, still said "loaded". Now each
 * shard's entries and sentinel share a hash tag, and so a node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import Redis from 'ioredis';
import { parseAddress } from '../src/wire/address.ts';
import { bearer, type Stack, signUp, startStack } from './fixture.ts';
import { type RedisCluster, startRedisCluster } from './support/redis-cluster.ts';

let cluster: RedisCluster;
let stack: Stack;
let nodes: Redis[];

beforeAll(async () => {
  cluster = await startRedisCluster();
  nodes = cluster.nodes.map((node) => {
    const client = new Redis({ ...parseAddress(node), maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    return client;
  });
  stack = await startStack({ env: { REDIS_CLUSTER_NODES: cluster.nodes.join(',') } });
}, 60_000);
afterAll(async () => {
  for (const node of nodes ?? []) node.disconnect();
  await stack?.stop();
  await cluster?.stop();
}, 30_000);

/** This stack's keys of the revoked-session mirror held by one node. */
async function mirrorKeys(node: Redis): Promise<{ entries: number; loaded: number }> {
  const keys = await node.keys(`${stack.config.redis.keyPrefix}rv:*`);
  const loaded = keys.filter((key) => key.endsWith(':loaded'));
  return { entries: keys.length - loaded.length, loaded: loaded.length };
}

describe('integration: revoked sessions on Redis Cluster when a node loses its data', () => {
  it('should keep refusing every logged-out token whichever node is emptied', async () => {
    const live: string[] = [];
    const out: string[] = [];
    for (let i = 0; i < 36; i++) {
      const token = await signUp(stack, `cluster_user_${i}`);
      if (i % 3 === 0) {
        live.push(token);
      } else {
        expect((await stack.fetch('/api/v1/logout', bearer(token, 'POST'))).status).toBe(200);
        out.push(token);
      }
    }
    const statuses = async () =>
      Promise.all(
        [...live, ...out].map(
          async (token) => (await stack.fetch('/api/v1/me', bearer(token))).status,
        ),
      );
    const expected = [...live.map(() => 200), ...out.map(() => 401)];
    // Every shard in use is loaded before the first node is emptied.
    expect(await statuses()).toEqual(expected);

    let lostWhileOthersLoaded = 0;
    for (const [i, node] of nodes.entries()) {
      const before = await mirrorKeys(node);
      const others = await Promise.all(nodes.filter((n) => n !== node).map(mirrorKeys));
      expect(await node.flushall()).toBe('OK');
      expect(await mirrorKeys(node)).toEqual({ entries: 0, loaded: 0 });
      if (before.entries > 0 && others.some((o) => o.loaded > 0)) lostWhileOthersLoaded++;
      expect({ node: i, statuses: await statuses() }).toEqual({ node: i, statuses: expected });
      // The emptied node's shards were loaded again: their entries are back.
      expect((await mirrorKeys(node)).entries).toBe(before.entries);
    }
    // The case the old layout got wrong happened: a node lost entries while others said "loaded".
    expect(lostWhileOthersLoaded).toBeGreaterThan(0);
  }, 60_000);
});
