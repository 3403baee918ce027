/**
 * The proofs of the connection handshake (proto/usermgr/v1/rpc.proto,
 * Challenge), shared by the TCP server and the pool: both ends show that
 * they know TCP_SHARED_SECRET without sending it.
 *
 *   client proof = HMAC-SHA256(secret, CLIENT_LABEL || server nonce || client nonce)
 *   server proof = HMAC-SHA256(secret, SERVER_LABEL || server nonce || client nonce)
 *
 * Each side's nonce is fresh per connection, so a proof recorded on one
 * connection proves nothing on another (no replay), and the two labels make
 * a client's proof useless as a server's (no reflection). Nonces have one
 * fixed length, so the concatenation is unambiguous.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const NONCE_BYTES = 32;

/** The largest frame a client may send before its proof was accepted (a Hello is about 72 bytes). */
export const MAX_HELLO_FRAME_BYTES = 128;

/** Defaults of TCP_HANDSHAKE_TIMEOUT_MS and TCP_MAX_PENDING_HANDSHAKES. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 3000;
export const DEFAULT_MAX_PENDING_HANDSHAKES = 256;

const CLIENT_LABEL = new TextEncoder().encode('usermgr tcp v1 client proof');
const SERVER_LABEL = new TextEncoder().encode('usermgr tcp v1 server proof');

export function newNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
}

function proof(
  label: Uint8Array,
  secret: string,
  serverNonce: Uint8Array,
  clientNonce: Uint8Array,
): Uint8Array {
  return createHmac('sha256', secret)
    .update(label)
    .update(serverNonce)
    .update(clientNonce)
    .digest();
}

export function clientProof(
  secret: string,
  serverNonce: Uint8Array,
  clientNonce: Uint8Array,
): Uint8Array {
  return proof(CLIENT_LABEL, secret, serverNonce, clientNonce);
}

export function serverProof(
  secret: string,
  serverNonce: Uint8Array,
  clientNonce: Uint8Array,
): Uint8Array {
  return proof(SERVER_LABEL, secret, serverNonce, clientNonce);
}

/**
 * Constant time for proofs of the right length: a comparison that stops at
 * the first differing byte would tell a prober how much of a guess is right.
 */
export function sameProof(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
