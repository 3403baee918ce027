import type { Cache } from '../../src/cache/port.ts';

/** A cache that answers every command as an empty Redis would, but for `overrides`. */
export function inertCache(overrides: Partial<Cache> = {}): Cache {
  return {
    async get() {
      return null;
    },
    async set() {
      return true;
    },
    async del() {},
    async hashGetAll() {
      return new Map<string, string>();
    },
    async hashDelete() {},
    async eval() {
      return [0];
    },
    async evalEach() {
      return [];
    },
    onRecover() {},
    async close() {},
    ...overrides,
  };
}
