import type { Context, MiddlewareHandler } from 'hono';
import { clientKey } from '../lib/client-key.ts';
import { withTimeout } from '../lib/deadline.ts';
import type { Logger } from '../log.ts';
import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { CLIENT_CLOSED } from './errors.tsx';
import { readAtMost } from './read-body.ts';

/** Room for the multipart framing and the other fields around an uploaded file. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** "5 MiB", "512 KiB", "900 bytes". */
export function formatBytes(bytes: number): string {
  const MiB = 1024 * 1024;
  if (bytes >= MiB) return `${Number((bytes / MiB).toFixed(1))} MiB`;
  if (bytes >= 1024) return `${Number((bytes / 1024).toFixed(1))} KiB`;
  return `${bytes} bytes`;
}

/** Whose upload holds a slot: the client's address (an IPv6 /64) and the session's user. */
export interface SlotHolder {
  address: string;
  user: string;
}

/** An upload in its slot: whose, since when, how much of its body has come, how to end its read. */
export interface HeldSlot {
  readonly holder: SlotHolder;
  readonly since: number;
  /** Bytes of the body read so far. */
  bytes: number;
  /** Ends the read of the body (set while it is read): its slot goes to another upload. */
  evict: (() => void) | null;
  evicted: boolean;
}

/**
 * The picture uploads an HTTP process is reading or forwarding, at most
 * `max` at once (HTTP_UPLOAD_CONCURRENCY), PER_CLIENT of one client (an
 * address; an IPv6 /64) and PER_USER of one user: one more is refused before
 * its body is read. Shared by the API's and the profile page's upload
 * routes. Each upload's body must arrive within UPLOAD_READ_MS, so that a
 * slow body cannot hold a slot for ever, and one client cannot hold them all
 * (accounts are free: a review held every slot with eight bodies sent a byte
 * every few seconds), nor one account from several addresses (an attack
 * audit: four addresses, two slow bodies each, one account). When every slot
 * is taken, the slowest body read for at least SLOW_GRACE_MS at under
 * SLOW_BYTES_PER_S gives its slot to the newcomer: many accounts trickling
 * their bodies held every slot for as long as they kept reconnecting, and a
 * body that slow holds few bytes, so the slot it leaves is not memory.
 */
export class UploadSlots {
  /** Slots whose reads were ended for a newcomer and are not released yet. */
  private evicting = 0;
  private readonly held = new Set<HeldSlot>();
  private readonly byClient = new Map<string, number>();
  private readonly byUser = new Map<string, number>();

  constructor(
    readonly max: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A slot for `holder` (pair it with one release), else the refusal. */
  take(holder: SlotHolder): HeldSlot | RpcError {
    const key = clientKey(holder.address);
    const mine = this.byClient.get(key) ?? 0;
    const users = this.byUser.get(holder.user) ?? 0;
    if (users >= PER_USER) return yourUploadUnderWay();
    if (mine >= PER_CLIENT) return uploadsBusy();
    if (this.held.size - this.evicting >= this.max) {
      const slowest = this.slowest();
      if (slowest === null) return uploadsBusy();
      slowest.evicted = true;
      this.evicting++;
      slowest.evict?.();
    }
    this.byClient.set(key, mine + 1);
    this.byUser.set(holder.user, users + 1);
    const held: HeldSlot = { holder, since: this.now(), bytes: 0, evict: null, evicted: false };
    this.held.add(held);
    return held;
  }

  release(held: HeldSlot): void {
    if (!this.held.delete(held)) return;
    if (held.evicted) this.evicting--;
    lower(this.byClient, clientKey(held.holder.address));
    lower(this.byUser, held.holder.user);
  }

  /** The body still being read past its grace at the lowest rate under the floor, if any. */
  private slowest(): HeldSlot | null {
    const now = this.now();
    let slowest: HeldSlot | null = null;
    let lowest = SLOW_BYTES_PER_S;
    for (const held of this.held) {
      const seconds = (now - held.since) / 1000;
      if (held.evict === null || held.evicted || seconds * 1000 < SLOW_GRACE_MS) continue;
      const rate = held.bytes / seconds;
      if (rate < lowest) [slowest, lowest] = [held, rate];
    }
    return slowest;
  }
}

function lower(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left > 0) counts.set(key, left);
  else counts.delete(key);
}

/** How long a body may come as slowly as it likes before it may give its slot away. */
const SLOW_GRACE_MS = 5000;
/** Under this (16 KiB/s; a 5 MiB picture takes over 5 minutes), a body gives its slot away when every slot is taken. */
const SLOW_BYTES_PER_S = 16 * 1024;

/** Uploads one user may have in flight at once, in one HTTP process: one picture at a time. */
const PER_USER = 1;
/** Uploads one client may have in flight at once, in one HTTP process. */
const PER_CLIENT = 2;
/** The longest an upload's body may take to arrive (5 MiB at about 1 Mbit/s takes 40 s). */
const UPLOAD_READ_MS = 60_000;

/** What an upload may take beyond its body: the picture's processing and the answer. */
const UPLOAD_ANSWER_MS = 10_000;

/**
 * `read` (an upload's body), refused when it has not arrived within
 * UPLOAD_READ_MS; the connection is then closed after the answer, since the
 * rest of the body is not waited for. Bun ends a request whose answer has not
 * begun within its idle timeout (10 s; body bytes do not reset it), which cut
 * every upload slower than about half a megabyte a second without a word (a
 * second attack pass): an upload's own timeout is raised to match.
 */
export function readInTime<T>(c: Context, read: Promise<T>, readMs = UPLOAD_READ_MS): Promise<T> {
  const server = c.env as { timeout?: (req: Request, seconds: number) => void } | undefined;
  server?.timeout?.(c.req.raw, Math.ceil((readMs + UPLOAD_ANSWER_MS) / 1000));
  return withTimeout(read, readMs, () => {
    c.header('Connection', 'close');
    throw new RpcError(
      Status.INVALID_ARGUMENT,
      `the picture did not arrive within ${readMs / 1000} s: try a smaller one, or a faster connection`,
      { field: 'picture' },
    );
  });
}

/**
 * An upload's size limit before its route runs, in place of Hono's bodyLimit: a
 * declared length over `maxBytes` is refused at once (`onError`), and a chunked
 * body is left for readCapped, in the upload's slot once the session is checked.
 * Hono's bodyLimit reads a chunked body whole before the route: a stranger with no
 * session made each HTTP process hold up to 5 MiB per open connection (an attack
 * audit: +370 MB for 60 connections) and got 413, not 401.
 */
export function declaredSizeLimit(
  maxBytes: number,
  onError: (c: Context) => Response | Promise<Response>,
): MiddlewareHandler {
  return async (c, next) => {
    const declared = c.req.header('content-length');
    const chunked = c.req.raw.headers.has('transfer-encoding');
    if (declared !== undefined && !chunked && Number(declared) > maxBytes) return onError(c);
    return next();
  };
}

/**
 * Reads the request's body into memory, `maxBytes` of it at most: false as soon as
 * it is longer (the rest is left unread; close the connection), else true, and the
 * request's body is then what was read (for `readForm` and the like).
 */
export async function readCapped(
  c: Context,
  maxBytes: number,
  progress?: (bytes: number) => void,
): Promise<boolean> {
  if (c.req.raw.body === null) return true;
  const bytes = await readAtMost(c.req.raw, maxBytes, progress);
  if (bytes === null) return false;
  c.req.raw = new Request(c.req.raw, { body: bytes });
  return true;
}

/** All upload slots of this process are taken: refused before the body is read. */
function uploadsBusy(): RpcError {
  return new RpcError(Status.RESOURCE_EXHAUSTED, MESSAGES.UPLOADS_BUSY, { retryAfterS: 1 });
}

/** This user's upload is still being read or processed: refused before the body is read. */
function yourUploadUnderWay(): RpcError {
  return new RpcError(Status.RESOURCE_EXHAUSTED, MESSAGES.UPLOAD_UNDER_WAY, {
    field: 'picture',
    retryAfterS: 1,
  });
}

/**
 * Whether reading an upload failed because its client hung up: Bun aborts the
 * request's signal for a body with a Content-Length, and rejects the read of
 * a chunked or multipart one with an AbortError. Either is the client's own
 * doing: answered 499 and logged at debug, never an ERROR and a 500.
 */
function clientLeft(c: Context, err: unknown): boolean {
  return c.req.raw.signal.aborted || (err as { name?: unknown } | null)?.name === 'AbortError';
}

/**
 * Reads an upload's body with `read` in the slot its caller took for
 * `holder`, within UPLOAD_READ_MS, and answers with `use`; the slot is free
 * again once `use` is done, whatever happens. A client that hangs up
 * mid-body is answered 499 and logged at debug. Shared by the API's and the
 * profile page's upload routes.
 */
export async function readInSlot<T>(
  c: Context,
  slots: UploadSlots,
  held: HeldSlot,
  log: Logger,
  read: (progress: (bytes: number) => void) => Promise<T>,
  use: (body: T) => Promise<Response>,
): Promise<Response> {
  try {
    const evicted = new Promise<never>((_, reject) => {
      held.evict = () => {
        c.header('Connection', 'close'); // the rest of the body is not waited for
        reject(tooSlowWhileOthersWaited());
      };
    });
    const reading = read((bytes) => {
      held.bytes = bytes;
    });
    const body = await readInTime(c, Promise.race([reading, evicted]))
      .catch((err) => {
        if (!clientLeft(c, err)) throw err;
        return null;
      })
      .finally(() => {
        held.evict = null; // read (or given up): its slot is no longer a slow body's
      });
    if (body === null) {
      log.debug({ route: c.req.routePath }, 'client left during the upload');
      return c.body(null, CLIENT_CLOSED);
    }
    return await use(body);
  } finally {
    slots.release(held);
  }
}

/** A body that came too slowly while every slot was taken: its slot went to another upload. */
function tooSlowWhileOthersWaited(): RpcError {
  return new RpcError(
    Status.INVALID_ARGUMENT,
    'the picture arrived too slowly while others were waiting to upload: try again, or from a faster connection',
    { field: 'picture' },
  );
}
