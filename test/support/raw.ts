/**
 * Raw sockets for tests that need to misbehave on purpose: a client that
 * writes arbitrary bytes, and a server whose every answer the test controls.
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
import { Status } from '../../src/wire/status.ts';

export interface RawClient {
  socket: Socket<undefined>;
  responses: Response[];
  closed: Promise<void>;
  isClosed(): boolean;
  write(bytes: Uint8Array): void;
  /** Resolves once `n` responses have arrived (or rejects after `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<Response[]>;
}

export async function rawClient(port: number): Promise<RawClient> {
  const decoder = new FrameDecoder(ResponseSchema);
  const responses: Response[] = [];
  let closed = false;
  let onClose = () => {};
  const closedPromise = new Promise<void>((resolve) => {
    onClose = resolve;
  });
  const socket = await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      data(_s, chunk) {
        const out = decoder.push(chunk);
        if (Array.isArray(out)) responses.push(...out);
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
): ScriptedServer {
  const held: HeldRequest[] = [];
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
      },
      data(socket, chunk) {
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
      listener.stop(true);
    },
  };
}
