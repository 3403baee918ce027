/** Picture processing, and where pictures are kept: DATA_DIR/pictures, or S3 when S3_BUCKET is set. */
import type { Reader } from './reader.ts';
import { bool, int, text } from './variable.ts';

export const pictureVariables = {
  maxPixels: int('PICTURE_MAX_PIXELS', {
    default: 40_000_000,
    min: 4096,
    max: 268_402_689,
    doc: 'images announcing more pixels are refused before decoding',
  }),
  // Not one per core: each image process costs memory (see docs/DESIGN.md, Data).
  concurrency: int('PICTURE_CONCURRENCY', {
    default: 2,
    min: 1,
    max: 1024,
    doc: 'image processes decoding at once (each may hold up to 160 MiB)',
  }),
  maxWaiting: int('PICTURE_QUEUE', {
    default: 32,
    min: 0,
    max: 100_000,
    doc: 'images waiting; beyond, 429',
  }),
  uploadBurst: int('PICTURE_UPLOAD_BURST', {
    default: 10,
    min: 1,
    max: 1_000_000,
    doc: 'picture uploads one user may make at once before the rate applies',
  }),
  uploadsPerMinute: int('PICTURE_UPLOADS_PER_MINUTE', {
    default: 2,
    min: 1,
    max: 1_000_000,
    doc: 'picture uploads per user and minute, after the burst; beyond, 429',
  }),
  /**
   * This TCP server is one of several: pictures must go to a store they all
   * reach (S3), never to this server's own DATA_DIR/pictures.
   */
  shared: bool('PICTURES_SHARED', {
    default: false,
    doc: 'true when several TCP servers run: refuse to start without S3_BUCKET',
  }),
};

export const s3Variables = {
  bucket: text('S3_BUCKET', {
    default: '',
    doc: 'set: pictures go to this S3 bucket, else to DATA_DIR/pictures',
  }),
  endpoint: text('S3_ENDPOINT', {
    default: '',
    doc: 'e.g. http://127.0.0.1:9000 for MinIO; empty for AWS',
  }),
  region: text('S3_REGION', { default: '', doc: 'AWS region' }),
  accessKeyId: text('S3_ACCESS_KEY_ID', { default: '', doc: 'required with S3_BUCKET' }),
  secretAccessKey: text('S3_SECRET_ACCESS_KEY', {
    default: '',
    secret: true,
    doc: 'required with S3_BUCKET',
  }),
  prefix: text('S3_PREFIX', { default: 'pictures/', doc: 'key prefix' }),
  timeoutMs: int('S3_TIMEOUT_MS', {
    default: 5000,
    min: 100,
    max: 600_000,
    doc: 'longest one S3 request may take',
  }),
};

const S3_KEY_PREFIX = /^[A-Za-z0-9!_.*'()/-]{0,512}$/;

export function readPictures(read: Reader) {
  const s3 = read.all(s3Variables);
  if (s3.bucket !== '' && (s3.accessKeyId === '' || s3.secretAccessKey === '')) {
    read.problem(
      s3Variables.bucket,
      s3.bucket,
      'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY as well (or leave S3_BUCKET empty for local files)',
    );
  }
  if (!S3_KEY_PREFIX.test(s3.prefix)) {
    read.problem(
      s3Variables.prefix,
      s3.prefix,
      "letters, digits and !_.*'()/- only, e.g. pictures/",
    );
  }
  const pictures = read.all(pictureVariables);
  if (pictures.shared && s3.bucket === '') {
    read.problem(
      pictureVariables.shared,
      'true',
      'S3_BUCKET as well: with several TCP servers each one would keep pictures in its own DATA_DIR, and the others answer 404',
    );
  }
  return { ...pictures, s3 };
}
