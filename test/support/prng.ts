/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Text that tells encoders apart: ASCII, 2-, 3- and 4-byte UTF-8, NUL, lone surrogates, boundaries. */
const PIECES = [
  'a',
  'Z',
  '0',
  ' ',
  'é',
  'ß',
  '名',
  '🎉',
  '\u0000',
  '\ud800',
  '\udc00',
  '\uffff',
  '\u007f',
  '\u0080',
  '\u07ff',
  '\u0800',
];

/**
 * Random text drawn from `random`: empty with probability `empty`, otherwise
 * up to `maxLength` UTF-16 units (one time in ten 40 to 439) of one kind:
 * printable ASCII, the pieces above, any code unit, or lowercase letters.
 */
export function randomText(random: () => number, empty: number, maxLength: number): string {
  const int = (n: number) => Math.floor(random() * n);
  if (random() < empty) return '';
  const kind = int(4);
  const length = random() < 0.1 ? 40 + int(400) : int(maxLength);
  let s = '';
  for (let i = 0; i < length; i++) {
    if (kind === 0) s += String.fromCharCode(0x20 + int(0x5f));
    else if (kind === 1) s += PIECES[int(PIECES.length)];
    else if (kind === 2) s += String.fromCharCode(int(0x10000));
    else s += String.fromCharCode(0x61 + int(26));
  }
  return s;
}
