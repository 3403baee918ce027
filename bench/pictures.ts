/**
 * `npm run bench:pictures`: what processing an upload costs in the TCP server.
 *
 * For a 12-megapixel JPEG (a phone photo) and a 2-megapixel PNG (a
 * screenshot), both under the default 5 MiB upload limit and made here with
 * sharp, runs
 * the SharpProcessor (decode once, orient, crop, WebP at 256 and 64 px)
 * with PICTURE_CONCURRENCY images at once, and meanwhile samples the event
 * loop every 2 ms: decoding must happen on worker threads, so the loop's lag
 * should stay near zero while the cores are busy. Prints per format the
 * images per second and the lag (p50, max); last, one JSON line.
 */
import sharp from 'sharp';
import { loadHttpConfig } from '../src/config/http-config.ts';
import { loadTcpConfig } from '../src/config/tcp-config.ts';
import { SharpProcessor } from '../src/media/sharp-processor.ts';
import { latencySummary } from './stats.ts';

const { concurrency, maxPixels } = loadTcpConfig().pictures;
const { maxUploadBytes } = loadHttpConfig().http;
const processor = new SharpProcessor({ maxPixels });
const ROUNDS = 8;

/** A gradient with some noise, so that neither format compresses it to nothing. */
function image(width: number, height: number, noise: number) {
  const raw = new Uint8Array(width * height * 3);
  for (let i = 0; i < raw.length; i++) {
    raw[i] = ((i % (width * 3)) / 31 + i / (width * 3) / 17 + Math.random() * noise) & 0xff;
  }
  return sharp(raw, { raw: { width, height, channels: 3 } });
}
const inputs = {
  jpeg: {
    megapixels: 12,
    bytes: new Uint8Array(await image(4000, 3000, 12).jpeg({ quality: 90 }).toBuffer()),
  },
  png: { megapixels: 2, bytes: new Uint8Array(await image(1920, 1080, 2).png().toBuffer()) },
};
for (const [type, { bytes }] of Object.entries(inputs)) {
  if (bytes.length > maxUploadBytes) throw new Error(`the ${type} is over the upload limit`);
}

const results: Record<string, unknown> = { concurrency };
for (const [type, { megapixels, bytes: input }] of Object.entries(inputs) as [
  'png' | 'jpeg',
  { megapixels: number; bytes: Uint8Array },
][]) {
  const run = () => processor.process(input, type, [256, 64], performance.now() + 60_000);
  await run(); // warm-up: library initialisation is not what is measured
  const lags: number[] = [];
  let last = performance.now();
  const sampler = setInterval(() => {
    const now = performance.now();
    lags.push(Math.max(0, now - last - 2));
    last = now;
  }, 2);
  const started = performance.now();
  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(Array.from({ length: concurrency }, run));
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const perSecond = Math.round(((ROUNDS * concurrency) / seconds) * 10) / 10;
  const lag = latencySummary(lags);
  results[type] = {
    input_bytes: input.length,
    images_per_s: perSecond,
    lag_p50_ms: lag.p50_ms,
    lag_max_ms: lag.max_ms,
  };
  console.log(
    `${type}: ${megapixels} MP, ${(input.length / 1e6).toFixed(1)} MB, ${perSecond} images/s with ${concurrency} at once; ` +
      `event-loop lag p50 ${lag.p50_ms} ms, max ${lag.max_ms} ms`,
  );
}
console.log(JSON.stringify(results));
