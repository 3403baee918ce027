/** The brute-force limits: per username, and per client address. */
import type { Reader } from './reader.ts';
import { int } from './variable.ts';

export const rateLimitVariables = {
  userLimit: int('RATE_LIMIT_USER_ATTEMPTS', {
    default: 10,
    min: 1,
    max: 1_000_000,
    doc: 'per username: slow-hash attempts in the window before each further one waits',
  }),
  userWindowS: int('RATE_LIMIT_USER_WINDOW_S', {
    default: 900,
    min: 1,
    max: 86_400,
    doc: 'the window of RATE_LIMIT_USER_ATTEMPTS',
  }),
  userBaseDelayMs: int('RATE_LIMIT_USER_DELAY_MS', {
    default: 1000,
    min: 1,
    max: 3_600_000,
    doc: 'the first delay past the limit; it doubles with each further attempt',
  }),
  ipPerSecond: int('RATE_LIMIT_IP_PER_S', {
    default: 5,
    min: 1,
    max: 100_000_000,
    doc: 'per client address: slow-hash attempts per second',
  }),
  ipBurst: int('RATE_LIMIT_IP_BURST', {
    default: 30,
    min: 1,
    max: 100_000_000,
    doc: 'per client address: burst of slow-hash attempts',
  }),
};

export function readRateLimits(read: Reader) {
  const { userWindowS, ...rest } = read.all(rateLimitVariables);
  return { ...rest, userWindowMs: userWindowS * 1000 };
}
