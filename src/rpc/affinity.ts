/**
 * Rendezvous (highest-random-weight) hashing: which TCP server a call with a
 * natural key (a user) goes to, so that each server's credential memo and
 * single flights hold its own share of the users instead of all of them.
 *
 * Every server gets a score for the key, a mix of the key's hash and the
 * server's; the key goes to the highest-scoring server that can take it, else
 * the next. Invariants:
 * - the order depends only on the key and the servers' identities (their
 *   addresses), never on which other servers are present: when a server
 *   leaves, only its keys move (each to its own next choice), and when it
 *   comes back they return; no other key moves;
 * - keys spread evenly over the servers (the scores are independent per
 *   server);
 * - no state and no allocation per call: one hash of the key, one mix per
 *   server.
 * Not cryptographic: the key is chosen by clients, but the worst a skewed
 * choice can do is put many users on one server, which the fallback to the
 * next server (when it is saturated) already bounds.
 */

/** FNV-1a (32-bit) over the UTF-16 code units of `text`. */
export function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The score of a server for a key: murmur3's finaliser over both hashes (full avalanche). */
function score(keyHash: number, serverHash: number): number {
  let h = (keyHash ^ Math.imul(serverHash, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A server as rendezvous hashing sees it: the hash of its identity. */
export interface Candidate {
  readonly hash: number;
}

/** Scores of the candidates being tried; -1 marks one already tried. Reused: no allocation per call. */
let scratch = new Float64Array(8);

/**
 * Tries the servers in the key's rendezvous order, highest score first, and
 * returns the first answer `take` gives that is not null (null when every
 * server refused). `take` is how the caller says "saturated, try the next".
 */
export function rendezvous<S extends Candidate, R>(
  key: string,
  servers: readonly S[],
  take: (server: S) => R | null,
): R | null {
  const n = servers.length;
  if (scratch.length < n) scratch = new Float64Array(n * 2);
  const scores = scratch;
  const keyHash = hashText(key);
  for (let i = 0; i < n; i++) scores[i] = score(keyHash, (servers[i] as S).hash);
  for (let tried = 0; tried < n; tried++) {
    let best = -1;
    let bestScore = -1;
    for (let i = 0; i < n; i++) {
      const s = scores[i] as number;
      if (s > bestScore) {
        bestScore = s;
        best = i;
      }
    }
    scores[best] = -1;
    const taken = take(servers[best] as S);
    if (taken !== null) return taken;
  }
  return null;
}
