/**
 * Sealing two-step login secrets for the store: AES-256-GCM under a key only
 * the TCP servers hold, so that someone who reads the database (a backup, a
 * replica) or the Redis cache cannot compute anyone's codes.
 *
 * Sealed text: `1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`, with a
 * random 96-bit nonce and the 128-bit tag. The caller's binding is the
 * additional authenticated data (the user id; for a secret being set up, the
 * user and the session: two-step.ts): a sealed secret copied onto another
 * user's row does not open there.
 *
 * Keys: each comes from a configured string through HKDF-SHA-256 under a
 * label of its own (so a key never equals a session MAC key made from the
 * same string). The first key seals; every key opens what it sealed, found by
 * its id (the first 4 bytes of an HMAC of a fixed text under the key, which
 * says nothing about the key). A secret opened with another key than the
 * first is `stale`: the caller seals it again under the first when it next
 * writes it, so keys can be retired once nothing is sealed under them.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';

const VERSION = '1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const SEALED = /^1\.([0-9a-f]{8})\.([A-Za-z0-9_-]+)$/;
/** Longer text is refused before any decoding work. */
const MAX_SEALED_CHARS = 100;

interface Key {
  id: string;
  bytes: Buffer;
}

/** The AES-256 key made from a configured string (TOTP_KEYS, or SESSION_SECRET). */
export function totpKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'usermgr', 'totp secret sealing v1', 32));
}

export class SecretBox {
  private readonly keys: Key[];

  /** `keys`: 32 bytes each, the sealing one first. */
  constructor(keys: readonly Uint8Array[]) {
    if (keys.length === 0) throw new Error('at least one key is needed to seal secrets');
    const unique = new Map<string, Key>();
    for (const key of keys) {
      if (key.length !== 32) throw new Error('a secret-sealing key is 32 bytes');
      const id = createHmac('sha256', key).update('key id').digest('hex').slice(0, 8);
      if (!unique.has(id)) unique.set(id, { id, bytes: Buffer.from(key) });
    }
    this.keys = [...unique.values()];
  }

  /** `secret` sealed under the first key, bound to `userId`. */
  seal(secret: Uint8Array, userId: string): string {
    const key = this.keys[0] as Key;
    const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
    const cipher = createCipheriv('aes-256-gcm', key.bytes, nonce);
    cipher.setAAD(Buffer.from(userId));
    const body = Buffer.concat([nonce, cipher.update(secret), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${key.id}.${body.toString('base64url')}`;
  }

  /**
   * The secret sealed in `sealed` for `userId`, and whether it was sealed
   * under another key than the first; null when no key of this box opens it
   * (another user's, altered, or under a retired key).
   */
  open(sealed: string, userId: string): { secret: Uint8Array; stale: boolean } | null {
    if (sealed.length > MAX_SEALED_CHARS) return null;
    const match = SEALED.exec(sealed);
    if (match === null) return null;
    const key = this.keys.find((k) => k.id === match[1]);
    if (key === undefined) return null;
    const body = Buffer.from(match[2] as string, 'base64url');
    if (body.length <= NONCE_BYTES + TAG_BYTES) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.bytes, body.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(userId));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      const secret = Buffer.concat([
        decipher.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return { secret: new Uint8Array(secret), stale: key !== this.keys[0] };
    } catch {
      return null; // the tag did not verify
    }
  }
}
