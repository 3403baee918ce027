/**
 * Text the TCP server signs and later reads back from a client:
 * `base64url(payload).base64url(HMAC-SHA256(key, payload))`. Used by the
 * device cookies and the tickets of a login's second step.
 *
 * Keys come from the session secrets under a label of each user's own, so
 * that one kind of signed text can never pass for another, nor for a session
 * token; the first secret signs, every secret verifies (rotation, as for
 * sessions). The text has exactly one spelling, the one sign() writes: any
 * other text for the same bytes is refused, so that one signed value is one
 * string to log, compare or block.
 */
import { timingSafeEqual } from 'node:crypto';

/** base64url payload, a dot, and a 32-byte MAC (43 characters). */
const SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/;

export class SignedText {
  private readonly keys: Bun.CryptoHasher[];

  /** `label` names what is signed ("device", "ticket"): each label gets keys of its own. */
  constructor(
    secrets: readonly string[],
    label: string,
    /** Longer text is refused before any decoding work. */
    private readonly maxChars: number,
  ) {
    if (secrets.length === 0) throw new Error('at least one session secret is needed');
    this.keys = secrets.map((secret) => new Bun.CryptoHasher('sha256', `${label}\0${secret}`));
  }

  sign(payload: string): string {
    const bytes = Buffer.from(payload, 'latin1');
    const mac = (this.keys[0] as Bun.CryptoHasher).copy().update(bytes).digest();
    return `${bytes.toString('base64url')}.${mac.toString('base64url')}`;
  }

  /** The payload of text that sign() wrote under one of the secrets; null for anything else. */
  open(text: string): string | null {
    if (text.length > this.maxChars || !SHAPE.test(text)) return null;
    const dot = text.indexOf('.');
    const payload = Buffer.from(text.slice(0, dot), 'base64url');
    const mac = Buffer.from(text.slice(dot + 1), 'base64url');
    // The one spelling: re-encoding must give back the text presented.
    if (payload.toString('base64url') !== text.slice(0, dot)) return null;
    if (mac.toString('base64url') !== text.slice(dot + 1)) return null;
    // Constant time, so that the comparison leaks nothing about the right MAC.
    const authentic = this.keys.some((key) =>
      timingSafeEqual(mac, key.copy().update(payload).digest()),
    );
    return authentic ? payload.toString('latin1') : null;
  }
}
