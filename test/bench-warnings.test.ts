/**
 * bench/procs.ts reads each server's log for warnings, so that a benchmark
 * shows what the servers complained of during the run (a run once hid the
 * list of sessions dropping entries: its log went nowhere).
 */
import { afterAll, describe, expect, it } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverWarnings, startServer } from '../bench/procs.ts';

const dir = mkdtempSync(join(tmpdir(), 'usermgr-bench-warnings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench/procs.ts', () => {
  it("should count a server's log lines at warn level and above, by message", async () => {
    const line = (level: number, msg: string) => JSON.stringify({ level, time: 1, msg });
    // Lines split across writes, a line that is not pino's, and levels below warn.
    const script = [
      `process.stdout.write(${JSON.stringify(`${line(30, 'request')}\n${line(40, 'store is behind')}\n{"lev`)});`,
      `await Bun.sleep(20);`,
      `process.stdout.write(${JSON.stringify(`el":40,"msg":"store is behind"}\nusermgr is up: http://x/\n${line(50, 'cannot save')}\n${line(20, 'debug')}\n`)});`,
    ].join('\n');
    writeFileSync(join(dir, 'server.ts'), script);
    const server = startServer('tcp', 'server.ts', {}, '', dir);
    await server.logRead;
    expect(serverWarnings([server])).toEqual({
      'tcp: store is behind': 2,
      'tcp: cannot save': 1,
    });
  });
});
