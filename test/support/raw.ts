/**
 * Raw sockets for tests that need to misbehave on purpose: a client that
 * writes arbitrary bytes, and a server whose every answer the test controls.
 * Both speak the handshake (src/wire/handshake.ts) as far as asked: the
 * client answers a Challenge when given a secret, and keeps the server's
 * handshake frames apart from the answers to its calls; the server sends a
 * Challenge that asks for no proof.
 */
import { create } from '@bufbuild/protobuf';
import type { Socket } from 'bun';
import {
  type Request,
  RequestSchema,
  type Response,
  ResponseSchema,
} from '../../src/gen/usermgr/v1/rpc_pb.ts';
import { encodeFrame, FrameDecoder } from '../../src/wire/frame.ts';
import { clientProof, newNonce } from '../../src/wire/handshake.ts';
import { Status } from '../../src/wire/status.ts';

export interface RawClient {
  socket: Socket<undefined>;
  /** Every frame but the handshake's (Challenge, Welcome). */
  responses: Response[];
  /** The server's Challenge and Welcome, in order. */
  handshake: Response[];
  /** Resolves once the server's Challenge, and with a secret its Welcome, arrived. */
  ready: Promise<void>;
  closed: Promise<void>;
  isClosed(): boolean;
  write(bytes: Uint8Array): void;
  /** Resolves once `n` responses have arrived (or rejects after `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<Response[]>;
}

/** Which Hello a client with `secret` sends: its own proof, or one given (a replay, a forgery). */
export interface RawClientOptions {
  secret?: string;
  hello?: (serverNonce: Uint8Array) => Uint8Array;
}

export function helloFrame(secret: string, serverNonce: Uint8Array): Uint8Array {
  const nonce = newNonce();
  const proof = clientProof(secret, serverNonce, nonce);
  return encodeFrame(RequestSchema, create(RequestSchema, { id: 0, hello: { nonce, proof } }));
}

export async function rawClient(port: number, options: RawClientOptions = {}): Promise<RawClient> {
  const decoder = new FrameDecoder(ResponseSchema);
  const responses: Response[] = [];
  const handshake: Response[] = [];
  let onReady = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  const answer =
    options.hello ??
    (options.secret === undefined
      ? undefined
      : (nonce: Uint8Array) => helloFrame(options.secret as string, nonce));
  let closed = false;
  let onClose = () => {};
  const closedPromise = new Promise<void>((resolve) => {
    onClose = resolve;
  });
  const socket = await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      data(socket, chunk) {
        const out = decoder.push(chunk);
        if (!Array.isArray(out)) return;
        for (const response of out) {
          const challenge = response.challenge;
          if (challenge === undefined && response.welcome === undefined) {
            responses.push(response);
            continue;
          }
          handshake.push(response);
          if (challenge !== undefined && challenge.nonce.length > 0 && answer !== undefined) {
            socket.write(answer(challenge.nonce));
          } else {
            onReady();
          }
        }
      },
      close() {
        closed = true;
        onClose();
      },
      error() {},
    },
  });
  return {
    socket,
    responses,
    handshake,
    ready,
    closed: closedPromise,
    isClosed: () => closed,
    write: (bytes) => {
      socket.write(bytes);
    },
    async waitFor(n, timeoutMs = 5000) {
      const until = performance.now() + timeoutMs;
      while (responses.length < n) {
        if (performance.now() > until)
          throw new Error(`only ${responses.length} of ${n} responses arrived`);
        await Bun.sleep(2);
      }
      return responses;
    },
  };
}

export function pingFrame(id: number): Uint8Array {
  return encodeFrame(
    RequestSchema,
    create(RequestSchema, { id, call: { case: 'ping', value: {} } }),
  );
}

/** The Challenge of a server that asks for no proof and never closes idle sockets. */
const openChallenge = encodeFrame(
  ResponseSchema,
  create(ResponseSchema, { id: 0, status: Status.OK, challenge: {} }),
);

export interface HeldRequest {
  request: Request;
  socket: Socket<ScriptedConn>;
  /** Answers a ping with the given server id (OK). */
  answer(serverId?: string): void;
}

interface ScriptedConn {
  decoder: FrameDecoder<typeof RequestSchema>;
  index: number;
}

export interface ScriptedServer {
  port: number;
  held: HeldRequest[];
  sockets: Socket<ScriptedConn>[];
  /** Chunks received per socket index, to see how writes were coalesced. */
  chunks: number[];
  stop(): void;
}

/**
 * A server that decodes requests and hands each to `onRequest` (default:
 * hold it until the test answers). Pass `port` to restart on a known port.
 */
export function scriptedServer(
  onRequest: (held: HeldRequest) => void = () => {},
  port = 0,
  options: { closeIdleAfterMs?: number } = {},
): ScriptedServer {
  const held: HeldRequest[] = [];
  const lastData = new Map<Socket<ScriptedConn>, number>();
  // A server that closes quiet sockets without announcing it (an older server, a proxy).
  const idleCloser =
    options.closeIdleAfterMs === undefined
      ? null
      : setInterval(() => {
          const limit = performance.now() - (options.closeIdleAfterMs as number);
          for (const [socket, at] of lastData)
            if (at < limit) {
              lastData.delete(socket);
              socket.end();
            }
        }, 50);
  const sockets: Socket<ScriptedConn>[] = [];
  const chunks: number[] = [];
  const listener = Bun.listen<ScriptedConn>({
    hostname: '127.0.0.1',
    port,
    socket: {
      open(socket) {
        socket.data = { decoder: new FrameDecoder(RequestSchema), index: sockets.length };
        sockets.push(socket);
        chunks.push(0);
        socket.write(openChallenge);
        if (idleCloser !== null) lastData.set(socket, performance.now());
      },
      data(socket, chunk) {
        if (idleCloser !== null) lastData.set(socket, performance.now());
        chunks[socket.data.index] = (chunks[socket.data.index] ?? 0) + 1;
        const requests = socket.data.decoder.push(chunk);
        if (!Array.isArray(requests)) return socket.terminate();
        for (const request of requests) {
          const entry: HeldRequest = {
            request,
            socket,
            answer(serverId = 'scripted') {
              const response = create(ResponseSchema, {
                id: request.id,
                status: Status.OK,
                result: { case: 'ping', value: { serverId } },
              });
              socket.write(encodeFrame(ResponseSchema, response));
            },
          };
          held.push(entry);
          onRequest(entry);
        }
      },
      error() {},
    },
  });
  return {
    port: listener.port,
    held,
    sockets,
    chunks,
    stop() {
      if (idleCloser !== null) clearInterval(idleCloser);
      listener.stop(true);
    },
  };
}
