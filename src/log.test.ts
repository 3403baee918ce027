import { describe, expect, it } from 'bun:test';
import { Writable } from 'node:stream';
import { createLogger } from './log.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { log: createLogger('test', 'info', stream), lines };
}

describe('unit: log redaction', () => {
  it('should hide every kind of credential, at the top and one level down', () => {
    const { log, lines } = capture();
    const secrets = {
      password: 'pw-1',
      adminToken: 'admin-token-1',
      currentToken: 'current-token-1',
      csrfToken: 'csrf-token-1',
      secretAccessKey: 's3-secret-1',
      authorization: 'Bearer bearer-1',
      sharedSecret: 'tcp-shared-secret-1',
    };
    log.info({
      ...secrets,
      request: { ...secrets },
      req: { headers: { cookie: 'session=c-1' } },
      tcp: { sharedSecrets: ['tcp-shared-secret-2'] },
    });
    const line = lines.join('');
    for (const value of [...Object.values(secrets), 'session=c-1', 'tcp-shared-secret-2']) {
      expect(line).not.toContain(value);
    }
    expect(line).toContain('[redacted]');
  });
});
