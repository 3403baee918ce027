/** The anti-CSRF token of the session, in a form that posts with the session cookie. */
export function CsrfField({ token }: { token: string }) {
  return <input type="hidden" name="csrf" value={token} />;
}
