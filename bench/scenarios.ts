/**
 * What each scenario sends. Seeded user i is `user<i>` with password
 * `Passw0rd-<i mod 1000>` (bench/seed.ts). Requests are built here, before
 * the run; sessions a scenario needs are opened here too, and the first
 * login of each user (the slow argon2 one) happens here, not while measured.
 */
import type { BenchRequest } from './wrk.ts';

export const SCENARIOS = ['baseline', 'login', 'profile', 'nickname', 'cold-login'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Plan {
  /** What wrk sends while measured. */
  requests: BenchRequest[];
  /** Sent once before measuring, a few at a time (argon2, JIT, cache). */
  warmUp: BenchRequest[];
}

const json = { 'Content-Type': 'application/json' };

export function loginRequest(i: number): BenchRequest {
  return {
    method: 'POST',
    path: '/open_api/v1/authenticate',
    headers: json,
    body: JSON.stringify({ username: `user${i}`, password: `Passw0rd-${i % 1000}` }),
  };
}

/** `count` seeded user numbers: 1..count, or distinct random ones in 1..seeded. */
export function pickUsers(
  count: number,
  random: boolean,
  seeded: number,
  avoid = new Set<number>(),
): number[] {
  if (!random) return Array.from({ length: count }, (_, k) => k + 1);
  if (count > seeded - avoid.size)
    throw new Error(`cannot pick ${count} distinct users out of ${seeded}`);
  const picked = new Set<number>();
  while (picked.size < count) {
    const i = 1 + Math.floor(Math.random() * seeded);
    if (!avoid.has(i)) picked.add(i);
  }
  return [...picked];
}

/** How long one request may keep being refused as "busy" (429, 503) before the run. */
const BUSY_RETRY_MS = 60_000;

/**
 * Sends `r` until it is answered 2xx and returns the answer. One refused as busy
 * (the hash queue full on a loaded machine: "too many sign-ins at once") is sent
 * again after the Retry-After it names, for up to BUSY_RETRY_MS; any other
 * answer ends the run with its status and text.
 */
async function sendUntilServed(url: string, r: BenchRequest): Promise<Response> {
  const giveUpAt = Date.now() + BUSY_RETRY_MS;
  for (;;) {
    const res = await fetch(new URL(r.path, url), {
      method: r.method,
      headers: r.headers,
      body: r.body,
    });
    if (res.status >= 200 && res.status < 300) return res;
    const text = await res.text();
    if ((res.status !== 429 && res.status !== 503) || Date.now() > giveUpAt)
      throw new Error(`${r.method} ${r.path} answered ${res.status}: ${text.slice(0, 200)}`);
    const afterS = Number(res.headers.get('retry-after'));
    await Bun.sleep(Number.isFinite(afterS) && afterS > 0 ? Math.min(afterS, 5) * 1000 : 500);
  }
}

/** Sends each of `requests` once, `parallel` at a time, each as `sendUntilServed` does; returns the answers in order. */
async function sendAll(
  url: string,
  requests: BenchRequest[],
  parallel: number,
  read: (res: Response) => Promise<unknown> = (res) => res.text(),
): Promise<unknown[]> {
  const answers: unknown[] = new Array(requests.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let k = next++; k < requests.length; k = next++) {
        answers[k] = await read(await sendUntilServed(url, requests[k] as BenchRequest));
      }
    }),
  );
  return answers;
}

/** Logs each user in once and returns their tokens, in order. */
export async function openSessions(url: string, users: number[], parallel = 16): Promise<string[]> {
  const answers = await sendAll(url, users.map(loginRequest), parallel, (res) => res.json());
  return answers.map((a) => (a as { token: string }).token);
}

const NICKNAMES = [
  'Ẓoë',
  '李小龙',
  '🚀 rocket',
  'Ünïcödé',
  '名前 🎉',
  'Ωmega',
  'नमस्ते',
  'مرحبا',
  'Привет',
  '👩‍💻 dev',
];

/** Builds the requests of a scenario against the HTTP server at `url`. */
export async function plan(
  scenario: Scenario,
  url: string,
  users: number[],
  seeded: number,
): Promise<Plan> {
  switch (scenario) {
    case 'baseline': {
      const requests = users.map((i) => ({ ...loginRequest(i), path: '/baseline' }));
      return { requests, warmUp: requests.slice(0, 50) };
    }
    case 'login': {
      const requests = users.map(loginRequest);
      return { requests, warmUp: requests };
    }
    case 'profile': {
      const tokens = await openSessions(url, users);
      const requests = tokens.map(
        (token): BenchRequest => ({
          method: 'GET',
          path: '/api/v1/me',
          headers: { Authorization: `Bearer ${token}` },
        }),
      );
      return { requests, warmUp: requests.slice(0, 200) };
    }
    case 'nickname': {
      const tokens = await openSessions(url, users);
      const requests: BenchRequest[] = [];
      for (let round = 0; round < 5; round++) {
        tokens.forEach((token, k) => {
          requests.push({
            method: 'PATCH',
            path: '/api/v1/me',
            headers: { ...json, Authorization: `Bearer ${token}` },
            body: JSON.stringify({
              nickname: `${NICKNAMES[(k + round) % NICKNAMES.length]} ${round}`,
            }),
          });
        });
      }
      return { requests, warmUp: requests.slice(0, 100) };
    }
    case 'cold-login': {
      // Users that were never logged in by this run: every request misses the memo.
      const cold = pickUsers(
        Math.min(200_000, seeded - users.length),
        true,
        seeded,
        new Set(users),
      );
      return { requests: cold.map(loginRequest), warmUp: [] };
    }
  }
}

/** Sends `requests` once, `parallel` at a time; fails on an answer that is not 2xx but busy ones for a while (`sendUntilServed`). */
export async function warm(url: string, requests: BenchRequest[], parallel = 16): Promise<void> {
  await sendAll(url, requests, parallel);
}
