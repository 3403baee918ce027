/**
 * The layering rules of docs/DESIGN.md (Shape, Layout), checked on the real import graph:
 * the HTTP server holds no business logic and never reaches storage, and the
 * services reach their adapters only through ports passed in at start-up.
 */
import { describe, expect, it } from 'bun:test';
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve(import.meta.dir, '..');
// With the project's tsconfig, so that JSX imports its runtime from hono/jsx, as at run time.
const transpiler = new Bun.Transpiler({
  loader: 'tsx',
  tsconfig: readFileSync(resolve(root, 'tsconfig.json'), 'utf8'),
});

function sources(dir: string): string[] {
  const glob = new Bun.Glob('**/*.{ts,tsx}');
  return [...glob.scanSync({ cwd: resolve(root, dir) })]
    .filter((f) => !f.endsWith('.test.ts') && !f.endsWith('.test.tsx'))
    .map((f) => resolve(root, dir, f));
}

/** Every import of a file: package names as written, project files as paths from the root. */
function importsOf(file: string): string[] {
  const code = readFileSync(file, 'utf8');
  return (
    transpiler
      .scanImports(code)
      // Bun's scanner lists `react` for every JSX file (its classic-runtime
      // fallback), whatever the jsxImportSource; the runtime really imported,
      // hono/jsx/jsx-runtime, is listed beside it and checked like any import.
      .filter((i) => !(file.endsWith('.tsx') && i.kind === 'require-call' && i.path === 'react'))
      .map(({ path }) =>
        path.startsWith('.') ? relative(root, resolve(dirname(file), path)) : path,
      )
  );
}

/**
 * The project files a file imports, type-only imports included (Bun's
 * scanner drops those, but a cycle of types is a cycle of modules all the same).
 */
function projectImportsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return importedFiles
    .map(({ fileName }) => fileName)
    .filter((path) => path.startsWith('.'))
    .map((path) => relative(root, resolve(dirname(file), path)));
}

/** Every cycle of imports among the project's files under `dir`, each as a path a -> b -> a. */
function importCycles(dir: string): string[][] {
  const files = sources(dir).map((file) => relative(root, file));
  const known = new Set(files);
  const edges = new Map(
    files.map((file) => [
      file,
      projectImportsOf(resolve(root, file)).filter((target) => known.has(target)),
    ]),
  );
  const cycles: string[][] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (file: string) => {
    const at = path.indexOf(file);
    if (at >= 0) {
      cycles.push([...path.slice(at), file]);
      return;
    }
    if (done.has(file)) return;
    path.push(file);
    for (const target of edges.get(file) ?? []) visit(target);
    path.pop();
    done.add(file);
  };
  for (const file of files) visit(file);
  return cycles;
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
    // Of the configuration, only its own: the HTTP server never reads the TCP server's secrets.
    const allowedFiles = ['src/config/http-config.ts', 'src/log.ts', 'src/process.ts'];
    // uqr draws the QR code of a two-step login secret: presentation, no I/O.
    const allowedPackages = ['hono', 'bun', '@bufbuild/protobuf', 'prom-client', 'uqr'];
    const bad = violations('src/http', (target) =>
      target.startsWith('src/')
        ? allowedDirs.some((d) => target.startsWith(d)) || allowedFiles.includes(target)
        : allowedPackages.some((p) => target === p || target.startsWith(`${p}/`)) ||
          target.startsWith('node:'),
    );
    expect(bad).toEqual([]);
  });

  it('should have no import cycle anywhere in src', () => {
    expect(importCycles('src').map((cycle) => cycle.join(' -> '))).toEqual([]);
  });

  it('should find an import cycle where there is one', () => {
    // The check itself: two files of a fixture directory that import each other.
    const cycles = importCycles('test/support/cycle');
    expect(cycles).toHaveLength(1);
    expect([...new Set(cycles[0])].sort()).toEqual([
      'test/support/cycle/a.ts',
      'test/support/cycle/b.ts',
    ]);
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
