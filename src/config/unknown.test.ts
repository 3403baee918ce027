import { afterAll, describe, expect, it } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unknownVariableWarnings } from './unknown.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'usermgr-env-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('unit: variables that look meant for usermgr', () => {
  it('should warn about near misses of declared names in the environment, and leave others alone', () => {
    const env = {
      HTTP_PROCESS: '1',
      REDIS_UR: 'redis://127.0.0.1:6379',
      SESSION_SECRETS: 'x',
      HTTP_PORT: '8080',
      HTTP_PROXY: 'http://proxy:3128',
      http_proxy: 'http://proxy:3128',
      no_proxy: 'localhost',
      redis_url: 'redis://127.0.0.1:6379',
      PATH: '/usr/bin',
      HOME: '/root',
      USERMGR_SUPERVISED: '1',
    };
    expect(unknownVariableWarnings(env, dirWith({}))).toEqual([
      'warning: HTTP_PROCESS is not a usermgr variable, so it changes nothing; did you mean HTTP_PROCESSES?',
      'warning: REDIS_UR is not a usermgr variable, so it changes nothing; did you mean REDIS_URL?',
      'warning: SESSION_SECRETS is not a usermgr variable, so it changes nothing; did you mean SESSION_SECRET?',
      // Names are case-sensitive: a lower-case one is another variable, and nothing reads it.
      'warning: redis_url is not a usermgr variable, so it changes nothing; did you mean REDIS_URL?',
    ]);
  });

  it('should warn about every name of .env and .env.local that is not declared, once', () => {
    const dir = dirWith({
      '.env':
        '# a comment\nREDIS_UR=redis://127.0.0.1:6379\nHTTP_PORT=8081\nexport GREETING=hello\nhttp_port=8082\n',
      '.env.local': 'TCP_PROT=9091\n',
    });
    expect(unknownVariableWarnings({ REDIS_UR: 'redis://127.0.0.1:6379' }, dir)).toEqual([
      'warning: REDIS_UR in .env is not a usermgr variable, so it changes nothing; did you mean REDIS_URL?',
      'warning: GREETING in .env is not a usermgr variable, so it changes nothing',
      'warning: http_port in .env is not a usermgr variable, so it changes nothing; did you mean HTTP_PORT?',
      'warning: TCP_PROT in .env.local is not a usermgr variable, so it changes nothing; did you mean TCP_PORT?',
    ]);
  });
});
