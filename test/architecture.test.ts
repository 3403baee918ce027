/**
 * The layering rules of DESIGN.md, checked on the real import graph:
 * the HTTP server holds no business logic and never reaches storage, and the
 * services reach their adapters only through ports passed in at start-up.
 */
import { describe, expect, it } from 'bun:test';
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

const root = resolve(import.meta.dir, '..');
const transpiler = new Bun.Transpiler({ loader: 'tsx' });

function sources(dir: string): string[] {
  const glob = new Bun.Glob('**/*.{ts,tsx}');
  return [...glob.scanSync({ cwd: resolve(root, dir) })]
    .filter((f) => !f.endsWith('.test.ts') && !f.endsWith('.test.tsx'))
    .map((f) => resolve(root, dir, f));
}

/** Every import of a file: package names as written, project files as paths from the root. */
function importsOf(file: string): string[] {
  const code = readFileSync(file, 'utf8');
  return transpiler
    .scanImports(code)
    .map(({ path }) =>
      path.startsWith('.') ? relative(root, resolve(dirname(file), path)) : path,
    );
}

function violations(dir: string, allowed: (target: string) => boolean): string[] {
  return sources(dir).flatMap((file) =>
    importsOf(file)
      .filter((target) => !allowed(target))
      .map((target) => `${relative(root, file)} imports ${target}`),
  );
}

describe('architecture', () => {
  it('should find the source files it checks', () => {
    expect(sources('src/http').length).toBeGreaterThan(3);
    expect(sources('src/core').length).toBeGreaterThan(3);
    expect(importsOf(resolve(root, 'src/http/app.ts'))).toContain('src/http/routes/health.ts');
  });

  it('should keep src/http away from services and storage', () => {
    const allowedDirs = ['src/http/', 'src/rpc/', 'src/wire/', 'src/gen/', 'src/lib/'];
    const allowedFiles = ['src/config.ts', 'src/log.ts', 'src/process.ts'];
    const allowedPackages = ['hono', 'bun', '@bufbuild/protobuf', 'prom-client'];
    const bad = violations('src/http', (target) =>
      target.startsWith('src/')
        ? allowedDirs.some((d) => target.startsWith(d)) || allowedFiles.includes(target)
        : allowedPackages.some((p) => target === p || target.startsWith(`${p}/`)) ||
          target.startsWith('node:'),
    );
    expect(bad).toEqual([]);
  });

  it('should keep src/core free of adapters and drivers', () => {
    const drivers = ['mysql2', 'ioredis', 'bun:sqlite', 'sharp'];
    const adapterDirs = [
      'src/store/mysql/',
      'src/store/sqlite/',
      'src/cache/redis',
      'src/media/',
      'src/tcp/',
      'src/http/',
      'src/rpc/',
    ];
    const bad = violations('src/core', (target) =>
      target.startsWith('src/')
        ? !adapterDirs.some((d) => target.startsWith(d))
        : !drivers.some((d) => target === d || target.startsWith(`${d}/`)),
    );
    expect(bad).toEqual([]);
  });
});
