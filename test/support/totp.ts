/**
 * Codes of a two-step login secret from the real clock, as an authenticator
 * app makes them, for the integration and browser tests.
 */
import { base32Decode } from '../../src/core/base32.ts';
import { hotp, TOTP, timeStep } from '../../src/core/totp.ts';

const STEP_MS = TOTP.periodS * 1000;

/**
 * Waits out the last seconds of a 30-second step, so that what a test does
 * next happens within one step and the steps it names are the ones it means.
 */
export async function awayFromStepEdge(marginMs = 4000): Promise<void> {
  const left = STEP_MS - (Date.now() % STEP_MS);
  if (left < marginMs) await Bun.sleep(left + 50);
}

/** The code of `secret` (base32, spaces allowed) for the current step plus `offset` steps. */
export function codeOf(secret: string, offset = 0): string {
  const key = base32Decode(secret);
  if (key === null) throw new Error(`not a base32 secret: ${secret}`);
  return hotp(key, timeStep(Date.now()) + offset);
}
