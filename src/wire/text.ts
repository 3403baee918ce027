const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The text in `bytes[start, stop)` as protobuf-es reads a string field, or
 * null where it would refuse it (not strict UTF-8). Short ASCII, the usual
 * case of the hot fields, is read without TextDecoder. For the hand-written
 * decoders (codec.ts, the cache record), which leave a null to protobuf-es.
 */
export function textOf(bytes: Uint8Array, start: number, stop: number): string | null {
  if (stop - start <= 32) {
    let text = '';
    for (let i = start; i < stop; i++) {
      const byte = bytes[i] as number;
      if (byte > 0x7f) return utf8(bytes, start, stop);
      text += String.fromCharCode(byte);
    }
    return text;
  }
  return utf8(bytes, start, stop);
}

function utf8(bytes: Uint8Array, start: number, stop: number): string | null {
  try {
    return strictUtf8.decode(bytes.subarray(start, stop));
  } catch {
    return null;
  }
}
