/**
 * Pictures on the real stack (MariaDB, Redis, sharp, files under DATA_DIR):
 * upload through the API, processing in the TCP server, serving through the
 * HTTP server, replacement without orphans, and refusals as 4xx (hostile
 * files and odd multipart bodies are rows of test/hostile-input.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { UserJson } from '../src/http/user-json.ts';
import { createLogger } from '../src/log.ts';
import { MESSAGES } from '../src/wire/messages.ts';
import { jsonInit, type Stack, startStack } from './fixture.ts';
import { startFakeS3 } from './media/fake-s3.ts';
import { chunk, rawHttp } from './support/hostile-http.ts';
import { BLUE, near, pixel, png, pngBomb, RED, rotatedJpeg } from './support/images.ts';

interface Answer {
  token: string;
  user: UserJson;
  error: { code: string; message: string; field?: string; fields?: Record<string, string> };
}

let stack: Stack;
let counter = 0;

beforeAll(async () => {
  stack = await startStack({ store: 'mysql', redis: true });
});
afterAll(() => stack?.stop());

async function newUser(): Promise<string> {
  const username = `pic_${Date.now().toString(36)}_${counter++}`;
  const password = 'correct horse battery';
  await stack.fetch('/open_api/v1/register', jsonInit('POST', { username, password }));
  const res = await stack.fetch(
    '/open_api/v1/authenticate',
    jsonInit('POST', { username, password }),
  );
  return ((await res.json()) as Answer).token;
}

async function upload(
  token: string,
  body: BodyInit,
  headers: Record<string, string> = {},
  on: Stack = stack,
) {
  const res = await on.fetch('/api/v1/me/picture', {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, ...headers },
    body,
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Answer };
}

async function served(url: string) {
  const res = await stack.fetch(url);
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { res, bytes, meta: res.status === 200 ? await sharp(bytes).metadata() : null };
}

const picturesDir = () => join(stack.config.dataDir, 'pictures');
function storedNames(): string[] {
  if (!existsSync(picturesDir())) return [];
  return readdirSync(picturesDir())
    .flatMap((d) => readdirSync(join(picturesDir(), d)))
    .sort();
}

describe('integration: pictures over MariaDB, Redis and the local store', () => {
  it('should turn an uploaded PNG into square WebP images of 256 and 64 px, served for a year', async () => {
    const token = await newUser();
    const { status, body } = await upload(token, await png(300, 200), {
      'content-type': 'image/png',
    });
    expect(status).toBe(200);
    const url = body.user.picture_url as string;
    expect(url).toMatch(/^\/pictures\/[0-9a-f]{64}\.webp$/);

    const large = await served(url);
    expect(large.res.status).toBe(200);
    expect(large.res.headers.get('content-type')).toBe('image/webp');
    expect(large.res.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    expect(large.res.headers.get('x-content-type-options')).toBe('nosniff');
    expect([large.meta?.format, large.meta?.width, large.meta?.height]).toEqual(['webp', 256, 256]);
    // The name says nothing of the image (an attack audit: it was its SHA-256).
    const hash = new Bun.CryptoHasher('sha256').update(large.bytes).digest('hex');
    expect(url).not.toBe(`/pictures/${hash}.webp`);

    const small = await served(url.replace('.webp', '-64.webp'));
    expect([small.meta?.format, small.meta?.width, small.meta?.height]).toEqual(['webp', 64, 64]);

    // The profile shows it at once: the cached user was invalidated.
    const me = await stack.fetch('/api/v1/me', { headers: { authorization: `Bearer ${token}` } });
    expect(((await me.json()) as Answer).user.picture_url).toBe(url);
  });

  it('should apply the EXIF orientation of a JPEG sent as multipart, and keep none of its metadata', async () => {
    const token = await newUser();
    const form = new FormData();
    form.append('picture', new Blob([await rotatedJpeg()], { type: 'image/jpeg' }), 'photo.jpg');
    const { status, body } = await upload(token, form);
    expect(status).toBe(200);
    const { bytes, meta } = await served(body.user.picture_url as string);
    expect(near(await pixel(bytes, 128, 10), RED)).toBe(true);
    expect(near(await pixel(bytes, 128, 245), BLUE)).toBe(true);
    expect(meta?.exif).toBeUndefined();
    expect(Buffer.from(bytes).includes('Test Camera')).toBe(false);
  });

  it('should refuse what is not an image with 415, and a decompression bomb with 400', async () => {
    const token = await newUser();
    const text = await upload(token, 'hello, I am a text file named picture.png', {
      'content-type': 'image/png',
    });
    expect(text.status).toBe(415);
    expect(text.body.error).toEqual({
      code: 'UNSUPPORTED_MEDIA',
      message: 'the picture must be a JPEG, PNG, WebP or GIF image; this file is none of them',
    });
    const started = performance.now();
    const bomb = await upload(token, pngBomb(60_000, 60_000));
    expect(bomb.status).toBe(400);
    expect(bomb.body.error.message).toBe(
      'the picture is 60000×60000 pixels; at most 40 megapixels are accepted',
    );
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('should refuse 6 MiB with 413 while reading, with a length or chunked', async () => {
    const token = await newUser();
    const big = new Uint8Array(6 * 1024 * 1024);
    const sized = await upload(token, big, { 'content-type': 'image/png' });
    expect(sized.status).toBe(413);
    expect(sized.body.error).toEqual({
      code: 'PAYLOAD_TOO_LARGE',
      message: 'the picture is larger than 5 MiB: choose a smaller one, or save it smaller first',
    });
    let sent = 0;
    const chunked = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= big.length) return controller.close();
        controller.enqueue(big.subarray(sent, sent + 256 * 1024));
        sent += 256 * 1024;
      },
    });
    const res = await stack.fetch('/api/v1/me/picture', {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}` },
      body: chunked,
    });
    expect(res.status).toBe(413);
  });

  // Regression (an attack audit): names were content hashes, so uploading an image,
  // removing it and fetching its name told whether another account showed it.
  it('should name the same image differently for two users, and remove only the replaced one', async () => {
    const [alice, bob] = [await newUser(), await newUser()];
    const first = (await upload(alice, await png(301, 207))).body.user.picture_url as string;
    const same = (await upload(bob, await png(301, 207))).body.user.picture_url as string;
    expect(same).not.toBe(first);
    const name = first.slice('/pictures/'.length, -'.webp'.length);
    expect(storedNames()).toContain(`${name}.webp`);

    const res = await stack.fetch('/api/v1/me/picture', {
      method: 'DELETE',
      headers: { authorization: `Bearer ${alice}` },
    });
    expect(res.status).toBe(200);
    await stack.tcp.pictures.settled();
    expect(storedNames()).not.toContain(`${name}.webp`);
    expect(storedNames()).not.toContain(`${name}-64.webp`);
    expect((await stack.fetch(first)).status).toBe(404);
    expect((await stack.fetch(same)).status).toBe(200); // Bob still shows his

    const second = (await upload(bob, await png(107, 107, BLUE, BLUE))).body.user.picture_url;
    await stack.tcp.pictures.settled();
    expect((await stack.fetch(same)).status).toBe(404);
    expect((await stack.fetch(second as string)).status).toBe(200);
  });

  it("should state on the profile page the TCP server's pixel bound beside the HTTP server's size", async () => {
    const token = await newUser();
    const res = await stack.fetch('/profile', { headers: { cookie: `session=${token}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(
      /JPEG, PNG, WebP or GIF, up to \d+ [KM]iB and 40 megapixels\./,
    );
  });

  it('should answer unknown pictures and path tricks with 404', async () => {
    const paths = [
      `/pictures/${'0'.repeat(64)}.webp`,
      '/pictures/..%2f..%2fpackage.json',
      '/pictures/%2e%2e%2f%2e%2e%2fpackage.json',
      '/pictures/..%5c..%5cpackage.json',
      `/pictures/${'a'.repeat(64)}.webp/..%2f..%2fusermgr.sqlite`,
    ];
    for (const path of paths) {
      // A raw request line, so that no client normalises the path first.
      const socketAnswer = await rawGet(path);
      expect([path, socketAnswer.split(' ')[1]]).toEqual([path, '404']);
    }
  });

  it('should remove, when the TCP server starts, the temporary files of puts a stopped one left', async () => {
    const folder = join(picturesDir(), 'ee');
    mkdirSync(folder, { recursive: true });
    const left = join(folder, '.tmp-0123456789abcdef');
    writeFileSync(left, 'half a picture');
    const dayAgo = new Date(Date.now() - 86_400_000);
    utimesSync(left, dayAgo, dayAgo);
    await stack.restartTcp();
    const until = performance.now() + 5000;
    while (existsSync(left) && performance.now() < until) await Bun.sleep(20);
    expect(existsSync(left)).toBe(false);
  });

  it('should refuse an upload without a session with 401', async () => {
    const res = await upload('not-a-token', await png());
    expect(res.status).toBe(401);
  });

  // Real decodes at the lowest priority: on a busy machine they wait for every other process.
  it('should refuse extra uploads at once with 429 and Retry-After when processing is saturated', async () => {
    const busy = await startStack({
      env: { PICTURE_CONCURRENCY: '1', PICTURE_QUEUE: '1', PICTURE_UPLOAD_BURST: '100' },
    });
    try {
      const username = 'busy_user';
      const password = 'correct horse battery';
      await busy.fetch('/open_api/v1/register', jsonInit('POST', { username, password }));
      const login = await busy.fetch(
        '/open_api/v1/authenticate',
        jsonInit('POST', { username, password }),
      );
      const { token } = (await login.json()) as Answer;
      const image = await png(3000, 3000);
      const answers = await Promise.all(
        Array.from({ length: 12 }, () =>
          busy.fetch('/api/v1/me/picture', {
            method: 'PUT',
            headers: { authorization: `Bearer ${token}` },
            body: image,
          }),
        ),
      );
      const statuses = answers.map((r) => r.status);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
      expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
      const refused = answers.find((r) => r.status === 429);
      expect(refused?.headers.get('retry-after')).toBe('1');
    } finally {
      await busy.stop();
    }
  }, 20_000);
});

describe('integration: an upload is checked before its body is read', () => {
  /** A chunked body begun and never ended: an answer must not wait for the rest. */
  const CHUNKED = `Transfer-Encoding: chunked\r\n\r\n${chunk('x'.repeat(1024))}`;

  // Regression (an attack audit): a chunked body was read whole before the session was
  // checked (Hono's bodyLimit buffers it): 5 MiB held per connection for a stranger.
  it('should answer an upload with no session, or an invalid one, with 401 before the body is sent', async () => {
    for (const auth of ['', 'Authorization: Bearer not-a-token\r\n']) {
      for (const body of ['Content-Length: 5000000\r\n\r\n', CHUNKED]) {
        const head = `PUT /api/v1/me/picture HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: image/png\r\n`;
        // The head alone: no answer until the body is sent would be a timeout here.
        const sent = await rawHttp(stack.url, [head + body], { answerWithinMs: 3000 });
        sent.end();
        expect([auth, body, sent.answer.status, sent.answer.message]).toEqual([
          auth,
          body,
          401,
          'not logged in, or the session has ended',
        ]);
      }
    }
  });

  it('should send a page upload with no session, or an ended one, to the login page before the body is sent', async () => {
    for (const cookie of ['', 'Cookie: session=not-a-token\r\n']) {
      for (const body of ['Content-Length: 5000000\r\n\r\n', CHUNKED]) {
        const head =
          `POST /profile/picture HTTP/1.1\r\nHost: x\r\n${cookie}` +
          'Content-Type: multipart/form-data; boundary=b\r\n';
        const sent = await rawHttp(stack.url, [head + body], { answerWithinMs: 3000 });
        sent.end();
        expect([cookie, body, sent.answer.status, sent.answer.headers.get('location')]).toEqual([
          cookie,
          body,
          303,
          '/login',
        ]);
      }
    }
  });

  it('should read at most HTTP_UPLOAD_CONCURRENCY uploads at once, and refuse one more before its body', async () => {
    const one = await startStack({ env: { HTTP_UPLOAD_CONCURRENCY: '1' } });
    try {
      const slowOne = await newUserOn(one);
      // Another user: one user's second upload is refused by a bound of its own (below).
      const token = await newUserOn(one);
      // The one slot: an upload whose body is still coming.
      const slow = await slowUpload(one.url, slowOne);
      expect(await refusedUploads(one.url, token)).toEqual({
        api: [429, '1', MESSAGES.UPLOADS_BUSY],
        page: [303, '/profile', 'picture', true],
      });
      // The slot comes back when its client hangs up; the next upload is read.
      slow.terminate();
      await Bun.sleep(1000);
      expect((await upload(token, await png(), {}, one)).status).toBe(200);
    } finally {
      await one.stop();
    }
  });

  // An attack audit: one account held every slot with slow bodies from four addresses.
  it("should read one upload of a user at a time, refusing its next before its body, and not another user's", async () => {
    const slowOne = await newUser();
    const other = await newUser();
    const slow = await slowUpload(stack.url, slowOne);
    try {
      expect(await refusedUploads(stack.url, slowOne, MESSAGES.UPLOAD_UNDER_WAY)).toEqual({
        api: [429, '1', MESSAGES.UPLOAD_UNDER_WAY],
        page: [303, '/profile', 'picture', true],
      });
      // Another user, from the same address, is read as usual.
      expect((await upload(other, await png(), {}, stack)).status).toBe(200);
    } finally {
      slow.terminate();
    }
  });

  // Many accounts trickling their bodies held every slot for as long as they reconnected.
  it('should give the slot of a body trickling past its grace to a newcomer, when every slot is taken', async () => {
    const one = await startStack({ env: { HTTP_UPLOAD_CONCURRENCY: '1' } });
    try {
      const slowOne = await newUserOn(one);
      const newcomer = await newUserOn(one);
      const trickle = rawHttp(
        one.url,
        [
          `${head('PUT', '/api/v1/me/picture', `Authorization: Bearer ${slowOne}`, 'image/png')}${'x'.repeat(1024)}`,
        ],
        { answerWithinMs: 20_000 },
      );
      await Bun.sleep(1000); // its session check and its slot
      // Within its grace (5 s) the slow body keeps its slot.
      expect((await refusedUploads(one.url, newcomer)).api[0]).toBe(429);
      await Bun.sleep(5000);
      expect((await upload(newcomer, await png(), {}, one)).status).toBe(200);
      const slow = await trickle;
      slow.end();
      expect([slow.answer.status, slow.answer.field]).toEqual([400, 'picture']);
      expect(slow.answer.message).toStartWith('the picture arrived too slowly while others');
    } finally {
      await one.stop();
    }
  });

  it('should take an upload whose body takes longer than the idle timeout (a slow link)', async () => {
    const token = await newUser();
    const image = await png();
    const parts = 12;
    const size = Math.ceil(image.length / parts);
    const head =
      `PUT /api/v1/me/picture HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: image/png\r\nContent-Length: ${image.length}\r\nConnection: close\r\n\r\n`;
    const slices = Array.from({ length: parts }, (_, i) =>
      image.subarray(i * size, (i + 1) * size),
    );
    // 12 s in all: past Bun's 10 s idle timeout, within the upload's 60 s.
    const sent = await rawHttp(stack.url, [head, ...slices], {
      gapMs: 1000,
      answerWithinMs: 25_000,
    });
    expect([sent.answer.status, sent.answeredMs > 10_000]).toEqual([200, true]);
  }, 40_000);

  it('should count a client that hangs up mid-upload as its own class (499), logged at debug, on both routes and with either framing', async () => {
    const lines: string[] = [];
    const log = createLogger('test', 'debug', { write: (line: string) => void lines.push(line) });
    const logged = await startStack({ log });
    try {
      const token = await newUserOn(logged);
      const { hostname, port } = new URL(logged.url);
      const part = 'x'.repeat(64 * 1024);
      const heads = {
        'API, Content-Length':
          `PUT /api/v1/me/picture HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Type: image/png\r\nContent-Length: 1000000\r\n\r\n${part}`,
        'API, chunked':
          `PUT /api/v1/me/picture HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(part)}`,
        'page form':
          `POST /profile/picture HTTP/1.1\r\nHost: x\r\nCookie: session=${token}\r\n` +
          'Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n' +
          `--b\r\nContent-Disposition: form-data; name="picture"; filename="a.png"\r\n\r\n${part}`,
      };
      const entries = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      for (const [framing, head] of Object.entries(heads)) {
        lines.length = 0;
        const route = framing === 'page form' ? '/profile/picture' : '/api/v1/me/picture';
        const socket = await Bun.connect({ hostname, port: Number(port), socket: { data() {} } });
        socket.write(head);
        await Bun.sleep(300);
        socket.terminate(); // hang up with most of the body unsent
        const until = performance.now() + 3000;
        while (!entries().some((e) => e.msg === 'request' && e.route === route)) {
          if (performance.now() > until)
            throw new Error(`the upload (${framing}) was never logged`);
          await Bun.sleep(20);
        }
        const upload = entries().find((e) => e.msg === 'request' && e.route === route);
        expect([framing, upload?.status, upload?.level]).toEqual([framing, 499, 20]);
        expect(entries().filter((e) => (e.level as number) >= 50)).toEqual([]);
      }
    } finally {
      await logged.stop();
    }
  });
});

describe('integration: pictures in S3 (a fake S3 that checks signatures)', () => {
  it('should store uploads in the bucket under the prefix and serve them from there', async () => {
    const s3 = startFakeS3();
    const s3Stack = await startStack({
      env: {
        S3_BUCKET: s3.bucket,
        S3_ENDPOINT: s3.endpoint,
        S3_REGION: s3.region,
        S3_ACCESS_KEY_ID: s3.accessKeyId,
        S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        S3_PREFIX: 'avatars/',
      },
    });
    try {
      const username = 's3_user';
      const password = 'correct horse battery';
      await s3Stack.fetch('/open_api/v1/register', jsonInit('POST', { username, password }));
      const login = await s3Stack.fetch(
        '/open_api/v1/authenticate',
        jsonInit('POST', { username, password }),
      );
      const { token } = (await login.json()) as Answer;
      const put = await s3Stack.fetch('/api/v1/me/picture', {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}` },
        body: await png(),
      });
      const url = ((await put.json()) as Answer).user.picture_url as string;
      const name = url.slice('/pictures/'.length);
      expect([...s3.objects.keys()].sort()).toEqual([
        `avatars/${name.replace('.webp', '-64.webp')}`,
        `avatars/${name}`,
      ]);
      expect(s3.objects.get(`avatars/${name}`)?.contentType).toBe('image/webp');
      const got = await s3Stack.fetch(url);
      expect(got.status).toBe(200);
      expect((await sharp(new Uint8Array(await got.arrayBuffer())).metadata()).width).toBe(256);
      expect(existsSync(join(s3Stack.config.dataDir, 'pictures'))).toBe(false);
    } finally {
      await s3Stack.stop();
      s3.stop();
    }
  });
});

/** A request head announcing a body of 1,000,000 bytes. */
const head = (method: string, path: string, auth: string, type: string) =>
  `${method} ${path} HTTP/1.1\r\nHost: x\r\n${auth}\r\nContent-Type: ${type}\r\n` +
  'Content-Length: 1000000\r\n\r\n';

/** An upload of `token`'s that holds its slot: 1 KiB of its body sent, the rest never. */
async function slowUpload(url: string, token: string) {
  const { hostname, port } = new URL(url);
  const slow = await Bun.connect({ hostname, port: Number(port), socket: { data() {} } });
  slow.write(
    `${head('PUT', '/api/v1/me/picture', `Authorization: Bearer ${token}`, 'image/png')}${'x'.repeat(1024)}`,
  );
  // Time for its session check and its slot (a loaded machine is slow).
  await Bun.sleep(1000);
  return slow;
}

/**
 * `token`'s next upload on the API and on the page, whose bodies never come: their
 * answers (status, Retry-After, message; status, Location, field, and whether the
 * message starts with `message`).
 */
async function refusedUploads(url: string, token: string, message: string = MESSAGES.UPLOADS_BUSY) {
  const api = await rawHttp(
    url,
    [head('PUT', '/api/v1/me/picture', `Authorization: Bearer ${token}`, 'image/png')],
    { answerWithinMs: 3000 },
  );
  api.end();
  const type = 'multipart/form-data; boundary=b';
  const page = await rawHttp(
    url,
    [head('POST', '/profile/picture', `Cookie: session=${token}`, type)],
    { answerWithinMs: 3000 },
  );
  page.end();
  return {
    api: [api.answer.status, api.answer.headers.get('retry-after'), api.answer.message],
    page: [
      page.answer.status,
      page.answer.headers.get('location'),
      page.answer.field,
      page.answer.message.startsWith(message),
    ],
  };
}

async function newUserOn(on: Stack): Promise<string> {
  const username = `pic_${Date.now().toString(36)}_${counter++}`;
  const password = 'correct horse battery';
  await on.fetch('/open_api/v1/register', jsonInit('POST', { username, password }));
  const res = await on.fetch('/open_api/v1/authenticate', jsonInit('POST', { username, password }));
  return ((await res.json()) as Answer).token;
}

/** GET with the path exactly as given; resolves to the status line. */
async function rawGet(path: string): Promise<string> {
  const { port, hostname } = new URL(stack.url);
  return new Promise((resolve, reject) => {
    let answer = '';
    Bun.connect({
      hostname,
      port: Number(port),
      socket: {
        open(socket) {
          socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
        },
        data(_socket, chunk) {
          answer += chunk.toString();
        },
        close() {
          resolve(answer.split('\r\n')[0] ?? '');
        },
        error(_socket, err) {
          reject(err);
        },
      },
    }).catch(reject);
  });
}
