import { describe, expect, it } from 'bun:test';
import pino from 'pino';
import { Status } from '../wire/status.ts';
import { AccountAudit } from './account-audit.ts';

describe('unit: AccountAudit', () => {
  // Regression (an attack pass): every refused session wrote a warning line, so one
  // client wrote 19,817 lines, 4.4 MB, in 10 s and buried the audit trail.
  it('should sample the lines of actions without a session, counting those left out, and keep every user’s', () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const clock = { now: 1_000 };
    const audit = new AccountAudit(log, () => clock.now);
    const caller = { requestId: 'r', clientIp: '192.0.2.1' };
    const alice = { id: '1', username: 'alice' };
    for (let i = 0; i < 150; i++) audit.write(caller, 'end-session', null, Status.UNAUTHENTICATED);
    for (let i = 0; i < 150; i++) audit.write(caller, 'end-session', alice, Status.OK);
    const sessionless = lines.filter((line) => line.username === undefined);
    expect(sessionless).toHaveLength(100);
    expect(lines.filter((line) => line.username === 'alice')).toHaveLength(150);
    // The next window: its first line carries the count of the last one's left out.
    clock.now += 10_000;
    audit.write(caller, 'delete-account', null, Status.UNAUTHENTICATED);
    expect(lines.at(-1)).toMatchObject({
      audit: 'account',
      action: 'delete-account',
      noSessionSinceLastLine: 50,
      result: 'UNAUTHENTICATED',
    });
    expect(lines.filter((line) => line.noSessionSinceLastLine !== undefined)).toHaveLength(1);
  });
});
