/**
 * What the application needs to know about the client of one request,
 * derived from its headers and socket once, when first asked (the
 * every-request middleware makes one per request; handlers reach it as
 * `c.get('client')`). Routes never see TRUST_PROXY: this is the only place
 * that decides which forwarded headers to believe.
 */
import type { Context } from 'hono';
import { getConnInfo } from 'hono/bun';
import { getCookie } from 'hono/cookie';
import type { CallOptions } from '../rpc/client.ts';
import { sessionKey } from './affinity-key.ts';
import { MAX_USER_AGENT_CHARS } from './limits.ts';
import { DEVICE_COOKIE, SESSION_COOKIE } from './session-cookie.ts';

/** `Authorization: Bearer <token>`; the one place the scheme is parsed. */
const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The token of an `Authorization: Bearer` header; '' when there is none or it is malformed. */
export function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined) return '';
  return BEARER.exec(authorization)?.[1] ?? '';
}

export class ClientRequest {
  #https: boolean | undefined;
  #sessionToken: string | undefined;
  #ip: string | undefined;
  #sessionKey: string | undefined | null = null;

  constructor(
    private readonly c: Context,
    /** X-Request-Id: a trusted proxy's when sane (TRUST_PROXY), else a fresh one. */
    readonly requestId: string,
    private readonly trustProxy: boolean,
  ) {}

  /** HTTPS directly, or via a trusted proxy's X-Forwarded-Proto. */
  get https(): boolean {
    if (this.#https === undefined) {
      this.#https =
        this.c.req.url.startsWith('https:') ||
        (this.trustProxy &&
          this.c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https');
    }
    return this.#https;
  }

  /**
   * The session token from `Authorization: Bearer`, else from the session
   * cookie (over HTTPS only the __Host- one); '' when neither.
   */
  get sessionToken(): string {
    if (this.#sessionToken === undefined) {
      const authorization = this.c.req.header('authorization');
      this.#sessionToken =
        authorization !== undefined
          ? bearerToken(authorization)
          : ((this.https
              ? getCookie(this.c, SESSION_COOKIE, 'host')
              : getCookie(this.c, SESSION_COOKIE)) ?? '');
    }
    return this.#sessionToken;
  }

  /** The device cookie (over HTTPS only the __Host- one); '' when there is none. */
  get deviceCookie(): string {
    return (
      (this.https ? getCookie(this.c, DEVICE_COOKIE, 'host') : getCookie(this.c, DEVICE_COOKIE)) ??
      ''
    );
  }

  /** The User-Agent header, cut to MAX_USER_AGENT_CHARS; '' when there is none. */
  get userAgent(): string {
    return (this.c.req.header('user-agent') ?? '').slice(0, MAX_USER_AGENT_CHARS);
  }

  /** True when the session token came from the cookie (no `Authorization` header). */
  get sessionByCookie(): boolean {
    return this.c.req.header('authorization') === undefined;
  }

  /**
   * The end user's address: the socket's peer, or with a trusted proxy the
   * last address in X-Forwarded-For (the one the proxy itself appended; the
   * ones before it are whatever the client claimed).
   */
  get ip(): string {
    if (this.#ip === undefined) this.#ip = this.findIp();
    return this.#ip;
  }

  private findIp(): string {
    if (this.trustProxy) {
      const last = this.c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim();
      if (last) return last;
    }
    try {
      return getConnInfo(this.c).remote.address ?? '';
    } catch {
      return ''; // Not served by Bun.serve (app.request() in tests).
    }
  }

  /**
   * What every RPC made for this request carries. Calls that do not use the
   * client address pass `withIp = false` and spare looking it up. The
   * request's signal aborts when its client hangs up: the call is then
   * cancelled, here and on the TCP server. `key` routes the call to the
   * TCP server of that user (affinity-key.ts); by default, the user of the
   * session token the request presented, once something read it (every
   * session-bearing call does, for its `auth`): calls that carry no session
   * do not pay for parsing one.
   */
  callOptions(
    withIp = true,
    key = this.#sessionToken === undefined ? undefined : this.sessionKey,
  ): CallOptions {
    return {
      requestId: this.requestId,
      clientIp: withIp ? this.ip : '',
      signal: this.c.req.raw.signal,
      key,
    };
  }

  /** The routing key of the session's user; undefined without a session token. */
  get sessionKey(): string | undefined {
    if (this.#sessionKey === null) this.#sessionKey = sessionKey(this.sessionToken);
    return this.#sessionKey;
  }
}
