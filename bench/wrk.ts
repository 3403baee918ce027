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

function luaScript(requests: BenchRequest[], shuffleStart: boolean): string {
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
  return `
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
  writeFileSync(script, luaScript(options.requests, options.shuffleStart ?? true));
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
      output: output.replace(/\n@@RESULT .*\n?/, '\n'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
