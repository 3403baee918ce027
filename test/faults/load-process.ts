/**
 * The load generator runs in a process of its own: Bun's fetch keeps at most
 * BUN_CONFIG_MAX_HTTP_REQUESTS requests in flight per process (256 unless
 * set at start-up), and requests beyond that would wait inside the client
 * and look like server latency. It also keeps the generator's own work off
 * the test process's event loop.
 *
 * The parent writes a LoadSpec to a file, starts this script on it, stops it
 * with SIGTERM, and reads the samples back from `<spec>.out.json`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Subprocess } from 'bun';
import { OUTCOMES, type Outcome, type Sample, type Shot, startLoad, startStorm } from './load.ts';

export type Kind = 'login' | 'me' | 'write' | 'signup' | 'wrong';
const KINDS: readonly Kind[] = ['login', 'me', 'write', 'signup', 'wrong'];

export interface Account {
  username: string;
  token: string;
}

export interface LoadSpec {
  /** Base URL of the HTTP server, with a trailing slash. */
  base: string;
  password: string;
  readers: Account[];
  writers: Account[];
  victims: string[];
  /** Makes sign-up usernames unique per run. */
  tag: string;
  /** Relative weights of the request kinds. */
  mix: Partial<Record<Kind, number>>;
  timeoutMs: number;
  /** Stops by itself after this long, whatever happens to the parent. */
  maxMs: number;
  /** Open loop at this rate, or ... */
  rate?: number;
  /** ... a closed-loop storm of this many workers. */
  storm?: { workers: number; pauseOn429Ms: number };
}

const json = (body: unknown, token?: string): RequestInit => ({
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  },
  body: JSON.stringify(body),
});

/** The i-th request of the spec's mix, spread evenly (not in blocks of one kind). */
export function shots(spec: LoadSpec): (i: number) => Shot {
  const pattern: Kind[] = [];
  const weights = KINDS.map((k) => spec.mix[k] ?? 0);
  const sum = weights.reduce((a, b) => a + b, 0);
  const credit = weights.map(() => 0);
  for (let n = 0; n < sum; n++) {
    for (let k = 0; k < KINDS.length; k++)
      credit[k] = (credit[k] as number) + (weights[k] as number);
    let best = 0;
    for (let k = 1; k < KINDS.length; k++)
      if ((credit[k] as number) > (credit[best] as number)) best = k;
    credit[best] = (credit[best] as number) - sum;
    pattern.push(KINDS[best] as Kind);
  }
  const pick = <T>(list: T[], i: number): T => list[i % list.length] as T;
  return (i) => {
    const kind = pattern[i % pattern.length] as Kind;
    switch (kind) {
      case 'login': {
        const { username } = pick(spec.readers, i);
        return {
          kind,
          url: `${spec.base}open_api/v1/authenticate`,
          init: json({ username, password: spec.password }),
        };
      }
      case 'me':
        return {
          kind,
          url: `${spec.base}api/v1/me`,
          init: { headers: { authorization: `Bearer ${pick(spec.readers, i).token}` } },
        };
      case 'write':
        return {
          kind,
          url: `${spec.base}api/v1/me`,
          init: {
            ...json({ nickname: `fault ${i} 🚀` }, pick(spec.writers, i).token),
            method: 'PATCH',
          },
        };
      case 'signup':
        return {
          kind,
          url: `${spec.base}open_api/v1/register`,
          init: json({ username: `fs${spec.tag}_${i}`, password: spec.password }),
        };
      case 'wrong':
        return {
          kind,
          url: `${spec.base}open_api/v1/authenticate`,
          init: json({ username: pick(spec.victims, i), password: `wrong password ${i}` }),
        };
    }
  };
}

type Packed = [number, number, number, number, number];

function pack(s: Sample): Packed {
  return [KINDS.indexOf(s.kind as Kind), s.start, s.ms, OUTCOMES.indexOf(s.outcome), s.status];
}

function unpack([kind, start, ms, outcome, status]: Packed): Sample {
  return {
    kind: KINDS[kind] as string,
    start,
    ms,
    outcome: OUTCOMES[outcome] as Outcome,
    status,
  };
}

export interface RunningLoad {
  /** Stops it (SIGTERM) and returns every sample. */
  stop(): Promise<Sample[]>;
  /** Waits for it to end by itself (a storm) and returns every sample. */
  finished(): Promise<Sample[]>;
}

/**
 * Starts a generator process on `spec`; resolves once it is sending.
 * `track` is told its pid (the orphan guard).
 */
export async function spawnLoad(
  spec: LoadSpec,
  specPath: string,
  track: (pid: number) => void,
): Promise<RunningLoad> {
  writeFileSync(specPath, JSON.stringify(spec));
  const proc: Subprocess<'ignore', 'pipe', 'inherit'> = Bun.spawn(
    [process.execPath, import.meta.path, specPath],
    {
      env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: '65536' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  track(proc.pid);
  const reader = proc.stdout.getReader();
  const first = await Promise.race([reader.read(), Bun.sleep(10_000).then(() => null)]);
  if (first === null || first.done) {
    proc.kill('SIGKILL');
    throw new Error('the load generator did not start');
  }
  reader.releaseLock();
  const collect = async (): Promise<Sample[]> => {
    const code = await proc.exited;
    if (code !== 0) throw new Error(`the load generator exited with ${code}`);
    const packed = JSON.parse(readFileSync(`${specPath}.out.json`, 'utf8')) as Packed[];
    return packed.map(unpack);
  };
  return {
    stop() {
      proc.kill('SIGTERM');
      return collect();
    },
    finished: collect,
  };
}

async function main(specPath: string): Promise<void> {
  const spec = JSON.parse(readFileSync(specPath, 'utf8')) as LoadSpec;
  const next = shots(spec);
  let samples: Sample[];
  if (spec.storm) {
    process.stdout.write('started\n');
    samples = await startStorm({
      workers: spec.storm.workers,
      durationMs: spec.maxMs,
      timeoutMs: spec.timeoutMs,
      next,
      pauseOn429Ms: spec.storm.pauseOn429Ms,
    });
  } else {
    const load = startLoad({
      rate: spec.rate ?? 100,
      durationMs: spec.maxMs,
      timeoutMs: spec.timeoutMs,
      next,
    });
    process.on('SIGTERM', () => load.stop());
    process.stdout.write('started\n');
    samples = await load.done;
  }
  writeFileSync(`${specPath}.out.json`, JSON.stringify(samples.map(pack)));
  process.exit(0);
}

if (import.meta.main) await main(process.argv[2] as string);
