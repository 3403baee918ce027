/**
 * The TCP server: Bun.listen, one frame decoder and one outbox per socket.
 * Invariants:
 * - a broken stream (bad varint, oversized or undecodable frame) closes that
 *   socket only;
 * - every request decoded gets exactly one response, unless its deadline
 *   passed before work began, its socket closed meanwhile, or its caller
 *   cancelled it (a Request with `cancel` set and the call's id);
 * - when a socket closes, every call still being served for it is
 *   cancelled: queued slow work for a client that is gone is dropped;
 * - per socket, at most `maxInFlightPerConnection` requests are being served
 *   (more get RESOURCE_EXHAUSTED at once) and at most
 *   `maxBufferedBytesPerConnection` response bytes wait for a slow reader
 *   (beyond that the reader is cut off);
 * - at most `maxConnections` sockets are open; more are closed on accept;
 * - at most `maxPartialFrameBytes` are buffered for partial frames across
 *   all sockets: the socket whose bytes would pass it is closed, and a closed
 *   socket's buffer is released at once;
 * - every socket first gets a Challenge (src/tcp/handshake.ts). With shared
 *   secrets, nothing but the client's Hello is read until its proof is
 *   accepted: at most MAX_HELLO_FRAME_BYTES are held for it, a wrong or
 *   missing proof closes the socket, one that has not proved itself within
 *   `handshakeTimeoutMs` is closed, and at most `maxPendingHandshakes` wait
 *   (a newcomer beyond that closes the oldest, so a flood of strangers cannot
 *   keep a real client out for longer than its own round trip);
 * - progress is measured in bytes received: a socket that receives none for
 *   `idleTimeoutMs` while nothing is served for it is closed, and a partial
 *   frame must arrive at `minFrameBytesPerS` once FRAME_RATE_GRACE_MS have
 *   passed, and be complete within `partialFrameTimeoutMs` (slow loris). A
 *   sweep that runs late (this process stalled) does not count the stall
 *   against the peers;
 * - stop() stops accepting, tells every client to send nothing more (a
 *   Response with id 0), finishes the requests in flight, then closes.
 */
import type { Socket, TCPSocketListener } from 'bun';
import { type Request, RequestSchema, ResponseSchema } from '../gen/usermgr/v1/rpc_pb.ts';
import { Deadline } from '../lib/deadline.ts';
import type { Logger } from '../log.ts';
import { encodeFrame, FrameDecoder } from '../wire/frame.ts';
import {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_MAX_PENDING_HANDSHAKES,
  MAX_HELLO_FRAME_BYTES,
  newNonce,
} from '../wire/handshake.ts';
import { Outbox } from '../wire/outbox.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { type Dispatch, errorResponse } from './dispatch.ts';
import { refusalFrame, ServerHandshake } from './handshake.ts';
import { RefusalLog } from './refusal-log.ts';

export interface TcpServerOptions {
  host: string;
  port: number;
  maxFrameBytes: number;
  maxConnections: number;
  maxInFlightPerConnection: number;
  maxBufferedBytesPerConnection: number;
  /** Bytes buffered for partial frames, all sockets together. */
  maxPartialFrameBytes: number;
  /** Budget for requests that carry none. */
  defaultDeadlineMs: number;
  /** A socket whose partial frame is not complete this long after it began is closed. */
  partialFrameTimeoutMs: number;
  /**
   * TCP_SHARED_SECRET, newest first: a client must prove it knows one before
   * anything else is read. Empty or absent: no proof is asked.
   */
  sharedSecrets?: readonly string[];
  /** A socket that has not proved itself this long after it opened is closed (with secrets). */
  handshakeTimeoutMs?: number;
  /** Sockets still to prove themselves; a newcomer beyond this closes the oldest (with secrets). */
  maxPendingHandshakes?: number;
  /** A socket that receives no byte for this long, while nothing is served for it, is closed. 0 or absent: never. */
  idleTimeoutMs?: number;
  /** A partial frame must arrive at least this fast after FRAME_RATE_GRACE_MS. 0 or absent: no floor. */
  minFrameBytesPerS?: number;
}

export interface TcpServer {
  readonly port: number;
  readonly connections: number;
  readonly inFlight: number;
  /** Bytes buffered for partial frames, all sockets together. */
  readonly partialFrameBytes: number;
  /** Stops accepting, finishes in-flight work (up to `timeoutMs`), then closes every socket. */
  stop(timeoutMs: number): Promise<void>;
}

interface Conn {
  decoder: FrameDecoder<typeof RequestSchema>;
  outbox: Outbox;
  inFlight: number;
  /** The calls being served, by id, so that a cancel frame or the socket's close can reach them. */
  calls: Map<number, Deadline>;
  closed: boolean;
  /** performance.now() when the current partial frame began, or 0. */
  partialSince: number;
  /** This socket's share of `partialFrameBytes`. */
  partialBytes: number;
  /** Set until the client's proof is accepted: nothing else is read meanwhile. */
  pending: Pending | null;
  /** Bytes received on this socket: the idle timer's measure of progress. */
  received: number;
  /** `received` when the sweep last looked, and since when it has not moved. */
  seen: number;
  quietSince: number;
}

interface Pending {
  /** The nonce of this socket's Challenge. */
  nonce: Uint8Array;
  /** performance.now() when the socket opened. */
  since: number;
  /** Reads the Hello only: a frame over MAX_HELLO_FRAME_BYTES is refused before it is buffered. */
  decoder: FrameDecoder<typeof RequestSchema>;
}

/**
 * How long a partial frame may take before its rate is judged: long enough
 * for a couple of TCP retransmissions, far shorter than the frame deadline.
 */
export const FRAME_RATE_GRACE_MS = 2000;

/** Told to the oldest socket still proving itself when a newcomer needs its place. */
const busyFrame = encodeFrame(
  ResponseSchema,
  errorResponse(
    0,
    new RpcError(Status.UNAVAILABLE, 'too many connections waiting for the handshake', {
      retryAfterS: 1,
    }),
  ),
);

const goAway = encodeFrame(
  ResponseSchema,
  errorResponse(0, new RpcError(Status.UNAVAILABLE, 'server is shutting down')),
);

export function startTcpServer(
  options: TcpServerOptions,
  dispatch: Dispatch,
  log: Logger,
): TcpServer {
  const sockets = new Set<Socket<Conn>>();
  /** Sockets still to prove themselves, oldest first. */
  const pending = new Set<Socket<Conn>>();
  const idleTimeoutMs = options.idleTimeoutMs ?? 0;
  const minFrameBytesPerS = options.minFrameBytesPerS ?? 0;
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const maxPending = options.maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES;
  const handshake = new ServerHandshake(options.sharedSecrets ?? [], idleTimeoutMs);
  const refusals = new RefusalLog(log);
  let inFlight = 0;
  let partialFrameBytes = 0;
  let draining = false;

  function close(socket: Socket<Conn>, reason: string): void {
    log.warn({ remote: socket.remoteAddress, reason }, 'closing connection');
    socket.data.closed = true;
    release(socket.data);
    socket.terminate();
  }

  /**
   * Ends a socket that has not proved itself, telling the peer `frame` first
   * (a graceful close, so that it arrives). The reason is logged, not sent.
   */
  function refuse(socket: Socket<Conn>, reason: string, frame = refusalFrame): void {
    refusals.refused(reason, socket.remoteAddress);
    socket.data.closed = true;
    pending.delete(socket);
    socket.write(frame);
    socket.end();
  }

  /**
   * Reads the Hello of a socket that has not proved itself yet: why it is
   * refused, or null (proved, or more of the Hello to come).
   */
  function prove(socket: Socket<Conn>, chunk: Uint8Array): string | null {
    const hello = socket.data.pending as Pending;
    const frames = hello.decoder.push(chunk);
    if (!Array.isArray(frames)) return `no handshake: ${frames.reason}`;
    const [first] = frames;
    if (first === undefined) return null;
    if (frames.length > 1 || hello.decoder.midFrame) return 'frames before the handshake was done';
    const verdict = handshake.judge(hello.nonce, first);
    if ('refused' in verdict) return verdict.refused;
    socket.data.pending = null;
    pending.delete(socket);
    socket.write(verdict.welcome);
    return null;
  }

  function closeIdle(socket: Socket<Conn>): void {
    log.info({ remote: socket.remoteAddress, idleTimeoutMs }, 'closing an idle connection');
    socket.data.closed = true;
    release(socket.data);
    socket.end();
  }

  /** Gives back the socket's partial frame (idempotent). */
  function release(conn: Conn): void {
    conn.decoder.release();
    partialFrameBytes -= conn.partialBytes;
    conn.partialBytes = 0;
  }

  function serve(socket: Socket<Conn>, request: Request): void {
    const conn = socket.data;
    if (request.cancel !== undefined) {
      conn.calls.get(request.id)?.cancel();
      return;
    }
    if (conn.inFlight >= options.maxInFlightPerConnection) {
      const error = new RpcError(
        Status.RESOURCE_EXHAUSTED,
        'too many requests in flight on this connection',
        {
          retryAfterS: 1,
        },
      );
      conn.outbox.push(encodeFrame(ResponseSchema, errorResponse(request.id, error)));
      return;
    }
    const deadline = Deadline.after(request.deadlineMs || options.defaultDeadlineMs);
    const id = request.id;
    // A client reusing the id of a call still served: the older one loses its cancel handle only.
    conn.calls.set(id, deadline);
    conn.inFlight++;
    inFlight++;
    const context = { requestId: request.requestId, clientIp: request.clientIp, deadline };
    dispatch(request, context).then((response) => {
      if (conn.calls.get(id) === deadline) conn.calls.delete(id);
      conn.inFlight--;
      inFlight--;
      if (response === null || conn.closed || deadline.cancelled) return;
      conn.outbox.push(encodeFrame(ResponseSchema, response));
      if (conn.outbox.bufferedBytes > options.maxBufferedBytesPerConnection) {
        close(socket, 'client does not read its responses');
      }
    });
  }

  const listener: TCPSocketListener<Conn> = Bun.listen<Conn>({
    hostname: options.host,
    port: options.port,
    socket: {
      open(socket) {
        if (draining || sockets.size >= options.maxConnections) {
          socket.terminate();
          return;
        }
        const now = performance.now();
        const nonce = handshake.required ? newNonce() : null;
        socket.data = {
          decoder: new FrameDecoder(RequestSchema, options.maxFrameBytes),
          outbox: new Outbox(socket),
          inFlight: 0,
          calls: new Map(),
          closed: false,
          partialSince: 0,
          partialBytes: 0,
          pending:
            nonce === null
              ? null
              : {
                  nonce,
                  since: now,
                  decoder: new FrameDecoder(RequestSchema, MAX_HELLO_FRAME_BYTES),
                },
          received: 0,
          seen: 0,
          quietSince: now,
        };
        socket.setNoDelay(true);
        sockets.add(socket);
        // Written at once rather than through the outbox: the first bytes on an empty socket.
        socket.write(handshake.challenge(nonce));
        if (nonce === null) return;
        pending.add(socket);
        if (pending.size > maxPending) {
          const oldest = pending.values().next().value as Socket<Conn>;
          refuse(oldest, 'too many connections waiting for the handshake', busyFrame);
        }
      },
      data(socket, chunk) {
        const conn = socket.data;
        if (conn === undefined || conn.closed) return;
        conn.received += chunk.length;
        if (conn.pending !== null) {
          const refused = prove(socket, chunk);
          if (refused !== null) refuse(socket, refused);
          return;
        }
        const requests = conn.decoder.push(chunk);
        if (!Array.isArray(requests)) return close(socket, requests.reason);
        const held = conn.decoder.bufferedBytes;
        partialFrameBytes += held - conn.partialBytes;
        conn.partialBytes = held;
        if (partialFrameBytes > options.maxPartialFrameBytes)
          return close(socket, 'partial frames over the server-wide budget');
        // The frame in progress began in this chunk if one was completed before it.
        if (!conn.decoder.midFrame) conn.partialSince = 0;
        else if (conn.partialSince === 0 || requests.length > 0)
          conn.partialSince = performance.now();
        for (const request of requests) serve(socket, request);
      },
      drain(socket) {
        socket.data?.outbox.drain();
      },
      end(socket) {
        // Nothing more will come: a partial frame can never be finished.
        if (socket.data !== undefined) release(socket.data);
        socket.end();
      },
      close(socket) {
        pending.delete(socket);
        if (!sockets.delete(socket)) return;
        socket.data.closed = true;
        release(socket.data);
        socket.data.outbox.close();
        for (const deadline of socket.data.calls.values()) deadline.cancel();
      },
      error(socket, error) {
        log.warn({ remote: socket.remoteAddress, err: error }, 'socket error');
      },
    },
  });

  /** Closes the socket if it made too little progress, in bytes, by `now`. */
  function judge(socket: Socket<Conn>, now: number): void {
    const conn = socket.data;
    if (conn.pending !== null) {
      if (now - conn.pending.since > handshakeTimeoutMs)
        refuse(socket, `no handshake within ${handshakeTimeoutMs} ms`);
    } else if (conn.received !== conn.seen || conn.inFlight > 0) {
      conn.seen = conn.received;
      conn.quietSince = now;
    } else if (idleTimeoutMs > 0 && now - conn.quietSince > idleTimeoutMs) {
      closeIdle(socket);
      return;
    }
    const slow = conn.pending === null ? slowFrame(conn, now) : null;
    if (slow !== null) close(socket, slow);
  }

  /** Why the socket's partial frame is too slow by `now`, or null. */
  function slowFrame(conn: Conn, now: number): string | null {
    if (conn.partialSince === 0) return null;
    const inFrame = now - conn.partialSince;
    if (inFrame > options.partialFrameTimeoutMs) return 'partial frame timed out';
    const floor = (minFrameBytesPerS * (inFrame - FRAME_RATE_GRACE_MS)) / 1000;
    if (inFrame > FRAME_RATE_GRACE_MS && conn.decoder.frameBytesReceived < floor)
      return `partial frame arriving slower than ${minFrameBytesPerS} bytes/s`;
    return null;
  }

  // One timer for all sockets, a quarter of the shortest limit it enforces.
  const limits = [options.partialFrameTimeoutMs];
  if (handshake.required) limits.push(handshakeTimeoutMs);
  if (idleTimeoutMs > 0) limits.push(idleTimeoutMs);
  if (minFrameBytesPerS > 0) limits.push(FRAME_RATE_GRACE_MS);
  const sweepMs = Math.max(50, Math.min(1000, Math.min(...limits) / 4));
  let lastSweep = performance.now();
  const reaper = setInterval(() => {
    const now = performance.now();
    // A sweep a whole period late means this process stalled (a long task, a
    // collection); what arrived meanwhile is still unread, so the stall is
    // not counted against the peers.
    const late = now - lastSweep - sweepMs;
    const stall = late > sweepMs ? late : 0;
    lastSweep = now;
    for (const socket of sockets) {
      const conn = socket.data;
      if (conn.closed) continue;
      if (stall > 0) {
        conn.quietSince += stall;
        if (conn.partialSince !== 0) conn.partialSince += stall;
        if (conn.pending !== null) conn.pending.since += stall;
      }
      judge(socket, now);
    }
  }, sweepMs);
  reaper.unref();

  return {
    port: listener.port,
    get connections() {
      return sockets.size;
    },
    get inFlight() {
      return inFlight;
    },
    get partialFrameBytes() {
      return partialFrameBytes;
    },
    async stop(timeoutMs) {
      if (draining) return;
      draining = true;
      listener.stop(false);
      for (const socket of sockets) socket.data.outbox.push(goAway);
      const until = performance.now() + timeoutMs;
      while (
        performance.now() < until &&
        (inFlight > 0 || [...sockets].some((s) => s.data.outbox.bufferedBytes > 0))
      ) {
        await Bun.sleep(5);
      }
      clearInterval(reaper);
      for (const socket of sockets) socket.end();
      listener.stop(true);
    },
  };
}
