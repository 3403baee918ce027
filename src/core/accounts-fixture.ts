/**
 * The account services as the unit tests of src/core build them: over an
 * embedded SQLite store in a temporary directory, no cache, cheap argon2id,
 * and a clock the test moves. Test files call `afterEach(disposeServices)`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Semaphore } from '../lib/semaphore.ts';
import { type Logger, silentLogger } from '../log.ts';
import { openStore } from '../store/open.ts';
import type { UserStore } from '../store/port.ts';
import { Accounts } from './accounts.ts';
import { CachedUsers } from './cached-users.ts';
import { CredentialMemo } from './credential-memo.ts';
import { DeviceCookies } from './device-cookies.ts';
import { IdGenerator } from './ids.ts';
import { LoginTickets } from './login-tickets.ts';
import { type PasswordOptions, Passwords } from './passwords.ts';
import { type RateLimitOptions, RateLimits } from './rate-limits.ts';
import { Revocations } from './revocations.ts';
import { SessionList } from './session-list.ts';
import { SessionTokens } from './session-tokens.ts';
import { SpentTickets } from './spent-tickets.ts';
import { SecretBox, totpKey } from './totp-keys.ts';
import { TwoStep } from './two-step.ts';

/** Limits no unit test meets unless it sets its own. */
export const generousLimits: RateLimitOptions = {
  userLimit: 1000,
  userWindowMs: 60_000,
  userBaseDelayMs: 1,
  ipPerSecond: 1e6,
  ipBurst: 1e6,
};
export const cheap = { memoryKiB: 1024, timeCost: 1, concurrency: 2, maxWaiting: 64 };

/**
 * A session token as an older build made it, built byte by byte: version 1
 * (no flags byte) or 2 (flags, no valid-after), session id bytes all 7.
 */
export function olderSessionToken(
  secret: string,
  version: 1 | 2,
  claims: { userId: string; username: string; issuedAtMs: number; expiresAtMs: number },
  persistent = false,
): string {
  const fixed = version === 1 ? 43 : 44;
  const payload = Buffer.alloc(fixed + claims.username.length);
  payload[0] = version;
  payload[1] = new Bun.CryptoHasher('sha256').update(secret).digest()[0] as number;
  payload.writeBigUInt64BE(BigInt(claims.userId), 2);
  payload.fill(7, 10, 26);
  payload.writeBigUInt64BE(BigInt(claims.issuedAtMs), 26);
  payload.writeBigUInt64BE(BigInt(claims.expiresAtMs), 34);
  if (version === 2) payload[42] = persistent ? 1 : 0;
  payload[fixed - 1] = claims.username.length;
  payload.write(claims.username, fixed, 'latin1');
  const mac = new Bun.CryptoHasher('sha256', secret).update(payload).digest();
  return `${payload.toString('base64url')}.${mac.toString('base64url')}`;
}

/** Verifies as Passwords does, each verify held until the test releases it (races). */
export class HeldPasswords extends Passwords {
  held: (() => void)[] = [];
  override async verify(...args: Parameters<Passwords['verify']>) {
    await new Promise<void>((resolve) => this.held.push(resolve));
    return super.verify(...args);
  }
}

export interface ServiceOptions {
  limits?: RateLimitOptions;
  log?: Logger;
  /** Used instead of a Passwords made from the password settings. */
  passwords?: Passwords;
}

const cleanups: (() => unknown)[] = [];

/** Closes and removes what services() made. */
export async function disposeServices(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

/** The services over an embedded SQLite store and no cache, with a clock the test moves. */
export async function services(
  passwordOptions: PasswordOptions = cheap,
  options: ServiceOptions = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'usermgr-core-'));
  const store: UserStore = await openStore(
    {
      mysqlUrl: '',
      dataDir: dir,
      mysql: {
        poolSize: 1,
        queueLimit: 1,
        queueTimeoutMs: 1,
        queryTimeoutMs: 1,
        connectTimeoutMs: 100,
      },
    },
    silentLogger,
  );
  cleanups.push(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return servicesOver(store, options.passwords ?? new Passwords(passwordOptions), options);
}

/** The services over an existing store, with the given password settings. */
export function servicesOver(store: UserStore, passwords: Passwords, options: ServiceOptions = {}) {
  const clock = { now: Date.UTC(2026, 10, 23) };
  const bypass = new Semaphore(4, 4);
  const users = new CachedUsers(
    store,
    null,
    bypass,
    { ttlMs: 1000, negativeTtlMs: 1000, tombstoneMs: 1000 },
    silentLogger,
  );
  const limits = new RateLimits(
    null,
    options.limits ?? generousLimits,
    silentLogger,
    () => clock.now,
  );
  const secrets = ['unit-test-secret'.padEnd(40, '!')];
  const twoStep = new TwoStep({
    store,
    users,
    limits,
    box: new SecretBox(secrets.map(totpKey)),
    tickets: new LoginTickets(secrets),
    spent: new SpentTickets(null),
    issuer: 'usermgr',
    now: () => clock.now,
  });
  const ids = new IdGenerator(1, () => clock.now);
  const sessions = new SessionList(store, null, silentLogger, {}, () => clock.now);
  const accounts = new Accounts({
    store,
    users,
    revocations: new Revocations(store, null, bypass, silentLogger),
    passwords,
    memo: new CredentialMemo({ ttlMs: 60_000, maxEntries: 100, now: () => clock.now }),
    tokens: new SessionTokens(secrets, 3_600_000),
    devices: new DeviceCookies(secrets, 86_400_000),
    ids,
    limits,
    sessions,
    twoStep,
    log: options.log ?? silentLogger,
    now: () => clock.now,
  });
  return { accounts, store, users, ids, passwords, clock, limits, twoStep, sessions };
}
