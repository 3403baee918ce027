/**
 * `bun bench/estimate-slots.ts [none|hash|strength] [attackers] [--root DIR]`: do
 * strength estimates starve the slow hashes? Drives one Passwords (2 hash slots,
 * argon2id 19 MiB, t=2) directly: `attackers` addresses keep estimates of crafted
 * passwords (`strength`), or argon2 hashes (`hash`), or nothing (`none`) in flight,
 * while 8 stranger addresses verify wrong passwords for 4 s. Prints the strangers'
 * verifies done, their p50 and p99 in ms, and the attackers' jobs done. `--root`
 * runs the Passwords of another checkout, to compare. (Written by a reviewer, who
 * found the estimates holding the hashes' slots, 2026-12-05.)
 */
const rootAt = process.argv.indexOf('--root');
const root = rootAt > 0 ? (process.argv[rootAt + 1] as string) : `${import.meta.dir}/..`;
if (rootAt > 0) process.argv.splice(rootAt, 2);
const { Passwords } = (await import(
  `${root}/src/core/passwords.ts`
)) as typeof import('../src/core/passwords.ts');
const { Deadline } = (await import(
  `${root}/src/lib/deadline.ts`
)) as typeof import('../src/lib/deadline.ts');
const CRAFTED = ['1234567890'.repeat(4).slice(0, 32), '19870412'.repeat(4), 'a1!B'.repeat(8)];
const mode = process.argv[2] ?? 'strength';
const attackersN = Number(process.argv[3] ?? 8);
const p = new Passwords({
  memoryKiB: 19456,
  timeCost: 2,
  concurrency: 2,
  maxWaiting: 256,
  maxWaitingPerClient: 8,
});
p.warmEstimator();
const hash = await p.hash('correct horse battery', Deadline.after(10000));
await Bun.sleep(1500);
let stop = false,
  n = 0,
  attackerDone = 0;
const attackers = [] as Promise<void>[];
if (mode !== 'none')
  for (let a = 0; a < attackersN; a++)
    attackers.push(
      (async () => {
        while (!stop) {
          try {
            if (mode === 'strength')
              await p.weakness(CRAFTED[n++ % 3] as string, ['a', 'a'], Deadline.after(10000), {
                clientIp: `192.0.2.${a}`,
                known: false,
              });
            else
              await p.hash(CRAFTED[n++ % 3] as string, Deadline.after(10000), {
                clientIp: `192.0.2.${a}`,
                known: false,
              });
            attackerDone++;
          } catch {
            await Bun.sleep(10);
          }
        }
      })(),
    );
await Bun.sleep(800);
let done = 0;
const lat: number[] = [];
let stopL = false;
const logins = Array.from({ length: 8 }, (_, i) =>
  (async () => {
    while (!stopL) {
      const t = performance.now();
      try {
        await p.verify('wrong', hash, Deadline.after(10000), {
          clientIp: `198.51.100.${i}`,
          known: false,
        });
        done++;
        lat.push(performance.now() - t);
      } catch {
        await Bun.sleep(10);
      }
    }
  })(),
);
await Bun.sleep(4000);
stopL = true;
await Promise.all(logins);
stop = true;
await Promise.all(attackers);
lat.sort((a, b) => a - b);
console.log(
  mode,
  attackersN,
  'logins in 4s',
  done,
  'p50',
  lat[lat.length >> 1]?.toFixed(0),
  'p99',
  lat[Math.floor(lat.length * 0.99)]?.toFixed(0),
  'attacker jobs',
  attackerDone,
);
p.close();
