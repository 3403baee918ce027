/**
 * Fault injection for the revoked-session mirror's reload: the first time the
 * store's list is read, `meanwhile` runs after the read and before the reload
 * gets the page (a logout, then Redis losing the mirror, say). `lists` counts
 * the loads of the first shard read (the reads of its first range).
 */
import type { UserStore } from '../../src/store/port.ts';

export function interruptFirstList(
  store: UserStore,
  meanwhile: () => Promise<void>,
): { lists: () => number; restore: () => void } {
  const list = store.listRevokedSessions.bind(store);
  let first: string | null = null;
  let lists = 0;
  store.listRevokedSessions = async (nowMs, range) => {
    const read = await list(nowMs, range);
    // A load of a shard reads its ranges in order: its first one counts the loads.
    const key = `${range.from}|${range.before}`;
    first ??= key;
    if (key === first && ++lists === 1) await meanwhile();
    return read;
  };
  return {
    lists: () => lists,
    restore: () => {
      store.listRevokedSessions = list;
    },
  };
}
