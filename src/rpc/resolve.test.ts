import { describe, expect, it } from 'bun:test';
import { silentLogger } from '../log.ts';
import { type Lookup, watchAddresses } from './resolve.ts';

function target() {
  const calls: string[][] = [];
  return { calls, setAddresses: (a: readonly string[]) => calls.push([...a]) };
}

describe('unit: watchAddresses', () => {
  it('should expand a name into every address behind it, and follow changes', async () => {
    let answer = [
      { address: '10.0.0.2', family: 4 },
      { address: '10.0.0.1', family: 4 },
    ];
    const lookup: Lookup = async () => answer;
    const pool = target();
    const watcher = watchAddresses(pool, ['tcp.svc:9090', '10.9.9.9:9091'], {
      refreshMs: 20,
      log: silentLogger,
      lookup,
    });
    await watcher.ready;
    expect(pool.calls.at(-1)).toEqual(['10.0.0.1:9090', '10.0.0.2:9090', '10.9.9.9:9091']);
    answer = [{ address: '10.0.0.3', family: 4 }];
    await Bun.sleep(60);
    watcher.stop();
    expect(pool.calls.at(-1)).toEqual(['10.0.0.3:9090', '10.9.9.9:9091']);
  });

  it('should keep the last addresses when a lookup fails, and not call the pool without a change', async () => {
    let fail = false;
    const lookup: Lookup = async () => {
      if (fail) throw new Error('SERVFAIL');
      return [{ address: '10.0.0.1', family: 4 }];
    };
    const pool = target();
    const watcher = watchAddresses(pool, ['tcp.svc:9090'], {
      refreshMs: 20,
      log: silentLogger,
      lookup,
    });
    await watcher.ready;
    fail = true;
    await Bun.sleep(60);
    watcher.stop();
    expect(pool.calls).toEqual([['10.0.0.1:9090']]);
  });

  it('should prefer IPv4 and bracket IPv6, and never look up IP literals', async () => {
    const looked: string[] = [];
    const lookup: Lookup = async (host) => {
      looked.push(host);
      return host === 'dual'
        ? [
            { address: '::1', family: 6 },
            { address: '127.0.0.1', family: 4 },
          ]
        : [{ address: 'fd00::5', family: 6 }];
    };
    const pool = target();
    const watcher = watchAddresses(pool, ['dual:1', 'v6only:2', '127.0.0.1:3', '[::1]:4'], {
      refreshMs: 1000,
      log: silentLogger,
      lookup,
    });
    await watcher.ready;
    watcher.stop();
    expect(looked).toEqual(['dual', 'v6only']);
    expect(pool.calls.at(-1)).toEqual(['127.0.0.1:1', '[fd00::5]:2', '127.0.0.1:3', '[::1]:4']);
  });
});
