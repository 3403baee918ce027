/**
 * The hostile-image table on the real stack (MariaDB, Redis, image
 * processes): every file is refused with a 400 before any decoder runs, or
 * done, within about 1 s of CPU and 64 MiB of extra memory. Both processes
 * that could pay are measured: the TCP server (this process: the fixture
 * runs it here) by process.cpuUsage() and RSS sampled every 5 ms, and the
 * image process that decoded the file by what it reports for the job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonInit, type Stack, startStack } from '../fixture.ts';
import { type HostileImage, png } from '../support/images.ts';

const MiB = 1024 * 1024;
const CPU_BUDGET_MS = 1000;
const MEMORY_BUDGET = 64 * MiB;
/** Making the files and decoding the accepted ones at nice 19 take a while on a busy machine. */
const SLOW_MS = 120_000;

let stack: Stack;
let token: string;
let dir: string;
let rows: HostileImage[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'usermgr-hostile-'));
  // Made by a process of its own: making them must not cost this one memory.
  const made = Bun.spawnSync([process.execPath, 'test/support/images.ts', dir], {
    stderr: 'inherit',
  });
  if (!made.success) throw new Error(`making the hostile images failed: ${made.exitCode}`);
  rows = JSON.parse(made.stdout.toString()) as HostileImage[];
  stack = await startStack({ store: 'mysql', redis: true, env: { PICTURE_UPLOAD_BURST: '1000' } });
  const username = `hostile_${Date.now().toString(36)}`;
  const password = 'correct horse battery';
  await stack.fetch('/open_api/v1/register', jsonInit('POST', { username, password }));
  const login = await stack.fetch(
    '/open_api/v1/authenticate',
    jsonInit('POST', { username, password }),
  );
  token = ((await login.json()) as { token: string }).token;
}, SLOW_MS);
afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function upload(image: Uint8Array) {
  const res = await stack.fetch('/api/v1/me/picture', {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}` },
    body: image as Uint8Array<ArrayBuffer>,
  });
  return { status: res.status, body: (await res.json()) as { error?: { message: string } } };
}

interface Measured {
  name: string;
  status: number;
  message: string;
  decoded: boolean;
  cpuMs: number;
  tcpRssMiB: number;
  imageRssMiB: number;
}

describe('integration: hostile images', () => {
  it(
    'should refuse each before decoding or finish it within about 1 s of CPU and 64 MiB',
    async () => {
      const images = stack.tcp.images;
      // The image process starts on first use: its start-up is not any file's cost.
      expect((await upload(await png(40, 30))).status).toBe(200);
      const table: Measured[] = [];
      for (const row of rows) {
        const image = new Uint8Array(await Bun.file(join(dir, row.file)).arrayBuffer());
        Bun.gc(true);
        const jobs = images.counts.jobs;
        const rssBefore = process.memoryUsage.rss();
        let rssPeak = rssBefore;
        const sampler = setInterval(() => {
          rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
        }, 5);
        const cpu = process.cpuUsage();
        const { status, body } = await upload(image);
        const used = process.cpuUsage(cpu);
        clearInterval(sampler);
        const decoded = images.counts.jobs > jobs;
        const cost = decoded ? images.costs.at(-1) : undefined;
        table.push({
          name: row.name,
          status,
          message: body.error?.message ?? '',
          decoded,
          cpuMs: Math.round((used.user + used.system) / 1000 + (cost?.cpuMs ?? 0)),
          tcpRssMiB: Math.round((Math.max(rssPeak, process.memoryUsage.rss()) - rssBefore) / MiB),
          imageRssMiB: cost ? Math.round((cost.rssPeak - cost.rssBefore) / MiB) : 0,
        });
      }
      console.log(
        table
          .map(
            (m) =>
              `${m.name.padEnd(46)} ${m.status} ${m.decoded ? 'decoded' : 'refused'} ` +
              `cpu ${m.cpuMs} ms, tcp +${m.tcpRssMiB} MiB, image process +${m.imageRssMiB} MiB ${m.message}`,
          )
          .join('\n'),
      );
      for (const [i, m] of table.entries()) {
        const row = rows[i] as HostileImage;
        expect([m.name, m.status]).toEqual([row.name, row.status]);
        // A refusal is decided from the container: no decoder ever saw the file.
        expect([m.name, m.decoded]).toEqual([row.name, row.status === 200]);
        expect([m.name, m.cpuMs <= CPU_BUDGET_MS]).toEqual([m.name, true]);
        expect([m.name, m.tcpRssMiB * MiB <= MEMORY_BUDGET]).toEqual([m.name, true]);
        expect([m.name, m.imageRssMiB * MiB <= MEMORY_BUDGET]).toEqual([m.name, true]);
      }
      expect(table.filter((m) => m.status === 400).every((m) => m.message !== '')).toBe(true);
    },
    SLOW_MS,
  );
});
