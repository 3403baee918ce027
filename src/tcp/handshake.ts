/**
 * The TCP server's half of the connection handshake (src/wire/handshake.ts):
 * the Challenge it sends first on every connection, and its verdict on the
 * client's Hello. It holds the shared secrets and never logs or sends them.
 */
import { create } from '@bufbuild/protobuf';
import { type Request, ResponseSchema } from '../gen/usermgr/v1/rpc_pb.ts';
import { encodeFrame } from '../wire/frame.ts';
import { clientProof, NONCE_BYTES, sameProof, serverProof } from '../wire/handshake.ts';
import { Status } from '../wire/status.ts';

/** The Welcome frame to send, or why the connection is refused (for the log, not the peer). */
export type Verdict = { welcome: Uint8Array } | { refused: string };

const PROOF_BYTES = 32;

/**
 * What a refused peer is told before the connection closes. The same words
 * whatever went wrong: the reason goes to the server's log, not to a prober.
 */
export const refusalFrame = encodeFrame(
  ResponseSchema,
  create(ResponseSchema, {
    id: 0,
    status: Status.UNAUTHENTICATED,
    message: 'handshake refused: prove TCP_SHARED_SECRET first',
  }),
);

export class ServerHandshake {
  /** Without secrets every connection gets the same Challenge, with no nonce. */
  private readonly openChallenge: Uint8Array;

  constructor(
    /** TCP_SHARED_SECRET, newest first; a proof made with any of them is accepted. */
    private readonly secrets: readonly string[],
    private readonly idleTimeoutMs: number,
  ) {
    this.openChallenge = this.frame(new Uint8Array(0));
  }

  /** True when clients must prove they know a secret. */
  get required(): boolean {
    return this.secrets.length > 0;
  }

  /** The first frame of a connection: with `nonce` when a proof is required. */
  challenge(nonce: Uint8Array | null): Uint8Array {
    return nonce === null ? this.openChallenge : this.frame(nonce);
  }

  /** Judges the first frame a client sent on a connection challenged with `nonce`. */
  judge(nonce: Uint8Array, request: Request): Verdict {
    const hello = request.hello;
    if (hello === undefined || request.call.case !== undefined || request.id !== 0) {
      return {
        refused: 'a request before the handshake (is TCP_SHARED_SECRET set on the client?)',
      };
    }
    if (hello.proof.length === 0) {
      return {
        refused: 'a client without TCP_SHARED_SECRET (set the same one on the HTTP servers)',
      };
    }
    if (hello.nonce.length !== NONCE_BYTES || hello.proof.length !== PROOF_BYTES) {
      return { refused: 'a malformed handshake' };
    }
    for (const secret of this.secrets) {
      if (!sameProof(clientProof(secret, nonce, hello.nonce), hello.proof)) continue;
      const welcome = create(ResponseSchema, {
        id: 0,
        status: Status.OK,
        welcome: { proof: serverProof(secret, nonce, hello.nonce) },
      });
      return { welcome: encodeFrame(ResponseSchema, welcome) };
    }
    return {
      refused: 'a wrong proof (TCP_SHARED_SECRET differs between the client and this server)',
    };
  }

  private frame(nonce: Uint8Array): Uint8Array {
    const challenge = create(ResponseSchema, {
      id: 0,
      status: Status.OK,
      challenge: { nonce, idleTimeoutMs: this.idleTimeoutMs },
    });
    return encodeFrame(ResponseSchema, challenge);
  }
}
