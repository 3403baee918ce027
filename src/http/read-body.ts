/**
 * A request body read into memory with a bound counted as the bytes arrive:
 * a body without a length (chunked) is abandoned as soon as it is over, never
 * read to its end first.
 */
export async function readAtMost(
  request: Request,
  maxBytes: number,
  /** Told the bytes read so far, as they arrive. */
  progress?: (bytes: number) => void,
): Promise<Uint8Array<ArrayBuffer> | null> {
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    progress?.(total);
    if (total > maxBytes) {
      reader.cancel().catch(() => {}); // the client hung up meanwhile: nothing to cancel
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}
