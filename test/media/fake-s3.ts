/**
 * A tiny S3 on 127.0.0.1 for tests: path-style PUT, GET, HEAD and DELETE of
 * objects in one bucket, kept in memory, each request's AWS Signature
 * Version 4 checked against the test's credentials (so a wrong key, region
 * or bucket fails as it would on S3). It can also answer slowly or fail.
 */
import { createHash, createHmac } from 'node:crypto';
import type { Server } from 'bun';

export interface FakeS3 {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  objects: Map<string, { body: Uint8Array; contentType: string }>;
  /** Requests seen, as "METHOD /bucket/key". */
  log: string[];
  /** 'ok', 'error' (500 to everything) or 'slow' (answers after 2 s). */
  mode: 'ok' | 'error' | 'slow';
  stop(): void;
}

const hmac = (key: string | Buffer, data: string) =>
  createHmac('sha256', key).update(data).digest();
const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

function xmlError(status: number, code: string): Response {
  const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`;
  return new Response(body, { status, headers: { 'content-type': 'application/xml' } });
}

/** Checks the request's SigV4 signature; returns what is wrong, or null. */
function signatureProblem(req: Request, url: URL, body: Uint8Array, s3: FakeS3): string | null {
  const auth = req.headers.get('authorization') ?? '';
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!match) return `malformed authorization: ${auth}`;
  const [, keyId, date, region, signedHeaders, signature] = match as unknown as string[];
  if (keyId !== s3.accessKeyId) return 'unknown access key';
  if (region !== s3.region) return `wrong region ${region}`;
  const amzDate = req.headers.get('x-amz-date') ?? '';
  const payloadHash = req.headers.get('x-amz-content-sha256') ?? '';
  if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== sha256(body))
    return 'payload hash mismatch';
  const names = (signedHeaders as string).split(';');
  const canonicalHeaders = names
    .map((name) => `${name}:${(req.headers.get(name) ?? '').trim()}\n`)
    .join('');
  const query = [...url.searchParams]
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .sort()
    .join('&');
  const canonical = [
    req.method,
    url.pathname,
    query,
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  let key = hmac(`AWS4${s3.secretAccessKey}`, date as string);
  for (const part of [region as string, 's3', 'aws4_request']) key = hmac(key, part);
  return hmac(key, toSign).toString('hex') === signature ? null : 'signature mismatch';
}

export function startFakeS3(): FakeS3 {
  let server: Server<undefined> | null = null;
  const s3: FakeS3 = {
    endpoint: '',
    bucket: 'pictures-test',
    region: 'eu-test-1',
    accessKeyId: 'AKIAFAKE',
    secretAccessKey: 'fake-secret-key',
    objects: new Map(),
    log: [],
    mode: 'ok',
    stop: () => server?.stop(true),
  };
  server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const body = new Uint8Array(await req.arrayBuffer());
      s3.log.push(`${req.method} ${url.pathname}`);
      if (s3.mode === 'slow') await Bun.sleep(2000);
      if (s3.mode === 'error') return xmlError(500, 'InternalError');
      const problem = signatureProblem(req, url, body, s3);
      if (problem !== null) return xmlError(403, 'SignatureDoesNotMatch');
      const prefix = `/${s3.bucket}/`;
      if (!url.pathname.startsWith(prefix)) return xmlError(404, 'NoSuchBucket');
      const key = decodeURIComponent(url.pathname.slice(prefix.length));
      const found = s3.objects.get(key);
      switch (req.method) {
        case 'PUT':
          s3.objects.set(key, {
            body,
            contentType: req.headers.get('content-type') ?? 'application/octet-stream',
          });
          return new Response(null, { headers: { etag: `"${sha256(body)}"` } });
        case 'DELETE':
          s3.objects.delete(key);
          return new Response(null, { status: 204 });
        case 'GET':
        case 'HEAD':
          if (found === undefined) return xmlError(404, 'NoSuchKey');
          return new Response(
            req.method === 'HEAD' ? null : new Blob([found.body as Uint8Array<ArrayBuffer>]),
            {
              headers: {
                'content-type': found.contentType,
                'content-length': String(found.body.length),
                etag: `"${sha256(found.body)}"`,
                'last-modified': new Date().toUTCString(),
              },
            },
          );
        default:
          return xmlError(405, 'MethodNotAllowed');
      }
    },
  });
  s3.endpoint = `http://127.0.0.1:${server.port}`;
  return s3;
}
