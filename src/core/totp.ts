/**
 * One-time codes: HOTP (RFC 4226) and TOTP (RFC 6238), on node:crypto's
 * HMAC. What this system issues is what every authenticator app reads by
 * default: HMAC-SHA-1, 6 digits, 30-second steps counted from the Unix
 * epoch. SHA-256 and SHA-512 are here only so that all of RFC 6238's test
 * vectors can be checked.
 *
 * A code is accepted for the current step and one step either side (RFC
 * 6238 section 5.2: clocks drift, and people type slowly), and only for a
 * step later than the last one accepted for that secret, so that a code,
 * and every code of an earlier step, works once (section 5.2 again).
 * Remembering that step is the caller's business (two-step.ts).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type OtpAlgorithm = 'sha1' | 'sha256' | 'sha512';

/** The parameters every code of this system uses. */
export const TOTP = { algorithm: 'sha1', digits: 6, periodS: 30, secretBytes: 20 } as const;

/** Steps accepted either side of the current one. */
const DRIFT_STEPS = 1;

/** A code as people type it, once spaces are dropped. */
export const TOTP_CODE = /^\d{6}$/;

/** RFC 4226 section 5.3: HMAC of the 8-byte big-endian counter, dynamic truncation, decimal digits. */
export function hotp(
  key: Uint8Array,
  counter: number,
  digits: number = TOTP.digits,
  algorithm: OtpAlgorithm = TOTP.algorithm,
): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(message).digest();
  const offset = (mac[mac.length - 1] as number) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** RFC 6238 section 4.2: the number of whole periods since the Unix epoch. */
export function timeStep(nowMs: number, periodS: number = TOTP.periodS): number {
  return Math.floor(nowMs / 1000 / periodS);
}

/** The code of the step holding `nowMs`. */
export function totp(
  key: Uint8Array,
  nowMs: number,
  digits: number = TOTP.digits,
  algorithm: OtpAlgorithm = TOTP.algorithm,
): string {
  return hotp(key, timeStep(nowMs), digits, algorithm);
}

/**
 * The step whose code `code` is, among the current step and one either side,
 * provided it is later than `afterStep` (the last step accepted for this
 * secret); null when there is none. Every candidate is compared, in constant
 * time, so the time taken says nothing about which step matched.
 */
export function matchStep(
  key: Uint8Array,
  code: string,
  nowMs: number,
  afterStep: number,
): number | null {
  if (!TOTP_CODE.test(code)) return null;
  const given = Buffer.from(code);
  const now = timeStep(nowMs);
  let found: number | null = null;
  for (let step = now - DRIFT_STEPS; step <= now + DRIFT_STEPS; step++) {
    const expected = Buffer.from(hotp(key, step));
    if (timingSafeEqual(given, expected) && step > afterStep && found === null) found = step;
  }
  return found;
}

/**
 * The `otpauth://` key URI authenticator apps read from a QR code (Google
 * Authenticator's "Key Uri Format"): the label is `issuer:account`, and the
 * issuer is repeated as a parameter, as the format recommends.
 */
export function otpauthUrl(issuer: string, account: string, secretBase32: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const params = new URLSearchParams({
    secret: secretBase32,
    issuer,
    algorithm: TOTP.algorithm.toUpperCase(),
    digits: String(TOTP.digits),
    period: String(TOTP.periodS),
  });
  return `otpauth://totp/${label}?${params}`;
}
