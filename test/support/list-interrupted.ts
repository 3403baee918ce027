/**
 * Fault injection for the revoked-session mirror's reload: the first time the
 * store's list is read, `meanwhile` runs after the read and before the reload
 * gets the list (a logout, then Redis losing the mirror, say).
 */
import type { UserStore } from '../../src/store/port.ts';

export function interruptFirstList(
  store: UserStore,
  meanwhile: () => Promise<void>,
): { lists: () => number; restore: () => void } {
  const list = store.listRevokedSessions.bind(store);
  let lists = 0;
  store.listRevokedSessions = async (nowMs: number) => {
    lists++;
    const read = await list(nowMs);
    if (lists === 1) await meanwhile();
    return read;
  };
  return {
    lists: () => lists,
    restore: () => {
      store.listRevokedSessions = list;
    },
  };
}
