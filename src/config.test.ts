import { describe, expect, it } from 'bun:test';
import { ConfigError, loadConfig } from './config.ts';

describe('unit: loadConfig', () => {
  it('should work with nothing configured', () => {
    const config = loadConfig({});
    expect(config.http).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(config.tcp).toMatchObject({ host: '127.0.0.1', port: 9090 });
    expect(config.pool.addresses).toEqual(['127.0.0.1:9090']);
    expect(config.maxFrameBytes).toBe(8 * 1024 * 1024);
  });

  it('should be frozen all the way down', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.pool.addresses)).toBe(true);
  });

  it('should read TCP_ADDRS as a list and default it from TCP_HOST and TCP_PORT', () => {
    expect(loadConfig({ TCP_ADDRS: '10.0.0.5:9090, [::1]:9091' }).pool.addresses).toEqual([
      '10.0.0.5:9090',
      '[::1]:9091',
    ]);
    expect(loadConfig({ TCP_HOST: '10.1.1.1', TCP_PORT: '7000' }).pool.addresses).toEqual([
      '10.1.1.1:7000',
    ]);
  });

  it('should report every bad value at once, saying what was expected', () => {
    let error: unknown;
    try {
      loadConfig({
        HTTP_PORT: 'eighty',
        POOL_SOCKETS: '0',
        TCP_ADDRS: 'nohost',
        LOG_LEVEL: 'loud',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('HTTP_PORT="eighty": expected an integer from 0 to 65535');
    expect(message).toContain('POOL_SOCKETS="0"');
    expect(message).toContain('TCP_ADDRS="nohost"');
    expect(message).toContain('LOG_LEVEL="loud"');
    expect(message).toContain('.env.example');
  });
});

describe('unit: configuration documentation', () => {
  it('should list exactly the variables the configuration reads', async () => {
    const source = await Bun.file(`${import.meta.dir}/config.ts`).text();
    const read = new Set([...source.matchAll(/read\.\w+\(\s*'([A-Z0-9_]+)'/g)].map((m) => m[1]));
    const example = await Bun.file(`${import.meta.dir}/../.env.example`).text();
    const listed = new Set([...example.matchAll(/^#?\s*([A-Z0-9_]+)=/gm)].map((m) => m[1]));
    expect(read.size).toBeGreaterThan(10);
    expect([...read].sort()).toEqual([...listed].sort());
  });

  it('should have every variable in the README configuration table', async () => {
    const source = await Bun.file(`${import.meta.dir}/config.ts`).text();
    const readme = await Bun.file(`${import.meta.dir}/../README.md`).text();
    const missing = [...source.matchAll(/read\.\w+\(\s*'([A-Z0-9_]+)'/g)]
      .map((m) => m[1] as string)
      .filter((name) => !readme.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});

describe('unit: picture and upload settings', () => {
  it('should default to 5 MiB uploads, 40 megapixels and local files', () => {
    const config = loadConfig({});
    expect(config.http.maxUploadBytes).toBe(5 * 1024 * 1024);
    expect(config.pictures.maxPixels).toBe(40_000_000);
    expect(config.pictures.s3.bucket).toBe('');
  });

  it('should refuse an upload limit that cannot fit in one frame', () => {
    expect(() =>
      loadConfig({ HTTP_MAX_UPLOAD_BYTES: String(8 * 1024 * 1024), MAX_FRAME_BYTES: '8388608' }),
    ).toThrow('HTTP_MAX_UPLOAD_BYTES="8388608": expected at most MAX_FRAME_BYTES - 65536');
    expect(
      loadConfig({ HTTP_MAX_UPLOAD_BYTES: '10000000', MAX_FRAME_BYTES: '16777216' }).http
        .maxUploadBytes,
    ).toBe(10_000_000);
  });

  it('should want credentials with an S3 bucket, and a prefix that is a plain path', () => {
    expect(() => loadConfig({ S3_BUCKET: 'pics' })).toThrow(
      'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY',
    );
    expect(() => loadConfig({ S3_PREFIX: 'a b' })).toThrow('S3_PREFIX="a b"');
    const s3 = loadConfig({ S3_BUCKET: 'pics', S3_ACCESS_KEY_ID: 'k', S3_SECRET_ACCESS_KEY: 's' })
      .pictures.s3;
    expect(s3).toMatchObject({ bucket: 'pics', prefix: 'pictures/', timeoutMs: 5000 });
  });
});
