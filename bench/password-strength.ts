/**
 * `npm run bench:password-strength`: what the strength rule adds to a sign-up
 * or a password change (never to a login) in the TCP server: loading the
 * estimator's dictionaries once per thread, then the estimate of typical
 * new passwords and of crafted 128-character ones (the worst case the length
 * cap allows). Wall and CPU time per check, medians of `--rounds` rounds.
 * Since 2026-12-05 the estimate runs on a thread of its own at nice 19,
 * admitted like a slow hash (Passwords.weakness), not on the event loop:
 * this is the time that thread is busy, not time other calls wait.
 */
import { parseArgs } from 'node:util';
import { passwordStrengthError } from '../src/core/password-strength.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '9' } } });
const rounds = Number(values.rounds);

const t0 = performance.now();
passwordStrengthError('', []);
const loadMs = performance.now() - t0;

const typical = [
  'correct horse battery staple',
  'quartz lantern mosaic',
  'Tr0ub4dor&3',
  '12345678',
  'password1',
  'Summer2026!',
  'my dog is called Rex',
];
const crafted = [
  'x'.repeat(128),
  'a1!B'.repeat(32),
  '1234567890'.repeat(13).slice(0, 128),
  '19870412'.repeat(16),
];

function perCheck(passwords: string[]): { wallMs: number; cpuMs: number } {
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const cpu = process.cpuUsage();
    const wall = performance.now();
    for (const password of passwords) passwordStrengthError(password, ['alice', 'Alice']);
    walls.push((performance.now() - wall) / passwords.length);
    const { user, system } = process.cpuUsage(cpu);
    cpus.push((user + system) / 1000 / passwords.length);
  }
  return { wallMs: median(walls), cpuMs: median(cpus) };
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
}

const typicalCost = perCheck(typical);
const craftedCost = perCheck(crafted);
console.log(`load dictionaries (once per process): ${loadMs.toFixed(0)} ms`);
console.log(
  `typical password: ${typicalCost.wallMs.toFixed(2)} ms wall, ${typicalCost.cpuMs.toFixed(2)} ms CPU per check`,
);
console.log(
  `crafted 128 characters: ${craftedCost.wallMs.toFixed(2)} ms wall, ${craftedCost.cpuMs.toFixed(2)} ms CPU per check`,
);
console.log(JSON.stringify({ loadMs, typical: typicalCost, crafted: craftedCost }));
