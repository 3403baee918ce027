/**
 * `npm run bench:passwords`: what one login costs in the TCP server, by path.
 *
 * - slow verify: Bun.password.verify of an argon2id hash with the configured
 *   parameters (OWASP by default), alone, and as throughput with the
 *   semaphore's concurrency (one per core);
 * - memo hit: CredentialMemo.has for a remembered credential (one HMAC and a
 *   Map lookup), the cost of a repeated correct login besides the user lookup.
 * Prints medians and, last, one JSON line.
 */
import { loadTcpConfig } from '../src/config/tcp-config.ts';
import { CredentialMemo } from '../src/core/credential-memo.ts';
import { Passwords } from '../src/core/passwords.ts';
import { Deadline } from '../src/lib/deadline.ts';

const config = loadTcpConfig();
const { memoryKiB, timeCost, concurrency } = config.passwords;
// The burst below is one client's: no bound on its share of the queue either.
const passwords = new Passwords({
  ...config.passwords,
  maxWaiting: 10_000,
  maxWaitingPerClient: 10_000,
});
const hash = await passwords.hash('Passw0rd-1', Deadline.after(60_000));

const singles: number[] = [];
for (let i = 0; i < 15; i++) {
  const t0 = performance.now();
  await passwords.verify('Passw0rd-1', hash, Deadline.after(60_000));
  singles.push(performance.now() - t0);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const burst = 40;
const t1 = performance.now();
await Promise.all(
  Array.from({ length: burst }, () => passwords.verify('Passw0rd-1', hash, Deadline.after(60_000))),
);
const verifiesPerSecond = burst / ((performance.now() - t1) / 1000);

const memo = new CredentialMemo({ ttlMs: 600_000, maxEntries: 100_000 });
for (let i = 0; i < 1000; i++)
  memo.remember(memo.key(String(250558285122371584n + BigInt(i)), hash, `Passw0rd-${i}`));
const rounds = 500_000;
const t2 = performance.now();
let hits = 0;
for (let i = 0; i < rounds; i++) {
  const u = i % 1000;
  if (memo.has(memo.key(String(250558285122371584n + BigInt(u)), hash, `Passw0rd-${u}`))) hits++;
}
const memoMicros = ((performance.now() - t2) * 1000) / rounds;
if (hits !== rounds) throw new Error(`memo missed ${rounds - hits} times`);

const result = {
  scenario: 'password-costs',
  argon2: `m=${memoryKiB},t=${timeCost},p=1`,
  concurrency,
  slow_verify_ms: Math.round(median(singles) * 10) / 10,
  slow_verifies_per_s: Math.round(verifiesPerSecond),
  memo_hit_us: Math.round(memoMicros * 100) / 100,
  memo_hits_per_s: Math.round(1e6 / memoMicros),
};
console.log(
  `slow verify (${result.argon2}): median ${result.slow_verify_ms} ms alone, ${result.slow_verifies_per_s}/s with ${concurrency} at once`,
);
console.log(`memo hit: ${result.memo_hit_us} µs (${result.memo_hits_per_s}/s on one core)`);
console.log(JSON.stringify(result));
passwords.close();
