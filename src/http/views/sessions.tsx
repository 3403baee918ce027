/**
 * "Where you're logged in" on the profile page: the user's live sessions,
 * newest first, this one marked, each with a "Log out" form (a plain post
 * with the anti-CSRF token: no script needed), and "Log out everywhere".
 */
import type { LiveSession } from '../../gen/usermgr/v1/rpc_pb.ts';
import { MAX_LISTED_SESSIONS } from '../../wire/account-rules.ts';
import { CsrfField } from './csrf-field.tsx';

export interface SessionsSectionProps {
  /** Null when the list could not be read (the section says so; the rest of the page works). */
  sessions: LiveSession[] | null;
  csrfToken: string;
}

/** "2026-12-03 09:41 UTC": the same for every reader, whatever the browser's locale. */
function when(ms: bigint): string {
  return `${new Date(Number(ms)).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function SessionItem({ session, csrfToken }: { session: LiveSession; csrfToken: string }) {
  // The list keeps a user's newest sessions: this one, when older than all of them, is
  // known only by its token, and "An unknown browser … this session" alarmed a reader
  // (a browser audit); it is the browser reading this.
  const browser = session.browser || (session.current ? 'This browser' : 'An unknown browser');
  const system = session.system ? ` on ${session.system}` : '';
  const since = when(session.createdAtMs);
  return (
    <li
      class="session"
      id={`session-${session.id}`}
      data-current={session.current ? 'true' : undefined}
    >
      <div class="session-about">
        <p class="session-name">
          {`${browser}${system}`}
          {session.current ? ' ' : null}
          {session.current ? <strong class="tag">This session</strong> : null}
        </p>
        <p class="hint">
          {session.address || !session.current
            ? `From ${session.address || 'an unknown address'}, since `
            : 'Since '}
          <time datetime={new Date(Number(session.createdAtMs)).toISOString()}>{since}</time>
          {session.persistent ? ', kept logged in' : ''}
        </p>
      </div>
      <form method="post" action="/profile/sessions/end">
        <CsrfField token={csrfToken} />
        <input type="hidden" name="session" value={session.id} />
        <button
          type="submit"
          class="quiet"
          aria-label={`Log out ${browser}${system}, since ${since}${session.current ? ' (this session)' : ''}`}
        >
          Log out
        </button>
      </form>
    </li>
  );
}

export function SessionsSection({ sessions, csrfToken }: SessionsSectionProps) {
  return (
    <section aria-labelledby="sessions-heading">
      <h2 id="sessions-heading">Where you're logged in</h2>
      {sessions === null ? (
        <p class="hint" id="sessions-unavailable">
          The list of sessions cannot be shown right now; "Log out everywhere" still works.
        </p>
      ) : (
        <ul class="sessions" id="sessions">
          {sessions.map((session) => (
            <SessionItem session={session} csrfToken={csrfToken} />
          ))}
        </ul>
      )}
      {sessions !== null && sessions.length >= MAX_LISTED_SESSIONS ? (
        <p class="hint" id="sessions-more">
          {`Only the ${MAX_LISTED_SESSIONS} most recent sessions are listed; older ones may still be logged in. "Log out everywhere" ends them too.`}
        </p>
      ) : null}
      <form method="post" action="/profile/logout-all">
        <CsrfField token={csrfToken} />
        <p class="hint">Ends every session of this account, on every device, this one too.</p>
        <button type="submit">Log out everywhere</button>
      </form>
    </section>
  );
}
