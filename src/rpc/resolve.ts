/**
 * Keeps the pool pointed at every TCP server behind each configured name.
 *
 * A name such as a Kubernetes headless Service resolves to one address per
 * TCP server; the pool should keep sockets to each, and follow them as they
 * come and go. Every `refreshMs` the names are looked up again and the pool
 * is given the full list. Invariants:
 * - IP literals are used as they are, never looked up;
 * - a failed lookup keeps what the pool had for that name (a DNS blip must
 *   not drop healthy servers);
 * - IPv4 addresses are preferred when a name has both families, so that
 *   "localhost" does not add a ::1 nobody listens on.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from '../log.ts';
import { parseAddress } from '../wire/address.ts';

export type Lookup = (host: string) => Promise<{ address: string; family: number }[]>;

export interface AddressTarget {
  setAddresses(addresses: readonly string[]): void;
}

export interface Watcher {
  /** Resolves once the first lookup is done. */
  ready: Promise<void>;
  stop(): void;
}

const defaultLookup: Lookup = (host) => dnsLookup(host, { all: true });

export function watchAddresses(
  pool: AddressTarget,
  configured: readonly string[],
  options: { refreshMs: number; log: Logger; lookup?: Lookup },
): Watcher {
  const lookup = options.lookup ?? defaultLookup;
  const known = new Map<string, string[]>(configured.map((a) => [a, [a]]));
  let current = configured.join(',');
  let stopped = false;

  async function refresh(): Promise<void> {
    for (const address of configured) {
      const { host, port } = parseAddress(address);
      if (isIP(host)) continue;
      try {
        const records = await lookup(host);
        const v4 = records.filter((r) => r.family === 4);
        const chosen = (v4.length > 0 ? v4 : records).map((r) =>
          r.family === 6 ? `[${r.address}]:${port}` : `${r.address}:${port}`,
        );
        if (chosen.length > 0) known.set(address, [...new Set(chosen)].sort());
      } catch (err) {
        options.log.warn(
          { host, err: (err as Error).message },
          'TCP server name did not resolve; keeping its last addresses',
        );
      }
    }
    const next = [...known.values()].flat();
    if (stopped || next.join(',') === current) return;
    current = next.join(',');
    options.log.info({ addresses: next }, 'TCP server addresses changed');
    pool.setAddresses(next);
  }

  const ready = refresh();
  const timer = setInterval(() => void refresh(), options.refreshMs);
  timer.unref();
  return {
    ready,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
