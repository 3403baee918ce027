import { encode } from 'uqr';

/**
 * A QR code as inline SVG, made here from uqr's module matrix: one path of
 * the dark runs of each row. Inline markup with no script and no style
 * attribute, so the pages' Content-Security-Policy (no inline style, images
 * only from this origin) allows it as it is; every value goes through JSX
 * escaping. Error correction M and the quiet zone of four modules the QR
 * standard asks for, which phone cameras need on a busy background.
 */
export function QrCode({ text, label, id }: { text: string; label: string; id?: string }) {
  const { data, size } = encode(text, { ecc: 'M', border: 4 });
  let path = '';
  data.forEach((row, y) => {
    for (let x = 0; x < size; ) {
      if (!row[x]) {
        x++;
        continue;
      }
      const start = x;
      while (x < size && row[x]) x++;
      path += `M${start} ${y}h${x - start}v1h${start - x}z`;
    }
  });
  return (
    <svg
      id={id}
      class="qr"
      xmlns="http://www.w3.org/2000/svg"
      viewBox={`0 0 ${size} ${size}`}
      role="img"
      aria-label={label}
      shape-rendering="crispEdges"
    >
      <rect width={size} height={size} fill="#fff" />
      <path d={path} fill="#000" />
    </svg>
  );
}
