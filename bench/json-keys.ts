/**
 * `bun bench/json-keys.ts [--rounds 30] [--n 200000]`
 *
 * What refusing duplicate JSON keys (src/http/json.ts, duplicateKey) adds
 * to reading a body, per request: JSON.parse alone against JSON.parse plus
 * the check, for a login body (the ':' count shows no key can repeat, so
 * nothing is scanned), a login body with ':' in the password (the top
 * level is scanned), and a 16 KB body with nested objects (the largest
 * body the API reads, scanned). Rounds alternate the variants so that a
 * busy machine slows all of them alike; prints the median and the 25th
 * percentile of the per-call time in nanoseconds, then one JSON line.
 */
import { parseArgs } from 'node:util';
import { duplicateKey } from '../src/http/json.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '30' }, n: { type: 'string', default: '200000' } },
});
const rounds = Number(values.rounds);
const n = Number(values.n);

const nested = JSON.stringify({
  username: 'alice',
  password: 'correct horse battery staple',
  extra: Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: 'v'.repeat(40) })),
});
const bodies = {
  login: JSON.stringify({ username: 'alice_the_user', password: 'correct horse battery staple' }),
  'login, ":" in the password': JSON.stringify({ username: 'alice', password: 'pass:word:1' }),
  [`nested, ${Math.round(nested.length / 1024)} KB`]: nested,
};

let sink = 0;
function perCall(f: () => unknown): number {
  const started = performance.now();
  for (let i = 0; i < n; i++) if (f() !== null) sink++;
  return ((performance.now() - started) * 1e6) / n;
}

const results: Record<string, { parse: number[]; checked: number[] }> = {};
for (let round = 0; round < rounds; round++) {
  for (const [name, text] of Object.entries(bodies)) {
    const r = results[name] ?? { parse: [], checked: [] };
    results[name] = r;
    r.parse.push(perCall(() => JSON.parse(text)));
    r.checked.push(perCall(() => duplicateKey(text, JSON.parse(text))));
  }
}

const at = (runs: number[], q: number) =>
  [...runs].sort((a, b) => a - b)[Math.floor(q * (runs.length - 1))] ?? 0;
const summary: Record<
  string,
  { bytes: number; parse_ns: number; added_ns: number; added_p25_ns: number }
> = {};
for (const [name, r] of Object.entries(results)) {
  const added = r.checked.map((t, i) => t - (r.parse[i] ?? 0));
  summary[name] = {
    bytes: (bodies[name] as string).length,
    parse_ns: Math.round(at(r.parse, 0.5)),
    added_ns: Math.round(at(added, 0.5)),
    added_p25_ns: Math.round(at(added, 0.25)),
  };
  console.log(
    `${name.padEnd(30)} ${String(summary[name].bytes).padStart(6)} B   JSON.parse ${summary[name].parse_ns} ns   duplicate check +${summary[name].added_ns} ns (p25 +${summary[name].added_p25_ns})`,
  );
}
if (sink < 0) console.log(sink);
console.log(JSON.stringify({ scenario: 'json-duplicate-keys', rounds, n, results: summary }));
