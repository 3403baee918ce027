/**
 * The typed per-request variables of the application (Hono's `c.set` /
 * `c.get`), and the factory every sub-app and middleware is made with, so
 * that handlers see the variables with their types.
 *
 * `requestId` is set by the every-request middleware before anything else
 * runs, under the name Hono's request-id middleware uses. `client` holds
 * what is derived from the request's headers and socket — HTTPS or not, the
 * session token, the client address — each worked out the first time a
 * handler asks and kept for the rest of the request.
 */
import { createFactory } from 'hono/factory';
import type { ClientRequest } from './client-request.ts';

export interface AppEnv {
  Variables: {
    requestId: string;
    client: ClientRequest;
  };
}

export const factory = createFactory<AppEnv>();
