/**
 * "Keep me logged in" on the login form. Unticked, the session cookie lasts
 * for the browser session and the session ends after a day without use;
 * ticked, it lasts a month from its last use (the lifetimes are the TCP
 * server's: SESSION_TTL_S, SESSION_REMEMBER_TTL_S).
 */
export function RememberField({ checked }: { checked: boolean }) {
  return (
    <div class="field check">
      <input
        id="remember"
        name="remember"
        type="checkbox"
        value="yes"
        checked={checked}
        aria-describedby="remember-hint"
      />
      <label for="remember">Keep me logged in</label>
      <small class="hint" id="remember-hint">
        Stays logged in after the browser closes, while you use it. Leave it unticked on a shared
        computer.
      </small>
    </div>
  );
}
