/**
 * What checking a login body costs: the hand-written field checks of
 * src/http/json.ts against the same checks declared with Valibot, Zod and
 * ArkType (a string of at most N UTF-16 units, well-formed; the password
 * optional). Each sample parses the JSON text and checks it, as a route does.
 * The libraries are not dependencies of the project; install them first:
 *
 *   npm install --no-save valibot@1.5.0 zod@4.6.7 arktype@2.2.9
 *   bun bench/schema-libraries.ts [--rounds 7] [--bodies 1000000]
 */
import { parseArgs } from 'node:util';
import { stringField } from '../src/http/json.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    bodies: { type: 'string', default: '1000000' },
  },
});
const rounds = Number(values.rounds);
const bodies = Number(values.bodies);

// Names in variables: the libraries are optional, so nothing type-checks against them.
const [valibot, zod, arktype] = ['valibot', 'zod', 'arktype'];
const v = await import(valibot as string);
const { z } = await import(zod as string);
const { type } = await import(arktype as string);

const wellFormed = (s: string) => s.isWellFormed();
const valibotSchema = v.object({
  username: v.pipe(v.string(), v.maxLength(64), v.check(wellFormed)),
  password: v.optional(v.pipe(v.string(), v.maxLength(1024), v.check(wellFormed)), ''),
});
const zodSchema = z.object({
  username: z.string().max(64).refine(wellFormed),
  password: z.string().max(1024).refine(wellFormed).default(''),
});
const arktypeSchema = type({
  username: type('string <= 64').narrow(wellFormed),
  'password?': type('string <= 1024').narrow(wellFormed),
});

type Check = (body: Record<string, unknown>) => unknown;
const checks: [string, Check][] = [
  ['JSON.parse alone', (body) => body],
  [
    'hand-written (json.ts)',
    (body) => ({
      username: stringField(body, 'username', 64),
      password: stringField(body, 'password', 1024, false),
    }),
  ],
  ['Valibot safeParse', (body) => v.safeParse(valibotSchema, body).success],
  ['Zod safeParse', (body) => zodSchema.safeParse(body).success],
  ['ArkType', (body) => !(arktypeSchema(body) instanceof type.errors)],
];

const text = JSON.stringify({ username: 'user17', password: 'Passw0rd-17' });
const samples = new Map<string, number[]>();
let kept = 0;
for (let round = 0; round < rounds; round++) {
  for (const [name, check] of checks) {
    const start = Bun.nanoseconds();
    for (let i = 0; i < bodies; i++) if (check(JSON.parse(text))) kept++;
    const ns = (Bun.nanoseconds() - start) / bodies;
    // The first two rounds warm the JIT up.
    if (round >= 2) samples.set(name, [...(samples.get(name) ?? []), ns]);
  }
}
if (kept === 0) throw new Error('nothing was checked');
for (const [name, ns] of samples) {
  const sorted = [...ns].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  console.log(
    `${name.padEnd(24)} median ${median.toFixed(0).padStart(5)} ns, best ${(sorted[0] ?? 0).toFixed(0).padStart(5)} ns per body`,
  );
}
