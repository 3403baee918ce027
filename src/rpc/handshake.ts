/**
 * The pool's half of the connection handshake (src/wire/handshake.ts): it
 * answers the server's Challenge and checks the server's proof, so that no
 * call (passwords included) is written to a server that has not shown it
 * knows TCP_SHARED_SECRET. One instance per connection attempt; frames go
 * in one at a time, each step says what to do next.
 *
 * A pool with a secret refuses a server that asks for none: a server that
 * cannot prove itself might be anyone's.
 */
import { create } from '@bufbuild/protobuf';
import { RequestSchema, type Response } from '../gen/usermgr/v1/rpc_pb.ts';
import { encodeFrame } from '../wire/frame.ts';
import { clientProof, NONCE_BYTES, newNonce, sameProof, serverProof } from '../wire/handshake.ts';
import { Status } from '../wire/status.ts';

export type Step =
  /** Write this frame and wait for the next. */
  | { kind: 'reply'; frame: Uint8Array }
  /** The socket may carry calls; the server closes it after `idleTimeoutMs` without a byte (0: never). */
  | { kind: 'done'; idleTimeoutMs: number }
  /** Give up on this socket; write `frame` first when there is one (it tells the server why). */
  | { kind: 'failed'; reason: string; frame?: Uint8Array };

function failed(reason: string, frame?: Uint8Array): Step {
  return frame === undefined ? { kind: 'failed', reason } : { kind: 'failed', reason, frame };
}

export class ClientHandshake {
  /** Set once the Hello is sent: the nonces the proofs cover. */
  private sent: { serverNonce: Uint8Array; clientNonce: Uint8Array; idleTimeoutMs: number } | null =
    null;

  /** `secret`: the newest TCP_SHARED_SECRET, '' for none. */
  constructor(private readonly secret: string) {}

  /** The next step after `response`, a frame with id 0 received during the handshake. */
  step(response: Response): Step {
    if (response.status === Status.UNAUTHENTICATED) {
      return failed(
        `the TCP server refused the handshake (${response.message}): TCP_SHARED_SECRET must be the same on both`,
      );
    }
    if (response.status === Status.UNAVAILABLE) {
      return failed(`the TCP server cannot take the connection now (${response.message})`);
    }
    return this.sent === null ? this.answer(response) : this.check(response);
  }

  private answer(response: Response): Step {
    const challenge = response.challenge;
    if (challenge === undefined) {
      return failed('the TCP server did not begin with a handshake (an older version?)');
    }
    const { nonce: serverNonce, idleTimeoutMs } = challenge;
    if (serverNonce.length === 0) {
      if (this.secret === '') return { kind: 'done', idleTimeoutMs };
      return failed(
        'the TCP server asks for no TCP_SHARED_SECRET, but this HTTP server has one: ' +
          'set the same secret on both',
      );
    }
    if (serverNonce.length !== NONCE_BYTES) return failed('malformed handshake challenge');
    const clientNonce = newNonce();
    if (this.secret === '') {
      // An empty proof, so that the server can log why it refuses this client.
      return failed(
        'the TCP server requires TCP_SHARED_SECRET, which this HTTP server does not have: ' +
          'set the same secret on both',
        hello(clientNonce, new Uint8Array(0)),
      );
    }
    this.sent = { serverNonce, clientNonce, idleTimeoutMs };
    return {
      kind: 'reply',
      frame: hello(clientNonce, clientProof(this.secret, serverNonce, clientNonce)),
    };
  }

  private check(response: Response): Step {
    const sent = this.sent as NonNullable<ClientHandshake['sent']>;
    const proof = response.welcome?.proof;
    if (proof === undefined) return failed('the TCP server answered the handshake with no proof');
    const expected = serverProof(this.secret, sent.serverNonce, sent.clientNonce);
    if (!sameProof(proof, expected)) {
      return failed(
        "the TCP server's handshake proof does not match TCP_SHARED_SECRET " +
          '(a different secret, or not a usermgr TCP server)',
      );
    }
    return { kind: 'done', idleTimeoutMs: sent.idleTimeoutMs };
  }
}

function hello(nonce: Uint8Array, proof: Uint8Array): Uint8Array {
  return encodeFrame(RequestSchema, create(RequestSchema, { id: 0, hello: { nonce, proof } }));
}
