/**
 * Connection pool from the HTTP server to the TCP servers.
 *
 * It keeps `socketsPerAddress` sockets to every address, opened on first use
 * and reopened after a failure with exponential backoff and full jitter. Many
 * requests are in flight on one socket at once, matched to their responses by
 * id. Invariants:
 * - a call settles exactly once: by its response, by its deadline
 *   (DEADLINE_EXCEEDED), by its caller's signal (CANCELLED), or by the loss
 *   of the socket it was written to (UNAVAILABLE), which fails exactly the
 *   calls of that socket;
 * - a cancelled call frees its place within one deadline sweep (20 ms): a
 *   waiting one leaves the queue, one in flight leaves its socket's count
 *   and a cancel frame with its id follows it, so that the server drops the
 *   work too;
 * - a call is either waiting (no socket has room yet) or in flight on one
 *   socket, never both; the waiting queue never holds more than `maxWaiting`
 *   calls and a call that cannot wait fails at once with UNAVAILABLE;
 * - when no socket is open or opening (every address is backing off), calls
 *   fail at once instead of queueing;
 * - a new call goes to the open socket with the fewest calls in flight;
 *   a socket whose server announced shutdown (Response id 0) gets no more;
 * - a call with a key (a user) goes to one server chosen by rendezvous
 *   hashing over the servers that have an open socket (affinity.ts), its
 *   least-loaded socket there; when every socket of that server is full
 *   (`maxInFlightPerSocket`, `maxQueuedBytesPerSocket`), to the next server
 *   in the key's order. With one such server no key is hashed;
 * - a call marked retryable (idempotent) whose socket is lost is sent once
 *   more, on another socket if one has room, within its own deadline;
 * - setAddresses() adds sockets for new addresses at once and retires those
 *   of removed ones: they take no new calls and close when their last call
 *   is answered;
 * - connect failures and lost sockets are logged, a streak of failures to
 *   one address as a few lines (connect-log.ts), not one per retry;
 * - a socket carries calls only after the handshake (handshake.ts): the
 *   server's Challenge answered and, with a secret, the server's proof
 *   checked. Until then it counts as connecting, and a failed handshake is
 *   a connect failure (logged and backed off like one);
 * - an open socket on which no call was written for a third of the server's
 *   idle timeout (announced in its Challenge) gets a Ping, so the server
 *   never closes a healthy socket for idleness; a socket that had been open
 *   a while and is closed anyway is reopened at once, not after a backoff,
 *   so calls arriving meanwhile wait for it instead of failing;
 * - a socket with calls in flight on which nothing was heard for
 *   PROBE_AFTER_MS gets a Ping (a live server's event loop answers one at
 *   once, whatever slow work its calls wait for); unanswered for
 *   UNRESPONSIVE_AFTER_MS (the clock restarting while bytes queued before it
 *   still drain), the server takes no new calls until it answers anything: its
 *   idempotent calls in flight go to another server or fail at once
 *   (UNAVAILABLE), the others wait for their answer or deadline, and it is
 *   logged once. When another socket to the same server heard from it after
 *   the probe went out, only the silent socket is closed (and reopened).
 */
import { create } from '@bufbuild/protobuf';
import type { Socket, SocketHandler } from 'bun';
import {
  type Request,
  RequestSchema,
  type Response,
  ResponseSchema,
} from '../gen/usermgr/v1/rpc_pb.ts';
import { Deadline } from '../lib/deadline.ts';
import type { Logger } from '../log.ts';
import { parseAddress } from '../wire/address.ts';
import { encodeFrame, FrameDecoder } from '../wire/frame.ts';
import { Outbox } from '../wire/outbox.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { type Candidate, hashText, rendezvous } from './affinity.ts';
import { ConnectLog } from './connect-log.ts';
import { ClientHandshake } from './handshake.ts';

export interface PoolOptions {
  /** TCP server addresses, "host:port". */
  addresses: readonly string[];
  socketsPerAddress: number;
  maxInFlightPerSocket: number;
  maxWaiting: number;
  /** A socket with more unwritten bytes than this takes no new calls. */
  maxQueuedBytesPerSocket: number;
  maxFrameBytes: number;
  connectTimeoutMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** TCP_SHARED_SECRET (the newest), to prove this pool to the servers; '' or absent: none. */
  sharedSecret?: string;
}

export interface PoolStats {
  sockets: number;
  open: number;
  /** TCP servers (addresses) judged not answering: their sockets open, a Ping unanswered. */
  silent: number;
  inFlight: number;
  waiting: number;
  rejected: number;
  /** Calls whose caller gave up (its signal aborted) before the answer. */
  cancelled: number;
  reconnects: number;
  connectFailures: number;
}

type ConnState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

interface PendingCall {
  request: Request;
  deadline: Deadline;
  /** The socket it was last written to (its id is only meaningful there). */
  conn: Connection | null;
  resolve: (response: Response) => void;
  reject: (error: RpcError) => void;
  /** Safe to send again after its socket was lost (the call is idempotent). */
  retryable: boolean;
  retried: boolean;
  /** The call's natural key (a user): which server it goes to (affinity.ts); undefined: any. */
  key: string | undefined;
}

/** The open sockets of one server address, for rendezvous hashing. */
interface Server extends Candidate {
  readonly conns: Connection[];
}

/** socket.data: which connection the socket belongs to, and for which attempt. */
interface Link {
  conn: Connection;
  attempt: number;
}

class Connection {
  state: ConnState = 'idle';
  socket: Socket<Link> | null = null;
  outbox: Outbox | null = null;
  decoder: FrameDecoder<typeof ResponseSchema> | null = null;
  readonly inFlight = new Map<number, PendingCall>();
  attempt = 0;
  failures = 0;
  goingAway = false;
  /** Its address was removed: no new calls, closed once idle, never reopened. */
  retired = false;
  /** Set while the socket is connected but the handshake is not done. */
  handshake: ClientHandshake | null = null;
  /** performance.now() when the handshake was done. */
  openedAt = 0;
  /** A Ping goes out when no call was written for this long; 0: never. */
  keepaliveMs = 0;
  /** `lastId` at the previous keepalive tick: unchanged means no call was written since. */
  idAtLastTick = 0;
  /** performance.now() when bytes last came from the server. */
  lastHeardAt = 0;
  /** performance.now() when the first of the calls in flight was written (the socket was idle before). */
  expectingSince = 0;
  /** performance.now() when the Ping asking whether the server still answers went out; 0: none out. */
  probeSentAt = 0;
  /** That Ping's id, and when its answer came (an answer to it, not bytes sent before it). */
  probeId = 0;
  probeAnsweredAt = 0;
  /** The probe went unanswered: no new calls until the server answers anything. */
  unresponsive = false;
  /** performance.now() when the kernel last took bytes that had waited in the outbox. */
  drainedAt = 0;
  private lastId = 0;
  retryTimer: Timer | null = null;
  readonly host: string;
  readonly port: number;

  constructor(readonly address: string) {
    ({ host: this.host, port: this.port } = parseAddress(address));
  }

  nextId(): number {
    do {
      this.lastId = this.lastId >= 0xffffffff ? 1 : this.lastId + 1;
    } while (this.inFlight.has(this.lastId));
    return this.lastId;
  }

  /** The id of the latest call written (it moves with every call). */
  get lastIdSent(): number {
    return this.lastId;
  }
}

/** Deadline precision: late by at most this much, at a cost of O(calls in flight) per sweep. */
const SWEEP_INTERVAL_MS = 20;

/** A socket lost after being open this long is reopened at once; one lost sooner backs off. */
const QUICK_RECONNECT_AFTER_MS = 1000;

/** The shortest keepalive period, whatever idle timeout a server announces. */
const MIN_KEEPALIVE_MS = 100;

/** A socket with calls in flight and nothing heard for this long is asked whether its server answers. */
const PROBE_AFTER_MS = 500;
/**
 * A probe unanswered this long: the socket takes no new calls. Why: a hung TCP server
 * (SIGSTOP, a stalled event loop) kept every call routed to it waiting its whole
 * deadline for a 504, about half of the users with two servers, all of them with one
 * (a failure audit), while a dead one is refused in milliseconds.
 */
const UNRESPONSIVE_AFTER_MS = 1000;

export class Pool {
  private conns: Connection[] = [];
  private readonly waiting: PendingCall[] = [];
  private waitingHead = 0;
  private rotor = 0;
  /** Servers with an open socket that takes calls; rebuilt on first use after `serversChanged`. */
  private live: Server[] = [];
  private liveStale = true;
  private sweeper: Timer | null = null;
  private keepalive: Timer | null = null;
  private keepaliveMs = 0;
  private closed = false;
  private rejected = 0;
  private cancelled = 0;
  private reconnects = 0;
  private connectFailures = 0;
  private readonly handlers: SocketHandler<Link>;
  private readonly connectLog: ConnectLog;
  /** Addresses whose every open socket went unanswered (logged on the way in and out). */
  private readonly silent = new Set<string>();

  constructor(
    private readonly options: PoolOptions,
    private readonly log: Logger,
  ) {
    this.connectLog = new ConnectLog(log);
    this.setAddresses(options.addresses);
    this.handlers = {
      open: (socket) => this.onOpen(socket),
      data: (socket, chunk) => this.onData(socket, chunk),
      drain: (socket) => {
        if (!this.current(socket)) return;
        socket.data.conn.drainedAt = performance.now();
        socket.data.conn.outbox?.drain();
      },
      end: (socket) => {
        socket.end();
      },
      close: (socket, error) => this.onDown(socket.data, error),
      error: (socket, error) => this.onDown(socket.data, error),
      connectError: (socket, error) => this.onDown(socket.data, error),
    };
  }

  /**
   * Sends one request and resolves with its response, whatever its status.
   * Rejects with UNAVAILABLE or DEADLINE_EXCEEDED when no response can come,
   * and with CANCELLED within one sweep once `signal` aborts (the caller is
   * gone). The sweep reads `signal.aborted` rather than listening: adding and
   * removing a listener per call costs more than reading a flag per sweep
   * (bench/RESULTS.md), for an event few calls see and none needs sooner.
   */
  send(
    request: Request,
    timeoutMs: number,
    retryable = false,
    signal?: AbortSignal,
    key?: string,
  ): Promise<Response> {
    if (signal?.aborted) {
      this.cancelled++;
      return Promise.reject(RpcError.cancelled());
    }
    return new Promise<Response>((resolve, reject) => {
      const deadline = Deadline.after(timeoutMs, signal);
      this.dispatch({
        request,
        deadline,
        conn: null,
        resolve,
        reject,
        retryable,
        retried: false,
        key,
      });
    });
  }

  /**
   * The TCP servers to use from now on. New addresses get their sockets at
   * once (opened on demand); sockets of removed ones finish what they carry.
   */
  setAddresses(addresses: readonly string[]): void {
    const wanted = new Set(addresses);
    const present = new Set(this.conns.filter((c) => !c.retired).map((c) => c.address));
    for (const address of wanted) {
      if (present.has(address)) continue;
      for (let i = 0; i < this.options.socketsPerAddress; i++)
        this.conns.push(new Connection(address));
    }
    for (const conn of this.conns)
      if (!wanted.has(conn.address) && !conn.retired) this.retire(conn);
    for (const address of present) if (!wanted.has(address)) this.connectLog.forget(address);
    this.serversChanged();
    if (this.conns.some((c) => c.state !== 'idle')) this.connectIdle();
  }

  /** The addresses in use (not retired). */
  addresses(): string[] {
    return [...new Set(this.conns.filter((c) => !c.retired).map((c) => c.address))];
  }

  private dispatch(call: PendingCall): void {
    if (this.closed) {
      this.fail(call, Status.UNAVAILABLE, 'connection pool is closed');
      return;
    }
    if (call.deadline.cancelled) {
      this.settleCancelled(call);
      return;
    }
    const conn = this.pick(call.key);
    if (conn) {
      this.write(conn, call);
      return;
    }
    this.connectIdle();
    if (!this.someUsable()) {
      this.fail(call, Status.UNAVAILABLE, this.noneUsable(), 1);
      return;
    }
    if (this.waiting.length - this.waitingHead >= this.options.maxWaiting) {
      this.fail(call, Status.UNAVAILABLE, 'too many requests waiting for the TCP server', 1);
      return;
    }
    this.waiting.push(call);
    this.startSweeper();
  }

  /** A socket is open (answering) or opening: a call may wait for it. */
  private someUsable(): boolean {
    return this.conns.some(
      (c) => c.state === 'connecting' || (c.state === 'open' && !c.retired && !c.unresponsive),
    );
  }

  /** Why no call can be taken, for someUsable() false. */
  private noneUsable(): string {
    return this.silent.size > 0 ? 'no TCP server is answering' : 'no TCP server is reachable';
  }

  /** Opens every socket now instead of on first use. */
  warm(): void {
    this.connectIdle();
  }

  stats(): PoolStats {
    let open = 0;
    let inFlight = 0;
    for (const conn of this.conns) {
      if (conn.state === 'open') open++;
      inFlight += conn.inFlight.size;
    }
    return {
      sockets: this.conns.length,
      open,
      silent: this.silent.size,
      inFlight,
      waiting: this.waiting.length - this.waitingHead,
      rejected: this.rejected,
      cancelled: this.cancelled,
      reconnects: this.reconnects,
      connectFailures: this.connectFailures,
    };
  }

  /** Fails every call in flight or waiting and closes every socket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const call of this.drainWaiting())
      this.fail(call, Status.UNAVAILABLE, 'connection pool is closed');
    for (const conn of this.conns) {
      if (conn.retryTimer) clearTimeout(conn.retryTimer);
      const socket = conn.socket;
      this.down(conn, 'connection pool is closed'); // closed: nothing is retried
      conn.state = 'closed';
      socket?.end();
    }
    this.stopSweeper();
    if (this.keepalive !== null) clearInterval(this.keepalive);
  }

  /** The socket for a call with this key (see affinity.ts), else the least-loaded one; null: none has room. */
  private pick(key: string | undefined): Connection | null {
    if (key === undefined) return this.leastLoaded(this.conns);
    if (this.liveStale) this.findLive();
    const live = this.live;
    if (live.length < 2) return this.leastLoaded(this.conns);
    return rendezvous(key, live, (server) => this.leastLoaded(server.conns));
  }

  /** Something changed which sockets take calls: the live servers are found again on next use. */
  private serversChanged(): void {
    this.liveStale = true;
  }

  private findLive(): void {
    const byAddress = new Map<string, Connection[]>();
    for (const conn of this.conns) {
      if (conn.state !== 'open' || conn.goingAway || conn.unresponsive) continue;
      const conns = byAddress.get(conn.address);
      if (conns === undefined) byAddress.set(conn.address, [conn]);
      else conns.push(conn);
    }
    this.live = [...byAddress].map(([address, conns]) => ({ hash: hashText(address), conns }));
    this.liveStale = false;
  }

  private leastLoaded(conns: Connection[]): Connection | null {
    const n = conns.length;
    const { maxInFlightPerSocket, maxQueuedBytesPerSocket } = this.options;
    let best: Connection | null = null;
    // Start from a rotating index so that ties spread over sockets and servers.
    const start = this.rotor++ % n;
    for (let k = 0; k < n; k++) {
      const conn = conns[(start + k) % n] as Connection;
      if (conn.state !== 'open' || conn.goingAway || conn.unresponsive) continue;
      const load = conn.inFlight.size;
      if (load >= maxInFlightPerSocket) continue;
      if ((conn.outbox as Outbox).bufferedBytes >= maxQueuedBytesPerSocket) continue;
      if (best === null || load < best.inFlight.size) {
        best = conn;
        if (load === 0) break;
      }
    }
    return best;
  }

  private write(conn: Connection, call: PendingCall): void {
    const id = conn.nextId();
    const request = call.request;
    request.id = id;
    request.deadlineMs = Math.max(1, Math.ceil(call.deadline.remainingMs()));
    call.conn = conn;
    if (conn.inFlight.size === 0) conn.expectingSince = performance.now();
    conn.inFlight.set(id, call);
    (conn.outbox as Outbox).push(encodeFrame(RequestSchema, request));
    this.startSweeper();
  }

  private connectIdle(): void {
    if (this.closed) return;
    for (const conn of this.conns) if (conn.state === 'idle' && !conn.retired) this.connect(conn);
  }

  private connect(conn: Connection): void {
    conn.retryTimer = null;
    conn.state = 'connecting';
    conn.goingAway = false;
    const link: Link = { conn, attempt: ++conn.attempt };
    const { connectTimeoutMs } = this.options;
    const timer = setTimeout(() => {
      if (!this.current({ data: link }) || conn.state !== 'connecting') return;
      const socket = conn.socket;
      this.onDown(
        link,
        new Error(
          socket === null
            ? 'connect timeout'
            : `the TCP server did not finish the handshake within ${connectTimeoutMs} ms`,
        ),
      );
      socket?.terminate();
    }, connectTimeoutMs);
    Bun.connect<Link>({
      hostname: conn.host,
      port: conn.port,
      data: link,
      socket: this.handlers,
    }).then(
      (socket) => {
        clearTimeout(timer);
        // Too late (timed out, or the pool closed): this socket is not wanted.
        if (!this.current(socket) || conn.socket !== socket) socket.end();
      },
      (error: unknown) => {
        clearTimeout(timer);
        this.onDown(link, error);
      },
    );
  }

  private onOpen(socket: Socket<Link>): void {
    const { conn } = socket.data;
    if (!this.current(socket) || conn.state !== 'connecting') {
      socket.end();
      return;
    }
    socket.setNoDelay(true);
    conn.socket = socket;
    conn.outbox = new Outbox(socket);
    conn.decoder = new FrameDecoder(ResponseSchema, this.options.maxFrameBytes);
    // Still connecting: the server speaks first (its Challenge).
    conn.handshake = new ClientHandshake(this.options.sharedSecret ?? '');
  }

  /** The handshake is done: the socket takes calls. */
  private opened(conn: Connection, idleTimeoutMs: number): void {
    conn.handshake = null;
    conn.state = 'open';
    conn.failures = 0;
    conn.openedAt = performance.now();
    conn.idAtLastTick = conn.lastIdSent;
    conn.keepaliveMs = idleTimeoutMs > 0 ? Math.max(MIN_KEEPALIVE_MS, idleTimeoutMs / 3) : 0;
    this.startKeepalive(conn.keepaliveMs);
    this.connectLog.connected(conn.address);
    this.serversChanged();
    this.pump();
  }

  /**
   * A frame with id 0: a step of the handshake while connecting, else a
   * notice about the socket. False when the socket was given up.
   */
  private onNotice(socket: Socket<Link>, response: Response): boolean {
    const conn = socket.data.conn;
    const handshake = conn.handshake;
    if (handshake === null) {
      if (response.status === Status.UNAVAILABLE) {
        conn.goingAway = true;
        this.serversChanged();
      }
      return true;
    }
    const step = handshake.step(response);
    if (step.kind === 'reply') {
      socket.write(step.frame);
    } else if (step.kind === 'done') {
      this.opened(conn, step.idleTimeoutMs);
    } else {
      if (step.frame !== undefined) socket.write(step.frame);
      this.onDown(socket.data, new Error(step.reason));
      socket.end();
      return false;
    }
    return true;
  }

  /** One timer for every socket, at the shortest period any of them needs. */
  private startKeepalive(periodMs: number): void {
    if (periodMs === 0 || this.closed) return;
    if (this.keepalive !== null && this.keepaliveMs <= periodMs) return;
    if (this.keepalive !== null) clearInterval(this.keepalive);
    this.keepaliveMs = periodMs;
    this.keepalive = setInterval(() => this.keepAlive(), periodMs);
    this.keepalive.unref();
  }

  /**
   * Pings every open socket on which no call was written since the last
   * tick, so that at most two periods (two thirds of the server's idle
   * timeout) pass without a byte. The Ping is in no call's map, so its
   * answer is dropped like a late one.
   */
  private keepAlive(): void {
    for (const conn of this.conns) {
      if (conn.state !== 'open' || conn.keepaliveMs === 0 || conn.goingAway) continue;
      if (conn.lastIdSent === conn.idAtLastTick) this.sendPing(conn);
      conn.idAtLastTick = conn.lastIdSent;
    }
  }

  /** A Ping in no call's map: its answer is dropped like a late one, having been heard; its id. */
  private sendPing(conn: Connection): number {
    const id = conn.nextId();
    const ping = create(RequestSchema, { id, call: { case: 'ping', value: {} } });
    (conn.outbox as Outbox).push(encodeFrame(RequestSchema, ping));
    return id;
  }

  /**
   * Asks whether the server answers, on this socket and on each other open socket to it
   * without a question out: an idle one hears nothing unless asked, and then a live
   * server with one silent socket was taken for a silent server (found in review).
   */
  private probe(conn: Connection, now: number): void {
    for (const c of this.conns) {
      if (c.address !== conn.address || c.state !== 'open' || (c !== conn && c.probeSentAt !== 0))
        continue;
      c.probeSentAt = now;
      c.probeId = this.sendPing(c);
    }
  }

  /** From the sweep: asks a quiet socket with calls in flight whether its server answers, and judges the answer's absence. */
  private watch(conn: Connection, now: number): void {
    if (conn.state !== 'open') return;
    if (conn.probeSentAt === 0) {
      const quietFor = now - Math.max(conn.lastHeardAt, conn.expectingSince);
      if (conn.inFlight.size > 0 && quietFor >= PROBE_AFTER_MS) this.probe(conn, now);
    } else if (!conn.unresponsive && now - conn.probeSentAt >= UNRESPONSIVE_AFTER_MS) {
      // Bytes queued before the probe still drain (a large frame on a slow link): the
      // server reads, and the probe has not reached it yet. A hung one stops reading.
      if (conn.drainedAt > conn.probeSentAt) conn.probeSentAt = now;
      else if (this.heardOnOther(conn)) this.closeSilent(conn);
      else this.unanswered(conn.address, now);
    }
  }

  /**
   * Another socket to this socket's server had an answer to a probe sent with or after
   * this one's: the server answers now (bytes it wrote before it stopped prove nothing).
   */
  private heardOnOther(conn: Connection): boolean {
    return this.conns.some(
      (c) =>
        c !== conn &&
        c.address === conn.address &&
        c.state === 'open' &&
        c.probeAnsweredAt >= conn.probeSentAt,
    );
  }

  /**
   * The server answers on its other sockets but not on this one (half-open, or stuck):
   * closed, its calls failed or sent again as for any lost socket, and reopened. Marking
   * the whole server for it refused calls of a server that was answering, every few
   * seconds (found in review).
   */
  private closeSilent(conn: Connection): void {
    const socket = conn.socket;
    if (socket === null) return;
    this.onDown(
      socket.data,
      new Error(
        `no answer to a Ping for ${UNRESPONSIVE_AFTER_MS} ms while the other sockets to this server answered`,
      ),
    );
    socket.terminate();
  }

  /**
   * A probe of this address went unanswered: none of its sockets takes new calls (they
   * reach one server, as affinity counts them), each asks again, and any answer on any
   * of them lifts it (heard).
   */
  private unanswered(address: string, now: number): void {
    let calls = 0;
    const again: PendingCall[] = [];
    for (const conn of this.conns) {
      if (conn.address !== address || conn.state !== 'open') continue;
      conn.unresponsive = true;
      calls += conn.inFlight.size;
      if (conn.probeSentAt === 0) {
        conn.probeSentAt = now;
        conn.probeId = this.sendPing(conn);
      }
      // Idempotent calls are safe to send elsewhere, or to refuse now, whatever this
      // server does with them later: they waited their whole deadline for a 504 (a
      // failure audit's second pass). A cancel follows each, should it wake in time.
      for (const call of conn.inFlight.values()) {
        // One past its deadline is the sweep's, a 504 as always.
        if (!call.retryable || call.retried || call.deadline.expired(now)) continue;
        conn.inFlight.delete(call.request.id);
        const cancel = create(RequestSchema, { id: call.request.id, cancel: {} });
        conn.outbox?.push(encodeFrame(RequestSchema, cancel));
        call.retried = true;
        again.push(call);
      }
    }
    this.serversChanged();
    if (!this.silent.has(address)) {
      this.silent.add(address);
      this.log.warn(
        { address, calls },
        `TCP server not answering for ${PROBE_AFTER_MS + UNRESPONSIVE_AFTER_MS} ms (hung, or its event loop stalled): no new calls go to it until it answers`,
      );
    }
    if (!this.someUsable()) {
      for (const call of this.drainWaiting())
        this.fail(call, Status.UNAVAILABLE, this.noneUsable(), 1);
    }
    for (const call of again) this.dispatch(call);
  }

  /** Bytes came from the server: it answers. */
  private heard(conn: Connection): void {
    conn.lastHeardAt = performance.now();
    conn.probeSentAt = 0;
    // Any socket to a server judged silent that hears from it lifts the verdict: one
    // opened since (its handshake) too, or a half-open socket kept it for minutes.
    if (!conn.unresponsive && (this.silent.size === 0 || !this.silent.has(conn.address))) return;
    for (const other of this.conns) {
      if (other.address !== conn.address) continue;
      other.unresponsive = false;
      other.probeSentAt = 0; // its probe's answer is on the way, or never comes: judged anew
    }
    this.serversChanged();
    if (this.silent.delete(conn.address))
      this.log.info({ address: conn.address }, 'TCP server answering again');
  }

  private onData(socket: Socket<Link>, chunk: Uint8Array): void {
    if (!this.current(socket)) return;
    const conn = socket.data.conn;
    this.heard(conn);
    const responses = (conn.decoder as FrameDecoder<typeof ResponseSchema>).push(chunk);
    if (!Array.isArray(responses)) {
      // A server that sends garbage cannot be trusted with the other calls on this socket either.
      this.onDown(
        socket.data,
        new Error(`bad frame from ${conn.host}:${conn.port}: ${responses.reason}`),
      );
      socket.terminate();
      return;
    }
    for (const response of responses) {
      if (response.id === 0) {
        if (!this.onNotice(socket, response)) return;
        continue;
      }
      if (response.id === conn.probeId) conn.probeAnsweredAt = performance.now();
      const call = conn.inFlight.get(response.id);
      if (call === undefined) continue; // Its deadline passed; the late answer is dropped.
      conn.inFlight.delete(response.id);
      call.resolve(response);
    }
    if (conn.retired && conn.inFlight.size === 0) this.dispose(conn);
    this.pump();
  }

  /** A socket closed, failed, or could not connect: fail its calls and schedule a reconnect. */
  private onDown(link: Link, error?: unknown): void {
    const { conn } = link;
    if (!this.current({ data: link })) return;
    if (conn.state !== 'open' && conn.state !== 'connecting') return;
    const openForMs = conn.state === 'open' ? performance.now() - conn.openedAt : 0;
    if (conn.state === 'connecting') {
      this.connectFailures++;
      const why =
        error ?? new Error('the TCP server closed the connection before the handshake was done');
      if (!this.closed && !conn.retired) this.connectLog.failed(conn.address, why);
    } else if (!this.closed && !conn.retired) {
      // Rare (each one needs a connect that succeeded first): one line each.
      this.log.warn(
        { address: conn.address, err: error, calls: conn.inFlight.size },
        'connection to TCP server lost',
      );
    }
    const retries = this.down(conn, 'connection to the TCP server was lost');
    this.serversChanged();
    if (this.closed || conn.retired) {
      conn.state = 'closed';
      this.conns = this.conns.filter((c) => c !== conn);
      for (const call of retries) this.dispatch(call);
      return;
    }
    if (openForMs >= QUICK_RECONNECT_AFTER_MS) {
      // A socket that served a while (closed by an idle timer, a restart, a
      // proxy): reopened now, so that calls wait for it rather than fail.
      this.reconnects++;
      this.connect(conn);
      for (const call of retries) this.dispatch(call);
      return;
    }
    conn.state = 'backoff';
    const { backoffBaseMs, backoffMaxMs } = this.options;
    const ceiling = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(conn.failures, 30));
    conn.failures++;
    conn.retryTimer = setTimeout(() => {
      this.reconnects++;
      this.connect(conn);
    }, Math.random() * ceiling);
    // Calls waiting for a socket fail at once when none is left to wait for.
    if (!this.someUsable()) {
      for (const call of this.drainWaiting()) {
        this.fail(call, Status.UNAVAILABLE, this.noneUsable(), 1);
      }
    }
    for (const call of retries) this.dispatch(call);
  }

  private retire(conn: Connection): void {
    conn.retired = true;
    conn.goingAway = true;
    this.serversChanged();
    if (conn.retryTimer) clearTimeout(conn.retryTimer);
    if (conn.inFlight.size === 0) this.dispose(conn);
  }

  /** Closes a retired connection for good. */
  private dispose(conn: Connection): void {
    const socket = conn.socket;
    this.down(conn, 'TCP server address removed');
    conn.state = 'closed';
    this.conns = this.conns.filter((c) => c !== conn);
    this.serversChanged();
    socket?.end();
  }

  /** Detaches the socket and fails its calls; returns those to send once more (idempotent, not yet retried). */
  private down(conn: Connection, message: string): PendingCall[] {
    conn.attempt++; // Events from the old socket are ignored from here on.
    conn.socket = null;
    conn.probeSentAt = 0;
    conn.unresponsive = false;
    if (!this.conns.some((c) => c.unresponsive && c.address === conn.address))
      this.silent.delete(conn.address);
    conn.handshake = null;
    conn.outbox?.close();
    conn.outbox = null;
    conn.decoder = null;
    const calls = [...conn.inFlight.values()];
    conn.inFlight.clear();
    const retries: PendingCall[] = [];
    const now = performance.now();
    for (const call of calls) {
      if (call.retryable && !call.retried && !call.deadline.expired(now) && !this.closed) {
        call.retried = true;
        retries.push(call);
      } else {
        this.fail(call, Status.UNAVAILABLE, message, 1);
      }
    }
    return retries;
  }

  /** Moves waiting calls onto sockets that have room. */
  private pump(): void {
    while (this.waitingHead < this.waiting.length) {
      const call = this.waiting[this.waitingHead] as PendingCall;
      const conn = this.pick(call.key);
      if (conn === null) return;
      this.waiting[this.waitingHead++] = undefined as unknown as PendingCall;
      this.compactWaiting();
      this.write(conn, call);
    }
  }

  private drainWaiting(): PendingCall[] {
    const calls = this.waiting.slice(this.waitingHead);
    this.waiting.length = 0;
    this.waitingHead = 0;
    return calls;
  }

  private compactWaiting(): void {
    if (this.waitingHead === this.waiting.length) {
      this.waiting.length = 0;
      this.waitingHead = 0;
    } else if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
  }

  /** Deadlines are enforced by one coarse sweep, not a timer per call. */
  private startSweeper(): void {
    if (this.sweeper !== null) return;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  private stopSweeper(): void {
    if (this.sweeper === null) return;
    clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** Fails the calls whose deadline passed or whose caller is gone, and gives their places to others. */
  private sweep(): void {
    const now = performance.now();
    let pending = 0;
    let freed = false;
    if (this.waitingHead < this.waiting.length) {
      const kept: PendingCall[] = [];
      for (const call of this.drainWaiting()) {
        if (call.deadline.cancelled) this.settleCancelled(call);
        else if (call.deadline.expired(now)) this.expire(call);
        else kept.push(call);
      }
      this.waiting.push(...kept);
      pending += kept.length;
    }
    for (const conn of [...this.conns]) {
      this.watch(conn, now);
      for (const call of conn.inFlight.values()) {
        if (call.deadline.cancelled) {
          // The server is told, so that it drops the work too.
          const cancel = create(RequestSchema, { id: call.request.id, cancel: {} });
          conn.outbox?.push(encodeFrame(RequestSchema, cancel));
          this.settleCancelled(call);
        } else if (call.deadline.expired(now)) {
          this.expire(call);
        } else {
          continue;
        }
        conn.inFlight.delete(call.request.id);
        freed = true;
      }
      if (conn.retired && conn.inFlight.size === 0) this.dispose(conn);
      pending += conn.inFlight.size;
    }
    if (freed) this.pump();
    if (pending === 0 && this.waitingHead === this.waiting.length) this.stopSweeper();
  }

  private settleCancelled(call: PendingCall): void {
    this.cancelled++;
    call.reject(RpcError.cancelled());
  }

  private expire(call: PendingCall): void {
    call.reject(new RpcError(Status.DEADLINE_EXCEEDED, 'the TCP server did not answer in time'));
  }

  private fail(call: PendingCall, code: Status, message: string, retryAfterS = 0): void {
    this.rejected++;
    call.reject(new RpcError(code, message, { retryAfterS }));
  }

  private current(socket: { data: Link }): boolean {
    return socket.data.attempt === socket.data.conn.attempt;
  }
}
