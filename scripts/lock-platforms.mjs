// Records in package-lock.json the platform packages that npm could not
// resolve, so that `npm ci` accepts the lockfile on every platform.
//
// Why: packages such as bun, sharp, biome and buf ship one optional package
// per platform. When the registry in use only carries some of them (as a
// mirror may), npm leaves the others out of the lockfile, and `npm ci` then
// reports the lockfile out of sync. An entry with `optional`, `os` and `cpu`
// lets npm skip the package on other platforms and resolve it by version on
// its own. Run after every dependency change: `node scripts/lock-platforms.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;

const osNames = [
  'android',
  'darwin',
  'freebsd',
  'linux',
  'netbsd',
  'openbsd',
  'sunos',
  'win32',
  'aix',
  'wasm32',
];
const cpuNames = [
  'arm64',
  'aarch64',
  'x64',
  'ia32',
  'arm',
  'armv6',
  'armv7',
  'loong64',
  'mips64el',
  'ppc64',
  'riscv64',
  's390x',
  'wasm32',
];

function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((p) => osNames.includes(p));
  const cpu = parts.find((p) => cpuNames.includes(p.replace(/v\d$/, '')) || cpuNames.includes(p));
  if (!os || !cpu) return null;
  const entry = { os: [os === 'wasm32' ? 'wasm32' : os], cpu: [cpu === 'aarch64' ? 'arm64' : cpu] };
  if (parts.includes('musl') || parts.includes('linuxmusl')) entry.libc = ['musl'];
  if (parts.includes('gnu') && os === 'linux') entry.libc = ['glibc'];
  return entry;
}

let added = 0;
for (const [key, entry] of Object.entries(packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = `${key}/node_modules/${name}`;
    const hoisted = `node_modules/${name}`;
    if (packages[nested] || packages[hoisted]) continue;
    const platform = platformOf(name);
    if (!platform) {
      console.warn(`left alone (not a platform package): ${name} wanted by ${key || 'the root'}`);
      continue;
    }
    const version = String(range).replace(/^[\^~=]/, '');
    packages[hoisted] = {
      version,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      ...platform,
    };
    added++;
  }
}

const sorted = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
lock.packages = sorted;
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock-platforms: recorded ${added} platform package(s)`);
