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
 * - stop() stops accepting, tells every client to send nothing more (a
 *   Response with id 0), finishes the requests in flight, then closes.
 */
import type { Socket, TCPSocketListener } from 'bun';
import { type Request, RequestSchema, ResponseSchema } from '../gen/usermgr/v1/rpc_pb.ts';
import { Deadline } from '../lib/deadline.ts';
import type { Logger } from '../log.ts';
import { encodeFrame, FrameDecoder } from '../wire/frame.ts';
import { Outbox } from '../wire/outbox.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';
import { type Dispatch, errorResponse } from './dispatch.ts';

export interface TcpServerOptions {
  host: string;
  port: number;
  maxFrameBytes: number;
  maxConnections: number;
  maxInFlightPerConnection: number;
  maxBufferedBytesPerConnection: number;
  /** Budget for requests that carry none. */
  defaultDeadlineMs: number;
  /** A socket that sent part of a frame and then nothing for this long is closed. */
  partialFrameTimeoutMs: number;
}

export interface TcpServer {
  readonly port: number;
  readonly connections: number;
  readonly inFlight: number;
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
}

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
  let inFlight = 0;
  let draining = false;

  function close(socket: Socket<Conn>, reason: string): void {
    log.warn({ remote: socket.remoteAddress, reason }, 'closing connection');
    socket.data.closed = true;
    socket.terminate();
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
        socket.data = {
          decoder: new FrameDecoder(RequestSchema, options.maxFrameBytes),
          outbox: new Outbox(socket),
          inFlight: 0,
          calls: new Map(),
          closed: false,
          partialSince: 0,
        };
        socket.setNoDelay(true);
        sockets.add(socket);
      },
      data(socket, chunk) {
        const conn = socket.data;
        if (conn === undefined || conn.closed) return;
        const requests = conn.decoder.push(chunk);
        if (!Array.isArray(requests)) return close(socket, requests.reason);
        conn.partialSince = conn.decoder.midFrame ? conn.partialSince || performance.now() : 0;
        for (const request of requests) serve(socket, request);
      },
      drain(socket) {
        socket.data?.outbox.drain();
      },
      end(socket) {
        socket.end();
      },
      close(socket) {
        if (!sockets.delete(socket)) return;
        socket.data.closed = true;
        socket.data.outbox.close();
        for (const deadline of socket.data.calls.values()) deadline.cancel();
      },
      error(socket, error) {
        log.warn({ remote: socket.remoteAddress, err: error }, 'socket error');
      },
    },
  });

  // One timer for all sockets: close those stuck inside a frame (slow-loris).
  const reaper = setInterval(
    () => {
      const limit = performance.now() - options.partialFrameTimeoutMs;
      for (const socket of sockets) {
        const since = socket.data.partialSince;
        if (since !== 0 && since < limit) close(socket, 'partial frame timed out');
      }
    },
    Math.max(50, Math.min(1000, options.partialFrameTimeoutMs / 4)),
  );
  reaper.unref();

  return {
    port: listener.port,
    get connections() {
      return sockets.size;
    },
    get inFlight() {
      return inFlight;
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
