/**
 * Two-step login on the pages: the profile's section (set it up, or turn it
 * off with the password and a code), the set-up page (QR code, the secret as
 * text, the first code) and the page that shows the recovery codes once.
 */
import type { Flash } from '../flash.ts';
import { Field } from './field.tsx';
import { Layout } from './layout.tsx';
import { hasErrors, Messages } from './messages.tsx';
import { QrCode } from './qr-code.tsx';

function CsrfField({ token }: { token: string }) {
  return <input type="hidden" name="csrf" value={token} />;
}

/** The secret as people copy it: groups of four. */
function grouped(secret: string): string {
  return secret.match(/.{1,4}/g)?.join(' ') ?? secret;
}

export interface TwoStepSectionProps {
  enabled: boolean;
  recoveryCodesLeft: number;
  csrfToken: string;
  /** Errors of the turn-off form: `totp_password`, `totp_code`. */
  errors: Record<string, string>;
}

/** The profile's section: set it up, or turn it off. */
export function TwoStepSection({
  enabled,
  recoveryCodesLeft,
  csrfToken,
  errors,
}: TwoStepSectionProps) {
  return (
    <section aria-labelledby="two-step-heading" id="two-step">
      <h2 id="two-step-heading">Two-step login</h2>
      {enabled ? (
        <form method="post" action="/profile/totp/disable">
          <CsrfField token={csrfToken} />
          <p id="two-step-state">
            Two-step login is on: logging in asks for a code from your authenticator app.{' '}
            {`${recoveryCodesLeft} recovery ${recoveryCodesLeft === 1 ? 'code' : 'codes'} left.`}
          </p>
          <Field
            name="totp_password"
            label="Password, to turn two-step login off"
            type="password"
            autocomplete="current-password"
            hint="To turn it off, confirm with your password and a code"
            error={errors.totp_password}
            required
          />
          <Field
            name="totp_code"
            label="Code"
            autocomplete="one-time-code"
            hint="The 6 digits your app shows now, or a recovery code"
            error={errors.totp_code}
            required
          />
          <button type="submit" class="danger">
            Turn off two-step login
          </button>
        </form>
      ) : (
        <form method="post" action="/profile/totp">
          <CsrfField token={csrfToken} />
          <p id="two-step-state">
            Two-step login is off. With it on, logging in also asks for a code from an authenticator
            app on your phone, so a password alone is not enough.
          </p>
          <button type="submit">Set up two-step login</button>
        </form>
      )}
    </section>
  );
}

export interface TotpSetupPageProps {
  username: string;
  secret: string;
  otpauthUrl: string;
  csrfToken: string;
  flash: Flash;
}

/**
 * Scan (or type, or open) the secret, then confirm with the first code. The
 * code field is not focused at first: the page reads from its first step (a
 * focused field scrolled the QR code away on a phone, and opened the keyboard
 * before anything was scanned); after an error the summary takes the focus.
 */
export function TotpSetupPage({
  username,
  secret,
  otpauthUrl,
  csrfToken,
  flash,
}: TotpSetupPageProps) {
  const failed = hasErrors(flash);
  return (
    <Layout title="Set up two-step login" error={failed}>
      <h1>Set up two-step login</h1>
      <Messages
        flash={flash}
        fields={[
          { name: 'code', label: 'Code' },
          { name: 'password', label: 'Password' },
        ]}
        errorField="code"
      />
      <ol class="steps">
        <li>
          <p>
            Scan this code with an authenticator app (such as Aegis, FreeOTP, Google Authenticator
            or 1Password):
          </p>
          <QrCode
            id="totp-qr"
            text={otpauthUrl}
            label={`QR code of the two-step login secret for ${username}`}
          />
          <p>
            On a phone with the app: <a href={otpauthUrl}>open this secret in the app</a>.
          </p>
        </li>
        <li>
          <p>Or enter this secret in the app by hand (time-based, 6 digits, every 30 seconds):</p>
          <p>
            <code class="secret" id="totp-secret">
              {grouped(secret)}
            </code>
          </p>
        </li>
        <li>
          <form method="post" action="/profile/totp/confirm">
            <CsrfField token={csrfToken} />
            <Field
              name="code"
              label="Code from the app"
              autocomplete="one-time-code"
              hint="The 6 digits the app shows now for usermgr"
              error={flash.fields?.code}
              inputMode="numeric"
              required
            />
            <Field
              name="password"
              label="Password"
              type="password"
              autocomplete="current-password"
              hint="To turn it on, confirm with your password"
              error={flash.fields?.password}
              required
            />
            <button type="submit">Turn on two-step login</button>
          </form>
        </li>
      </ol>
      <p class="after">
        <a href="/profile">Back to your profile</a> (nothing changes until you enter a code)
      </p>
    </Layout>
  );
}

/** The recovery codes, shown this once. */
export function RecoveryCodesPage({ codes }: { codes: string[] }) {
  return (
    <Layout title="Your recovery codes">
      <h1>Two-step login is on</h1>
      <p class="message notice" role="status" id="form-notice">
        From now on, logging in asks for a code from your authenticator app.
      </p>
      <h2>Save your recovery codes</h2>
      <p>
        If you lose your phone, each of these codes lets you log in once instead of a code from the
        app. Keep them somewhere safe, such as a password manager.{' '}
        <strong>They are shown only now.</strong>
      </p>
      <ol class="recovery-codes" id="recovery-codes">
        {codes.map((code) => (
          <li>
            <code>{code}</code>
          </li>
        ))}
      </ol>
      <p>
        {/* A file made here, not fetched: the codes are sent once, in this page. */}
        <a
          id="recovery-codes-file"
          download="usermgr-recovery-codes.txt"
          href={`data:text/plain;charset=utf-8,${encodeURIComponent(`${codes.join('\n')}\n`)}`}
        >
          Save them as a text file
        </a>
      </p>
      <p class="after">
        <a href="/profile">I have saved them: back to your profile</a>
      </p>
    </Layout>
  );
}
