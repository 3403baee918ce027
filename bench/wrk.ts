/**
 * Runs wrk with a Lua script that builds every request up front (no string
 * work while measuring) and reports, from wrk's own counters, requests,
 * latency percentiles, HTTP statuses >= 400 and socket errors as JSON.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface WrkOptions {
  url: string;
  connections: number;
  threads: number;
  durationS: number;
  /** wrk's own timeout for one response; beyond it a request counts as a socket timeout. */
  timeoutS?: number;
  requests: BenchRequest[];
  /** Start each wrk thread at a random place in the list, so threads do not move in step. */
  shuffleStart?: boolean;
  /**
   * Logins only: watch when each user first logs in (the user id read from
   * the session token of each 2xx) and report, for `firstLogins` expected
   * users, when the last of them was in and the non-2xx before and after.
   */
  firstLogins?: number;
}

/** When every user of a login load was in, and what failed before and after. */
export interface FirstLogins {
  users_in: number;
  /** Ms from the start until the last user's first 2xx; null if some never got in. */
  all_in_ms: number | null;
  /** Ms from the start until 25, 50, 75 and 90 % of the users were in (null: never). */
  in_ms: (number | null)[];
  non2xx_before: number;
  non2xx_after: number;
}

export interface WrkResult {
  requests: number;
  duration_s: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  non2xx: number;
  socket_errors: number;
  errors: { connect: number; read: number; write: number; timeout: number };
  /** CPU seconds wrk itself used. */
  cpu_s: number;
  first_logins?: FirstLogins;
}

/** A Lua long string that cannot be closed by its content. */
function luaString(text: string): string {
  let level = 1;
  while (text.includes(`]${'='.repeat(level)}]`)) level++;
  const eq = '='.repeat(level);
  return `[${eq}[${text}]${eq}]`;
}

/** Requests per Lua function: well under its 65536 constants (a request adds one or two). */
const LUA_CHUNK = 10_000;

/**
 * Per thread: the wall-clock ms of each user's first 2xx (the user id is
 * bytes 3-10 of the token's payload: its first 16 base64url characters) and
 * of every non-2xx; merged in done(). Only with firstLogins: a response
 * callback makes wrk read every body.
 */
function firstLoginsLua(expected: number): string {
  return `
local ffi = require('ffi')
ffi.cdef[[ typedef struct { long tv_sec; long tv_usec; } usermgr_tv; int gettimeofday(usermgr_tv *tv, void *tz); ]]
local tv = ffi.new('usermgr_tv')
local function now_ms() ffi.C.gettimeofday(tv, nil); return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000 end
local digits = {}
local alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
for i = 1, 64 do digits[alphabet:byte(i)] = i - 1 end
local function user_of(body)
  local token = string.match(body, '"token":"([^".]+)')
  if token == nil or #token < 16 then return nil end
  local bytes = {}
  for i = 1, 16, 4 do
    local n = 0
    for j = 0, 3 do n = n * 64 + (digits[token:byte(i + j)] or 0) end
    bytes[#bytes + 1] = math.floor(n / 65536) % 256
    bytes[#bytes + 1] = math.floor(n / 256) % 256
    bytes[#bytes + 1] = n % 256
  end
  return table.concat(bytes, '.', 3, 10)
end
first = {}
bad = {}
response = function(status, headers, body)
  local t = now_ms()
  if status >= 200 and status < 300 then
    local user = user_of(body)
    if user ~= nil and first[user] == nil then first[user] = t end
  else
    bad[#bad + 1] = t
  end
end
local threads = {}
local started = nil
setup = function(thread)
  started = started or now_ms()
  threads[#threads + 1] = thread
end
local function first_logins()
  local firsts, users, last = {}, 0, 0
  for _, thread in ipairs(threads) do
    for user, t in pairs(thread:get('first')) do
      if firsts[user] == nil or t < firsts[user] then firsts[user] = t end
    end
  end
  local times = {}
  for _, t in pairs(firsts) do
    users = users + 1; times[users] = t - started
    if t > last then last = t end
  end
  table.sort(times)
  local quarters = {}
  for i, share in ipairs({0.25, 0.5, 0.75, 0.9}) do
    local at = math.ceil(share * ${expected})
    quarters[i] = times[at] and string.format('%d', times[at]) or 'null'
  end
  local all_in = users >= ${expected}
  local before, after = 0, 0
  for _, thread in ipairs(threads) do
    for _, t in ipairs(thread:get('bad')) do
      if all_in and t > last then after = after + 1 else before = before + 1 end
    end
  end
  io.write(string.format('\\n@@FIRST {"users_in":%d,"all_in_ms":%s,"in_ms":[%s],"non2xx_before":%d,"non2xx_after":%d}\\n',
    users, all_in and string.format('%d', last - started) or 'null', table.concat(quarters, ','), before, after))
end
`;
}

function luaScript(requests: BenchRequest[], shuffleStart: boolean, firstLogins = 0): string {
  const entries = requests.map((r) => {
    const headers = Object.entries(r.headers ?? {})
      .map(([k, v]) => `[ ${luaString(k)} ] = ${luaString(v)}`)
      .join(', ');
    return `{ ${luaString(r.method)}, ${luaString(r.path)}, { ${headers} }, ${r.body === undefined ? 'nil' : luaString(r.body)} }`;
  });
  // Lua allows at most 65536 constants in one function: the list is built in
  // chunks, each in a function of its own (cold-login sends 200,000 bodies).
  const chunks: string[] = [];
  for (let i = 0; i < entries.length; i += LUA_CHUNK) {
    chunks.push(
      `add((function() return {\n${entries.slice(i, i + LUA_CHUNK).join(',\n')}\n} end)())`,
    );
  }
  return `${firstLogins > 0 ? firstLoginsLua(firstLogins) : 'local function first_logins() end'}
local specs = {}
local function add(list) for _, s in ipairs(list) do specs[#specs + 1] = s end end
${chunks.join('\n')}
local requests = {}
local n = 0
local index = 0

init = function(args)
  for i, s in ipairs(specs) do requests[i] = wrk.format(s[1], s[2], s[3], s[4]) end
  n = #requests
  ${shuffleStart ? 'math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)); index = math.random(n) - 1' : 'index = 0'}
end

request = function()
  index = index % n + 1
  return requests[index]
end

done = function(summary, latency, _)
  first_logins()
  local e = summary.errors
  io.write(string.format(
    '\\n@@RESULT {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`;
}

export async function runWrk(options: WrkOptions): Promise<WrkResult & { output: string }> {
  if (Bun.which('wrk') === null) {
    throw new Error('wrk is not installed: apt-get install -y wrk (see bench/README.md)');
  }
  if (options.requests.length === 0) throw new Error('no requests to send');
  const dir = mkdtempSync(join(tmpdir(), 'usermgr-wrk-'));
  const script = join(dir, 'bench.lua');
  writeFileSync(
    script,
    luaScript(options.requests, options.shuffleStart ?? true, options.firstLogins ?? 0),
  );
  try {
    const proc = Bun.spawn(
      [
        'wrk',
        `-t${options.threads}`,
        `-c${options.connections}`,
        `-d${options.durationS}s`,
        `--timeout`,
        `${options.timeoutS ?? 10}s`,
        '-s',
        script,
        options.url,
      ],
      { stdout: 'pipe', stderr: 'pipe' },
    );
    const [output, errors] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
    ]);
    await proc.exited;
    const usage = proc.resourceUsage();
    const cpu = usage ? Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6 : 0;
    const line = output.split('\n').find((l) => l.startsWith('@@RESULT '));
    if (line === undefined)
      throw new Error(`wrk gave no result (exit ${proc.exitCode}):\n${output}\n${errors}`);
    const raw = JSON.parse(line.slice('@@RESULT '.length)) as Record<string, number>;
    const n = (key: string) => raw[key] ?? 0;
    const duration = n('duration_us') / 1e6;
    const socketErrors = n('connect') + n('read') + n('write') + n('timeout');
    const first = output.split('\n').find((l) => l.startsWith('@@FIRST '));
    return {
      requests: n('requests'),
      duration_s: Math.round(duration * 100) / 100,
      rps: Math.round(n('requests') / duration),
      p50_ms: Math.round(n('p50_us') / 10) / 100,
      p99_ms: Math.round(n('p99_us') / 10) / 100,
      max_ms: Math.round(n('max_us') / 10) / 100,
      non2xx: n('status'),
      socket_errors: socketErrors,
      errors: { connect: n('connect'), read: n('read'), write: n('write'), timeout: n('timeout') },
      cpu_s: Math.round(cpu * 100) / 100,
      ...(first ? { first_logins: JSON.parse(first.slice('@@FIRST '.length)) as FirstLogins } : {}),
      output: output.replace(/\n@@(RESULT|FIRST) .*\n?/g, '\n'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
