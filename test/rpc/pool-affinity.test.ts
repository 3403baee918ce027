/**
 * The pool's credential affinity over real sockets (src/rpc/affinity.ts):
 * a call with a key always reaches the same server while it is up, moves to
 * its next choice when that server is gone or full, and a call without a key
 * is balanced by load as before.
 */
import { afterEach, describe, expect, it } from 'bun:test';
import { create } from '@bufbuild/protobuf';
import { RequestSchema } from '../../src/gen/usermgr/v1/rpc_pb.ts';
import { silentLogger } from '../../src/log.ts';
import { Pool, type PoolOptions } from '../../src/rpc/pool.ts';
import { eventually } from '../fixture.ts';
import { type HeldRequest, type ScriptedServer, scriptedServer } from '../support/raw.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Three servers that answer every call at once, each with its own name. */
function servers(n = 3): ScriptedServer[] {
  return Array.from({ length: n }, (_, i) => {
    const s = scriptedServer((held) => held.answer(`s${i}`));
    cleanups.push(() => s.stop());
    return s;
  });
}

async function warmed(ports: number[], options: Partial<PoolOptions> = {}): Promise<Pool> {
  const p = new Pool(
    {
      addresses: ports.map((port) => `127.0.0.1:${port}`),
      socketsPerAddress: 2,
      maxInFlightPerSocket: 4096,
      maxWaiting: 10_000,
      maxQueuedBytesPerSocket: 32 << 20,
      maxFrameBytes: 8 << 20,
      connectTimeoutMs: 1000,
      backoffBaseMs: 20,
      backoffMaxMs: 200,
      ...options,
    },
    silentLogger,
  );
  cleanups.push(() => p.close());
  p.warm();
  const until = performance.now() + 2000;
  while (p.stats().open < p.stats().sockets && performance.now() < until) await Bun.sleep(2);
  return p;
}

/** Which server answered a Ping sent with `key`. */
async function served(p: Pool, key: string | undefined): Promise<string> {
  const request = create(RequestSchema, { call: { case: 'ping', value: {} } });
  const response = await p.send(request, 2000, true, undefined, key);
  return response.result.case === 'ping' ? response.result.value.serverId : '?';
}

const keys = Array.from({ length: 300 }, (_, i) => `user_${i}`);

describe('integration: Pool affinity over real sockets', () => {
  it('should send every call with one key to one server, and spread the keys', async () => {
    const p = await warmed(servers().map((s) => s.port));
    const first = await Promise.all(keys.map((k) => served(p, k)));
    // In another order, one by one: whatever the load, each key finds its server again.
    const second: string[] = [];
    for (const k of [...keys].reverse()) second.unshift(await served(p, k));
    expect(second).toEqual(first);
    for (const name of ['s0', 's1', 's2'])
      expect(first.filter((s) => s === name).length).toBeGreaterThan(keys.length / 5);
  });

  it('should balance calls without a key by load, over every server', async () => {
    const p = await warmed(servers().map((s) => s.port));
    const answers = await Promise.all(Array.from({ length: 90 }, () => served(p, undefined)));
    expect(new Set(answers).size).toBe(3);
  });

  it('should move only the keys of a server that stops, and bring them back when it returns', async () => {
    const all = servers();
    const p = await warmed(all.map((s) => s.port));
    const before = await Promise.all(keys.map((k) => served(p, k)));
    const port = (all[1] as ScriptedServer).port;
    (all[1] as ScriptedServer).stop();
    for (const socket of (all[1] as ScriptedServer).sockets) socket.terminate();
    await Bun.sleep(50);
    const during = await Promise.all(keys.map((k) => served(p, k)));
    keys.forEach((_, i) => {
      if (before[i] === 's1') expect(during[i]).not.toBe('s1');
      else expect(during[i]).toBe(before[i] as string);
    });
    // Back on the same address: its keys return to it.
    const back = scriptedServer((held) => held.answer('s1'), port);
    cleanups.push(() => back.stop());
    const until = performance.now() + 3000;
    while (p.stats().open < p.stats().sockets && performance.now() < until) await Bun.sleep(10);
    expect(await Promise.all(keys.map((k) => served(p, k)))).toEqual(before);
  });

  it('should move the keys of a server that stops answering (hung, its sockets open) and bring them back when it answers', async () => {
    let hung = false;
    const held: HeldRequest[] = [];
    const s0 = scriptedServer((request) => (hung ? held.push(request) : request.answer('s0')));
    const s1 = scriptedServer((request) => request.answer('s1'));
    cleanups.push(
      () => s0.stop(),
      () => s1.stop(),
    );
    const p = await warmed([s0.port, s1.port]);
    const before = await Promise.all(keys.map((k) => served(p, k)));
    const mine = keys.filter((_, i) => before[i] === 's0');
    expect(mine.length).toBeGreaterThan(keys.length / 4);

    hung = true;
    // A call already sent to it waits until the probe's verdict, then (idempotent) goes
    // to s1, as its keys' calls do from then on.
    const stuck = served(p, mine[0]);
    expect(await eventually(async () => p.stats().silent === 1, 5000)).toBe(true);
    expect(await stuck).toBe('s1');
    const started = performance.now();
    expect(await Promise.all(mine.map((k) => served(p, k)))).toEqual(mine.map(() => 's1'));
    expect(performance.now() - started).toBeLessThan(500);

    // It answers again (what it held, the probe among them): its keys return.
    hung = false;
    for (const request of held.splice(0)) request.answer('s0');
    expect(await eventually(async () => p.stats().silent === 0, 2000)).toBe(true);
    expect(await Promise.all(keys.map((k) => served(p, k)))).toEqual(before);
  });

  it("should send a key's calls to its next server while its own has no room", async () => {
    let answering = false;
    const a = scriptedServer((held) => answering && held.answer('a')); // holds until told
    const [b, c] = servers(2);
    cleanups.push(() => a.stop());
    const p = await warmed([a.port, (b as ScriptedServer).port, (c as ScriptedServer).port], {
      socketsPerAddress: 1,
      maxInFlightPerSocket: 1,
    });
    const settled: string[] = [];
    const answers = keys.map((k) =>
      served(p, k)
        .catch(() => 'failed')
        .then((s) => {
          settled.push(s);
          return s;
        }),
    );
    await Bun.sleep(300);
    // a's one slot is taken by one held call; every other call, a's keys too, went elsewhere.
    expect(a.held.length).toBe(1);
    expect(settled.length).toBe(keys.length - 1);
    expect(settled.filter((s) => s === 'failed' || s === 'a')).toEqual([]);
    answering = true;
    for (const h of a.held) h.answer('a');
    expect(await Promise.all(answers)).not.toContain('failed');
  });

  it('should hash nothing with one server: keyed calls behave as unkeyed ones', async () => {
    const [only] = servers(1);
    const p = await warmed([(only as ScriptedServer).port]);
    const answers = await Promise.all(keys.map((k) => served(p, k)));
    expect(new Set(answers)).toEqual(new Set(['s0']));
  });
});
