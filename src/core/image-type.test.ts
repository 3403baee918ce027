import { describe, expect, it } from 'bun:test';
import { sniffImageType } from './image-type.ts';

const bytes = (...parts: (string | number[])[]) =>
  new Uint8Array(
    parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)),
  );

describe('unit: sniffImageType', () => {
  it('should recognise JPEG, PNG, GIF and WebP by their first bytes', () => {
    expect(sniffImageType(bytes([0xff, 0xd8, 0xff, 0xe0], 'JFIF'))).toBe('jpeg');
    expect(sniffImageType(bytes('\x89PNG\r\n\x1a\n', [0, 0, 0, 13]))).toBe('png');
    expect(sniffImageType(bytes('GIF89a', [1, 0]))).toBe('gif');
    expect(sniffImageType(bytes('GIF87a'))).toBe('gif');
    expect(sniffImageType(bytes('RIFF', [1, 2, 3, 4], 'WEBPVP8 '))).toBe('webp');
  });

  it('should refuse everything else, including near misses and short input', () => {
    for (const input of [
      bytes(''),
      bytes([0xff, 0xd8]),
      bytes('\x89PNG\r\n'),
      bytes('GIF88a'),
      bytes('RIFF', [1, 2, 3, 4], 'WAVE'),
      bytes('<svg xmlns="http://www.w3.org/2000/svg"/>'),
      bytes('hello, this is not an image'),
      bytes('BM', [0, 0, 0, 0]),
      bytes([0, 0, 0, 0x18], 'ftypheic'),
    ]) {
      expect(sniffImageType(input)).toBeNull();
    }
  });
});
