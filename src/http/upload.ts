import { MESSAGES } from '../wire/messages.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';

/** Room for the multipart framing and the other fields around an uploaded file. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** "5 MiB", "512 KiB", "900 bytes". */
export function formatBytes(bytes: number): string {
  const MiB = 1024 * 1024;
  if (bytes >= MiB) return `${Number((bytes / MiB).toFixed(1))} MiB`;
  if (bytes >= 1024) return `${Number((bytes / 1024).toFixed(1))} KiB`;
  return `${bytes} bytes`;
}

/**
 * The picture uploads an HTTP process is reading or forwarding, at most
 * `max` at once (HTTP_UPLOAD_CONCURRENCY): one more is refused before its
 * body is read. Shared by the API's and the profile page's upload routes.
 */
export class UploadSlots {
  private inUse = 0;

  constructor(readonly max: number) {}

  /** A slot, or false when all are taken; every true is paired with one release(). */
  take(): boolean {
    if (this.inUse >= this.max) return false;
    this.inUse++;
    return true;
  }

  release(): void {
    this.inUse--;
  }
}

/** All upload slots of this process are taken: refused before the body is read. */
export function uploadsBusy(): RpcError {
  return new RpcError(Status.RESOURCE_EXHAUSTED, MESSAGES.UPLOADS_BUSY, { retryAfterS: 1 });
}
