/**
 * Which JavaScript function each CPU sample of a server falls under, from
 * `perf` and JavaScriptCore's JIT dump: the samples in Bun's (stripped)
 * binary and in the kernel are counted against the nearest JIT-compiled
 * function above them on the stack, the samples in JIT code against that
 * function itself. `perf inject --jit` does not read the dumps Bun writes
 * (named `jit-<thread>-<pid>.dump`), so this reads them.
 *
 *   export MYSQL_URL=mysql://root@127.0.0.1:3306/usermgr_b200k
 *   BUN_JSC_useJITDump=1 BUN_JSC_jitDumpDirectory=/tmp/jd bun bench/run.ts login --duration 20 --no-baseline &
 *   sleep 12; pid=$(pgrep -f src/tcp/main.ts)
 *   perf record -k 1 -g -F 999 -p "$pid" -o /tmp/jd/perf.data -- sleep 5
 *   perf script -i /tmp/jd/perf.data -F tid,ip,sym,dso > /tmp/jd/script.txt
 *   bun bench/js-callers.ts --pid "$pid" --dir /tmp/jd [--top 40]
 *
 * Shares are of the samples of the process's JavaScript thread (its tid is
 * the pid). A function the JIT inlined counts as the function it was
 * inlined into; code freed and reused by the JIT counts as its last owner.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    pid: { type: 'string' },
    dir: { type: 'string' },
    script: { type: 'string', default: 'script.txt' },
    top: { type: 'string', default: '40' },
  },
});
if (!values.pid || !values.dir)
  throw new Error('usage: bun bench/js-callers.ts --pid PID --dir DIR');
const pid = values.pid;
const dir = values.dir;

interface Code {
  start: bigint;
  end: bigint;
  name: string;
}

/** The JIT_CODE_LOAD records of a JIT dump (the jitdump format of Linux perf), by address. */
function loadDump(path: string): Code[] {
  const bytes = readFileSync(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const codes: Code[] = [];
  let at = view.getUint32(8, true); // the header's size
  while (at + 16 <= bytes.length) {
    const id = view.getUint32(at, true);
    const size = view.getUint32(at + 4, true);
    if (size === 0) break;
    if (id === 0) {
      const start = view.getBigUint64(at + 32, true);
      const length = view.getBigUint64(at + 40, true);
      const nameEnd = bytes.indexOf(0, at + 56);
      codes.push({
        start,
        end: start + length,
        name: bytes.subarray(at + 56, nameEnd).toString('utf8'),
      });
    }
    at += size;
  }
  return codes.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

function nameAt(codes: Code[], address: bigint): string | null {
  let low = 0;
  let high = codes.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const code = codes[mid] as Code;
    if (address < code.start) high = mid - 1;
    else if (address >= code.end) low = mid + 1;
    else return code.name;
  }
  return null;
}

const dump = readdirSync(dir).find((f) => f.startsWith('jit-') && f.endsWith(`-${pid}.dump`));
if (dump === undefined) throw new Error(`no jit-*-${pid}.dump in ${dir}`);
const codes = loadDump(join(dir, dump));
// Thunks and inline caches stand between a function and what it calls: look past them.
const isGlue = (name: string) => /Thunk|InlineCache/.test(name);

const under = new Map<string, number>();
const self = new Map<string, number>();
const kinds = new Map<string, number>();
const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
let samples = 0;
let frames: { address: bigint; jit: boolean; dso: string }[] = [];
let thread = '';

function settle(): void {
  if (thread !== pid || frames.length === 0) return;
  samples++;
  const [leaf] = frames;
  const leafName = leaf?.jit ? nameAt(codes, leaf.address) : null;
  if (leafName !== null) {
    add(kinds, 'JIT code');
    add(self, leafName);
    return;
  }
  add(kinds, leaf?.dso.includes('kernel') ? 'kernel' : leaf?.dso.includes('bun') ? 'Bun' : 'other');
  let caller = '(no JavaScript on the stack)';
  for (const frame of frames.slice(1)) {
    const name = frame.jit ? nameAt(codes, frame.address) : null;
    if (name !== null && !isGlue(name)) {
      caller = name;
      break;
    }
  }
  add(under, caller);
}

for (const line of readFileSync(join(dir, values.script), 'utf8').split('\n')) {
  if (!line.startsWith('\t')) {
    settle();
    thread = line.trim();
    frames = [];
    continue;
  }
  const [address, ...rest] = line.trim().split(/\s+/);
  if (address === undefined || !/^[0-9a-f]+$/.test(address)) continue;
  const dso = rest.at(-1) ?? '';
  frames.push({ address: BigInt(`0x${address}`), jit: dso.includes('perf-'), dso });
}
settle();

const share = (n: number) => `${((100 * n) / samples).toFixed(1).padStart(5)} %`;
const top = (map: Map<string, number>, n: number) =>
  [...map].sort((a, b) => b[1] - a[1]).slice(0, n);
console.log(`${samples} samples of thread ${pid}`);
for (const [kind, n] of top(kinds, 10)) console.log(`${share(n)}  in ${kind}`);
console.log('\nin Bun or the kernel, under the nearest JavaScript function:');
for (const [name, n] of top(under, Number(values.top))) console.log(`${share(n)}  ${name}`);
console.log('\nin JIT code, by function:');
for (const [name, n] of top(self, 15)) console.log(`${share(n)}  ${name}`);
