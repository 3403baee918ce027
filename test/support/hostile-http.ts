/**
 * For the hostile-input table: what an HTTP answer says, whatever its form
 * (the JSON error of the API, the message of an HTML error page, or the
 * flash a form post redirects with); bodies built byte by byte (invalid
 * UTF-8, hand-written multipart); and a raw HTTP/1.1 client, for requests
 * no fetch() would send.
 */

const encoder = new TextEncoder();

export type Body = string | Uint8Array<ArrayBuffer>;

/** Bytes from strings and byte values, for bodies that are not valid UTF-8. */
export function bytes(...parts: (string | number[])[]): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(
    parts.flatMap((p) => (typeof p === 'string' ? [...encoder.encode(p)] : p)),
  );
}

export interface Part {
  name: string;
  filename?: string;
  type?: string;
  data: Body;
}

/** A multipart body written by hand, so that names and file names reach the server byte for byte. */
export function multipart(parts: Part[], boundary = 'hostile-boundary-7d3f') {
  const chunks: Uint8Array[] = [];
  for (const part of parts) {
    const filename = part.filename === undefined ? '' : `; filename="${part.filename}"`;
    const type = part.type === undefined ? '' : `\r\nContent-Type: ${part.type}`;
    chunks.push(
      encoder.encode(
        `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"${filename}${type}\r\n\r\n`,
      ),
      typeof part.data === 'string' ? encoder.encode(part.data) : part.data,
      encoder.encode('\r\n'),
    );
  }
  chunks.push(encoder.encode(`--${boundary}--\r\n`));
  return {
    body: new Uint8Array(Buffer.concat(chunks)),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

/** A request line and headers (Host from `url`), up to the blank line. */
export function httpHead(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string | number>,
): string {
  const lines = Object.entries({ host: new URL(url).host, ...headers }).map(
    ([k, v]) => `${k}: ${v}`,
  );
  return `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

/** One chunk of a chunked body. */
export const chunk = (data: string) => `${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`;

export interface Answer {
  status: number;
  /** The error or flash message; '' when the answer has none. */
  message: string;
  /** The field a JSON error or a flash names; '' when none. */
  field: string;
  headers: Headers;
  text: string;
}

/** Reads a fetch() Response into an Answer. */
export async function answerOf(res: Response): Promise<Answer> {
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, ...messageOf(res.headers, text) };
}

function messageOf(headers: Headers, text: string): { message: string; field: string } {
  const type = headers.get('content-type') ?? '';
  if (type.startsWith('application/json')) {
    try {
      const error = (JSON.parse(text) as { error?: { message?: string; field?: string } }).error;
      return { message: error?.message ?? '', field: error?.field ?? '' };
    } catch {
      return { message: '', field: '' };
    }
  }
  const flash = flashOf(headers);
  if (flash !== null) {
    const [field, message] = Object.entries(flash.fields ?? {})[0] ?? ['', ''];
    return { message: flash.error ?? (message || flash.notice || ''), field };
  }
  if (type.startsWith('text/html')) {
    // The error page: <p class="message error" role="alert">Message.</p>, first letter
    // capitalised and a full stop added (views/render.ts).
    const shown = /<p class="message error" role="alert">([^<]*?)\.?<\/p>/.exec(text)?.[1] ?? '';
    const unescaped = shown
      .replaceAll('&quot;', '"')
      .replaceAll('&#39;', "'")
      .replaceAll('&lt;', '<')
      .replaceAll('&gt;', '>')
      .replaceAll('&amp;', '&');
    return { message: unescaped.charAt(0).toLowerCase() + unescaped.slice(1), field: '' };
  }
  return { message: '', field: '' };
}

interface Flash {
  error?: string;
  notice?: string;
  fields?: Record<string, string>;
}

/** The flash cookie a form post set, decoded; null when none. */
function flashOf(headers: Headers): Flash | null {
  for (const cookie of headers.getSetCookie()) {
    const value = /^(?:__Host-)?flash=([^;]+)/.exec(cookie)?.[1];
    if (value) return JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Flash;
  }
  return null;
}

export interface RawExchange {
  /** The first answer on the connection. */
  answer: Answer;
  /** Milliseconds from the first byte sent to the first answer complete. */
  answeredMs: number;
  /** Resolves to the milliseconds until the server closed the connection, or null if it did not within `closeWithinMs`. */
  closed: Promise<number | null>;
  /** Everything received, answers and all. */
  received(): string;
  end(): void;
}

/**
 * Writes `parts` to a fresh connection (each part after the previous one is
 * written, `gapMs` apart) and resolves with the first complete answer. The
 * last part need not end the request: an answer that comes before the body
 * is complete is what some rows expect.
 */
export async function rawHttp(
  url: string,
  parts: (string | Uint8Array)[],
  { gapMs = 0, closeWithinMs = 2000, answerWithinMs = 5000 } = {},
): Promise<RawExchange> {
  const { hostname, port } = new URL(url);
  const started = performance.now();
  let received = Buffer.alloc(0);
  let onData = () => {};
  let onClose = (_ms: number) => {};
  const closed = new Promise<number>((resolve) => {
    onClose = resolve;
  });
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data(_s, chunk) {
        received = Buffer.concat([received, chunk]);
        onData();
      },
      close() {
        onClose(performance.now() - started);
        onData();
      },
      error() {},
    },
  });
  let isClosed = false;
  closed.then(() => {
    isClosed = true;
  });
  (async () => {
    for (const part of parts) {
      if (isClosed) return;
      socket.write(part);
      if (gapMs > 0) await Bun.sleep(gapMs);
    }
  })();
  const answer = await new Promise<Answer>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no answer within ${answerWithinMs} ms`)),
      answerWithinMs,
    );
    onData = () => {
      const parsed = parseAnswer(received);
      if (parsed !== null) {
        clearTimeout(timer);
        resolve(parsed);
      } else if (isClosed) {
        clearTimeout(timer);
        reject(new Error(`closed without an answer: ${JSON.stringify(received.toString())}`));
      }
    };
    onData();
  });
  return {
    answer,
    answeredMs: performance.now() - started,
    closed: Promise.race([closed, Bun.sleep(closeWithinMs).then(() => null)]),
    received: () => received.toString('latin1'),
    end: () => socket.terminate(),
  };
}

/** The first response in `bytes` once it is complete (Content-Length bodies only), else null. */
function parseAnswer(bytes: Buffer): Answer | null {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const [statusLine = '', ...lines] = bytes.subarray(0, headEnd).toString('latin1').split('\r\n');
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const length = Number(headers.get('content-length') ?? 0);
  if (bytes.length < headEnd + 4 + length) return null;
  const text = bytes.subarray(headEnd + 4, headEnd + 4 + length).toString('utf8');
  const status = Number(statusLine.split(' ')[1]);
  return { status, headers, text, ...messageOf(headers, text) };
}
