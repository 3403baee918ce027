/**
 * Two-step login on the pages: setting it up from the profile (start, the
 * set-up page with the QR code, the first code, the recovery codes shown
 * once), turning it off, and the second step of a login (the code, after
 * the password). Forms post with the session's or the ticket's anti-CSRF
 * token, which the TCP server checks; the same-origin middleware has
 * already refused cross-site posts.
 */
import type { Context } from 'hono';
import type { Logger } from '../../log.ts';
import type { CallResult } from '../../wire/calls.ts';
import { MESSAGES } from '../../wire/messages.ts';
import { RpcError } from '../../wire/rpc-error.ts';
import { Status } from '../../wire/status.ts';
import type { BodyRoute } from '../app-deps.ts';
import { type AppEnv, factory } from '../env.ts';
import { errorHandler } from '../errors.tsx';
import {
  redirectWithFlash as back,
  type Flash,
  formBodyLimit,
  formFlash,
  takeFlash,
} from '../flash.ts';
import { formText, readForm } from '../form.ts';
import { MAX_CSRF_CHARS, MAX_OTP_CHARS, MAX_PASSWORD_CHARS } from '../limits.ts';
import { clearLoginStep, type LoginStep, readLoginStep } from '../login-ticket-cookie.ts';
import { setLoginCookies } from '../session-cookie.ts';
import { LoginCodePage } from '../views/login-code.tsx';
import { renderPage } from '../views/render.ts';
import { RecoveryCodesPage, TotpSetupPage } from '../views/two-step.tsx';
import { auth, loggedOut } from './profile.tsx';

export interface TotpPageRouteOptions extends BodyRoute {
  log: Logger;
}

const isCode = (err: unknown, code: Status): err is RpcError =>
  err instanceof RpcError && err.code === code;

/**
 * Where a profile form about two-step login goes after an error: the field
 * the TCP server named, under this form's own name for it (the profile's
 * other forms have a `password` field too), else the top of the page.
 */
function backToProfile(c: Context<AppEnv>, err: unknown, names: Record<string, string> = {}) {
  if (isCode(err, Status.UNAUTHENTICATED) && err.field === '') return loggedOut(c);
  const flash: Flash | null =
    isCode(err, Status.UNAUTHENTICATED) ||
    isCode(err, Status.NOT_FOUND) ||
    isCode(err, Status.OTP_REQUIRED)
      ? err.field
        ? { fields: { [err.field]: err.message } }
        : { error: err.message }
      : formFlash(err);
  if (flash === null) throw err;
  const fields = Object.entries(flash.fields ?? {}).map(([name, message]) => [
    names[name] ?? name,
    message,
  ]);
  return back(c, '/profile', { ...flash, fields: Object.fromEntries(fields) });
}

export function totpPageRoutes({ rpc, maxJsonBytes, log }: TotpPageRouteOptions) {
  const limit = formBodyLimit(maxJsonBytes, { error: MESSAGES.FORM_TOO_LARGE }, '/profile');
  const app = factory.createApp();
  app.onError(errorHandler(log, 'page'));
  return app
    .post('/profile/totp', limit, async (c) => {
      const form = await readForm(c);
      try {
        await rpc.call('startTotp', { auth: auth(c, form) }, c.get('client').callOptions());
      } catch (err) {
        if (isCode(err, Status.ALREADY_EXISTS)) return back(c, '/profile', { error: err.message });
        return backToProfile(c, err);
      }
      return c.redirect('/profile/totp', 303);
    })
    .get('/profile/totp', async (c) => {
      const client = c.get('client');
      const auth = { token: client.sessionToken };
      if (auth.token === '') return c.redirect('/login', 303);
      let profile: CallResult<'getProfile'>;
      let state: CallResult<'getTotp'>;
      try {
        [profile, state] = await Promise.all([
          rpc.call('getProfile', { auth }, client.callOptions(false)),
          rpc.call('getTotp', { auth }, client.callOptions(false)),
        ]);
      } catch (err) {
        if (!isCode(err, Status.UNAUTHENTICATED)) throw err;
        return loggedOut(c);
      }
      // On already, or nothing being set up: the profile says which.
      if (state.pending === undefined) return c.redirect('/profile', 303);
      return renderPage(
        c,
        <TotpSetupPage
          username={profile.user?.username ?? ''}
          secret={state.pending.secret}
          otpauthUrl={state.pending.otpauthUrl}
          csrfToken={profile.csrfToken}
          flash={takeFlash(c)}
        />,
      );
    })
    .post('/profile/totp/confirm', limit, async (c) => {
      const form = await readForm(c);
      const code = formText(form, 'code', MAX_OTP_CHARS);
      const password = formText(form, 'password', MAX_PASSWORD_CHARS);
      let codes: string[];
      try {
        const confirmed = await rpc.call(
          'confirmTotp',
          { auth: auth(c, form), code, password },
          c.get('client').callOptions(),
        );
        codes = confirmed.recoveryCodes;
      } catch (err) {
        // A wrong password names its field; an ended session names none.
        if (isCode(err, Status.UNAUTHENTICATED) && err.field !== '')
          return back(c, '/profile/totp', { fields: { [err.field]: err.message } });
        if (isCode(err, Status.UNAUTHENTICATED)) return loggedOut(c);
        // Already on: most likely the recovery codes' page reloaded, which posts again.
        if (isCode(err, Status.ALREADY_EXISTS))
          return back(c, '/profile', { error: MESSAGES.TOTP_CODES_SHOWN });
        if (isCode(err, Status.NOT_FOUND)) return back(c, '/profile', { error: err.message });
        const flash = formFlash(err, {}, 'code');
        if (flash === null) throw err;
        return back(c, '/profile/totp', flash);
      }
      // Shown in this answer, never kept: a reload posts again and is refused (the code is spent).
      return renderPage(c, <RecoveryCodesPage codes={codes} />);
    })
    .post('/profile/totp/disable', limit, async (c) => {
      const form = await readForm(c);
      const password = formText(form, 'totp_password', MAX_PASSWORD_CHARS);
      const code = formText(form, 'totp_code', MAX_OTP_CHARS);
      try {
        await rpc.call(
          'disableTotp',
          { auth: auth(c, form), password, code },
          c.get('client').callOptions(),
        );
      } catch (err) {
        return backToProfile(c, err, { password: 'totp_password', code: 'totp_code' });
      }
      return back(c, '/profile', { notice: 'two-step login is off' });
    })
    .get('/login/code', (c) => {
      const { https } = c.get('client');
      const step = readLoginStep(c, https);
      // Back from the profile once the code was accepted: the login is done, not missing.
      if (step === null && c.get('client').sessionToken !== '') return c.redirect('/profile', 303);
      if (step === null) return back(c, '/login', { error: MESSAGES.NO_LOGIN_STEP });
      // Past the ticket's end: back to the password now, not after a code is typed.
      if (step.expiresAtMs > 0 && Date.now() > step.expiresAtMs) {
        clearLoginStep(c, https);
        return back(c, '/login', { error: MESSAGES.TICKET_EXPIRED, values: typedValues(step) });
      }
      return renderPage(c, <LoginCodePage flash={takeFlash(c)} csrfToken={step.csrfToken} />);
    })
    .post(
      '/login/code',
      formBodyLimit(maxJsonBytes, { error: MESSAGES.FORM_TOO_LARGE }),
      async (c) => {
        const form = await readForm(c);
        const client = c.get('client');
        const step = readLoginStep(c, client.https);
        if (step === null) return back(c, '/login', { error: MESSAGES.NO_LOGIN_STEP });
        try {
          const session = await rpc.call(
            'completeLogin',
            {
              ticket: step.ticket,
              csrfToken: formText(form, 'csrf', MAX_CSRF_CHARS),
              otp: formText(form, 'code', MAX_OTP_CHARS),
              currentToken: client.sessionToken,
              deviceCookie: client.deviceCookie,
              // For the list of sessions; "keep me logged in" rides in the ticket.
              userAgent: client.userAgent,
            },
            client.callOptions(),
          );
          clearLoginStep(c, client.https);
          setLoginCookies(c, session, client.https);
          return c.redirect('/profile', 303);
        } catch (err) {
          if (isCode(err, Status.OTP_REQUIRED))
            return back(c, '/login/code', { fields: { code: err.message } });
          if (isCode(err, Status.UNAUTHENTICATED)) {
            // The ticket expired (or the account changed): the password again, the
            // rest of the form filled in as it was.
            clearLoginStep(c, client.https);
            return back(c, '/login', { error: err.message, values: typedValues(step) });
          }
          const flash = formFlash(err, {}, 'code');
          if (flash === null) throw err;
          return back(c, '/login/code', flash);
        }
      },
    );
}

/** The login form's values as the step's cookie kept them. */
function typedValues(step: LoginStep): Record<string, string> {
  return { username: step.username, remember: step.remember ? 'yes' : '' };
}
