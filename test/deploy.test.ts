/**
 * The deployment files, checked with the real tools where this machine has
 * them: systemd-analyze verify on the units, nginx -t on the proxy config,
 * and YAML parsing plus structure checks on compose and Kubernetes files.
 * (No container engine runs here, so images are not built.)
 */

import { afterAll, describe, expect, it } from 'bun:test';
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { declaredVariables } from '../src/config/declared.ts';
import { loadHttpConfig } from '../src/config/http-config.ts';
import { loadTcpConfig } from '../src/config/tcp-config.ts';
import type { Env } from '../src/config/variable.ts';
import { MAX_REQUEST_BODY_BYTES } from '../src/http/limits.ts';
import { startHttpApp } from '../src/http/start.ts';
import { silentLogger } from '../src/log.ts';
import { RUNTIME_ENV } from '../src/process.ts';
import { jsonInit, type Stack, startStack } from './fixture.ts';
import { startFakeS3 } from './media/fake-s3.ts';
import { jpeg } from './support/images.ts';
import { createTestDatabase } from './support/mysql.ts';
import { guardProcesses } from './support/orphans.ts';
import { freePort } from './support/redis.ts';
import { type Server, spawnServer } from './support/servers.ts';

const root = resolve(import.meta.dir, '..');
const deploy = join(root, 'deploy');
const scratch = mkdtempSync(join(tmpdir(), 'usermgr-deploy-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(
  cmd: string[],
  env: Record<string, string> = {},
  cwd?: string,
): { code: number; output: string } {
  const tool = Bun.which(cmd[0] as string);
  if (tool === null)
    throw new Error(
      `${cmd[0]} is not installed: apt-get install -y ${cmd[0] === 'nginx' ? 'nginx-light' : cmd[0]}`,
    );
  const proc = Bun.spawnSync(cmd, {
    ...(cwd === undefined ? {} : { cwd }),
    stderr: 'pipe',
    stdout: 'pipe',
    env: { ...process.env, ...env },
  });
  return {
    code: proc.exitCode,
    output: `${proc.stdout.toString()}${proc.stderr.toString()}`.trim(),
  };
}

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML is untyped; the assertions below check its shape.
type Yaml = Record<string, any>;
function yamlDocs(file: string): Yaml[] {
  const parsed = Bun.YAML.parse(readFileSync(file, 'utf8')) as Yaml | Yaml[];
  return (Array.isArray(parsed) ? parsed : [parsed]).filter(Boolean);
}

/** A self-signed certificate and an nginx.conf around `site` in `dir`; returns the conf's path. */
function nginxConfig(dir: string, site: string, main = ''): { conf: string } {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const cert = run([
    'openssl',
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-days',
    '1',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
  ]);
  expect(cert.code).toBe(0);
  writeFileSync(
    join(dir, 'site.conf'),
    site
      .replace('/etc/ssl/usermgr/fullchain.pem', join(dir, 'cert.pem'))
      .replace('/etc/ssl/usermgr/privkey.pem', join(dir, 'key.pem')),
  );
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `${main}pid ${dir}/nginx.pid;\nerror_log ${dir}/logs/error.log;\nevents {}\nhttp {\n  access_log off;\n  include ${dir}/site.conf;\n}\n`,
  );
  return { conf };
}

/** A user with a picture on `stack`: their token and the picture's path. */
async function signUpWithPicture(stack: Stack): Promise<{ value: string; picture: string }> {
  const credentials = { username: 'behind_nginx', password: 'a long password' };
  await stack.fetch('/open_api/v1/register', jsonInit('POST', credentials));
  const login = await stack.fetch('/open_api/v1/authenticate', jsonInit('POST', credentials));
  const { token } = (await login.json()) as { token: string };
  const upload = await stack.fetch('/api/v1/me/picture', {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}` },
    body: await jpeg(),
  });
  const { user } = (await upload.json()) as { user: { picture_url: string } };
  return { value: token, picture: user.picture_url };
}

/** Stand-ins for what the Secrets hold, valid for the configuration reader. */
const SECRET_VALUES: Record<string, string> = {
  'usermgr-secrets/MYSQL_URL': 'mysql://usermgr:pw@mysql:3306/usermgr',
  'usermgr-secrets/SESSION_SECRET': 's'.repeat(48),
  'usermgr-secrets/TOTP_KEYS': 't'.repeat(48),
  'usermgr-secrets/ADMIN_TOKEN': 'a'.repeat(44),
  'usermgr-secrets/TCP_SHARED_SECRET': 't'.repeat(44),
  'usermgr-s3/bucket': 'usermgr-pictures',
  'usermgr-s3/endpoint': 'https://s3.example.com',
  'usermgr-s3/region': 'eu-west-1',
  'usermgr-s3/access-key-id': 'AKIAEXAMPLE',
  'usermgr-s3/secret-access-key': 'example-secret',
};

/** The environment a container of the manifests gets: its ConfigMaps, then its own env. */
function containerEnv(docs: Yaml[], container: Yaml): Env {
  const env: Env = {};
  for (const from of container.envFrom ?? []) {
    const map = docs.find(
      (d) => d.kind === 'ConfigMap' && d.metadata.name === from.configMapRef?.name,
    );
    if (map === undefined)
      throw new Error(`envFrom names no ConfigMap of the manifests: ${JSON.stringify(from)}`);
    Object.assign(env, map.data);
  }
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    if (ref !== undefined) env[variable.name] = SECRET_VALUES[`${ref.name}/${ref.key}`];
    else if (variable.valueFrom?.fieldRef !== undefined) env[variable.name] = '0';
    else env[variable.name] = variable.value;
  }
  return env;
}

/** A pod as a NetworkPolicy sees it: its namespace (and that namespace's labels) and its labels. */
interface Pod {
  namespace: string;
  labels: Record<string, string>;
}

function matches(selector: Yaml | undefined, labels: Record<string, string>): boolean {
  return Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

/** Whether a policy peer (`from` or `to` entry) names `pod`, seen from `policyNamespace`. */
function peerMatches(peer: Yaml, pod: Pod | 'outside', policyNamespace: string): boolean {
  if (peer.ipBlock !== undefined) return pod === 'outside' || peer.ipBlock.cidr === '0.0.0.0/0';
  if (pod === 'outside') return false;
  const namespaceLabels = { 'kubernetes.io/metadata.name': pod.namespace };
  const inNamespace =
    peer.namespaceSelector === undefined
      ? pod.namespace === policyNamespace
      : matches(peer.namespaceSelector, namespaceLabels);
  return inNamespace && matches(peer.podSelector, pod.labels);
}

/**
 * Whether the NetworkPolicies let `from` open a connection to `to` on `port`,
 * by the Kubernetes rules: a direction no policy selecting the pod restricts
 * is open; otherwise some rule of a policy selecting it must allow it, and
 * both directions must be allowed.
 */
function reachable(policies: Yaml[], from: Pod | 'outside', to: Pod, port: number): boolean {
  const allowedBy = (direction: 'Ingress' | 'Egress', pod: Pod, peer: Pod | 'outside') => {
    const selecting = policies.filter(
      (p) =>
        p.metadata.namespace === pod.namespace &&
        matches(p.spec.podSelector, pod.labels) &&
        (p.spec.policyTypes ?? ['Ingress']).includes(direction),
    );
    if (selecting.length === 0) return true;
    const key = direction === 'Ingress' ? 'ingress' : 'egress';
    const peers = direction === 'Ingress' ? 'from' : 'to';
    return selecting.some((policy) =>
      (policy.spec[key] ?? []).some(
        (rule: Yaml) =>
          (rule.ports === undefined || rule.ports.some((p: Yaml) => p.port === port)) &&
          (rule[peers] === undefined ||
            rule[peers].some((peerRule: Yaml) =>
              peerMatches(peerRule, peer, policy.metadata.namespace),
            )),
      ),
    );
  };
  const egressOk = from === 'outside' || allowedBy('Egress', from, to);
  return egressOk && allowedBy('Ingress', to, from);
}

/** The variables the servers declare (src/config/), so deployment files cannot set ones that do nothing. */
function configVariables(): Set<string> {
  return new Set(declaredVariables().map((v) => v.name));
}

describe('deployment files', () => {
  it('should pass systemd-analyze verify for both units', () => {
    const units = join(scratch, 'units');
    mkdirSync(units);
    for (const name of readdirSync(join(deploy, 'systemd'))) {
      // Point the units at this checkout, which has Bun and an environment file.
      const text = readFileSync(join(deploy, 'systemd', name), 'utf8')
        .replaceAll('/opt/usermgr/node_modules/.bin/bun', join(root, 'node_modules/.bin/bun'))
        .replaceAll('/etc/usermgr/usermgr.env', join(root, '.env.example'));
      writeFileSync(join(units, name), text);
    }
    copyFileSync(join(units, 'usermgr-http@.service'), join(units, 'usermgr-http@1.service'));
    const result = run([
      'systemd-analyze',
      'verify',
      join(units, 'usermgr-tcp.service'),
      join(units, 'usermgr-http@1.service'),
    ]);
    // Unknown keys are only warnings (exit 0): any output at all is a failure.
    expect(result).toEqual({ code: 0, output: '' });
  });

  it('should run the servers with RUNTIME_ENV in both units and the image', () => {
    const dockerfile = readFileSync(join(deploy, 'Dockerfile'), 'utf8');
    for (const [name, value] of Object.entries(RUNTIME_ENV)) {
      for (const unit of ['usermgr-tcp.service', 'usermgr-http@.service'])
        expect(readFileSync(join(deploy, 'systemd', unit), 'utf8')).toContain(
          `\nEnvironment=${name}=${value}\n`,
        );
      expect(dockerfile).toMatch(new RegExp(`\\n\\s+${name}=${value} \\\\\\n`));
    }
  });

  it('should harden both units and restart them on failure', () => {
    for (const name of ['usermgr-tcp.service', 'usermgr-http@.service']) {
      const text = readFileSync(join(deploy, 'systemd', name), 'utf8');
      for (const line of [
        'Restart=on-failure',
        'NoNewPrivileges=yes',
        'ProtectSystem=strict',
        'KillSignal=SIGTERM',
        'CapabilityBoundingSet=',
      ]) {
        expect(text).toContain(line);
      }
    }
  });

  it('should pass nginx -t, with the body limit and forwarded headers the app expects', () => {
    const site = readFileSync(join(deploy, 'nginx/usermgr.conf'), 'utf8');
    const { conf } = nginxConfig(join(scratch, 'nginx'), site);
    const result = run(['nginx', '-t', '-p', join(scratch, 'nginx'), '-c', conf]);
    expect(result.output).toContain('test is successful');
    expect(result.code).toBe(0);
    expect(site).toMatch(/keepalive \d+;/);
    // As much as the app reads, so that its own answer is the one people see.
    expect(site).toContain(`client_max_body_size ${MAX_REQUEST_BODY_BYTES / 1024 / 1024}m;`);
    expect(site).toContain('proxy_set_header X-Forwarded-Proto $scheme;');
    expect(site).toContain('proxy_set_header Connection "";');
    // Set once for the server: a location with a proxy_set_header of its own would
    // inherit none of them (the pictures' location passed the client's X-Forwarded-For on).
    expect(site.match(/location [^{]*\{[^}]*proxy_set_header/g)).toBeNull();
  });

  it('should answer through the example nginx with one of each header (one owner: the app or nginx)', async () => {
    const stack = await startStack({ env: { TRUST_PROXY: 'true' } });
    const dir = join(scratch, 'nginx-running');
    const [https, http] = [await freePort(), await freePort()];
    const site = readFileSync(join(deploy, 'nginx/usermgr.conf'), 'utf8')
      .replace('server 127.0.0.1:8080', `server 127.0.0.1:${new URL(stack.url).port}`)
      .replaceAll(/listen \[::\]:\d+[^;]*;/g, '')
      .replace('listen 80;', `listen 127.0.0.1:${http};`)
      .replace('listen 443 ssl http2;', `listen 127.0.0.1:${https} ssl http2;`);
    const { conf } = nginxConfig(dir, site, 'daemon off;\nmaster_process off;\n');
    const nginx = Bun.spawn(['nginx', '-p', dir, '-c', conf], { stdout: 'ignore', stderr: 'pipe' });
    try {
      const token = await signUpWithPicture(stack);
      const base = `https://127.0.0.1:${https}`;
      // curl shows the header lines as sent; the app runs in this process, so not spawnSync.
      const headersOf = async (path: string, auth = false) => {
        const args = [
          'curl',
          '-ks',
          '--max-time',
          '5',
          '-o',
          '/dev/null',
          '-D',
          '-',
          `${base}${path}`,
        ];
        if (auth) args.push('-H', `authorization: Bearer ${token.value}`);
        return new Response(Bun.spawn(args, { stdout: 'pipe' }).stdout).text();
      };
      const until = performance.now() + 10_000;
      while (!(await headersOf('/healthz')).startsWith('HTTP/')) {
        if (performance.now() > until) throw new Error('nginx did not start');
        await Bun.sleep(50);
      }
      for (const [path, auth] of [
        ['/', false],
        ['/login', false],
        ['/healthz', false],
        ['/api/v1/me', true],
        [token.picture, false],
        ['/pictures/nothing.webp', false],
      ] as const) {
        const raw = await headersOf(path, auth);
        const names = raw
          .split('\r\n')
          .slice(1)
          .map((line) => line.split(':')[0]?.toLowerCase() ?? '')
          .filter((name) => name !== '' && name !== 'set-cookie');
        const twice = names.filter((name, i) => names.indexOf(name) !== i);
        expect({ path, twice }).toEqual({ path, twice: [] });
        expect({ path, hsts: names.includes('strict-transport-security') }).toEqual({
          path,
          hsts: true,
        });
      }
    } finally {
      nginx.kill('SIGTERM');
      await nginx.exited;
      await stack.stop();
    }
  }, 60_000);

  it('should describe MySQL 8, Redis 7 and both servers with health checks in compose.yaml', () => {
    const [compose] = yamlDocs(join(deploy, 'compose.yaml'));
    const services = compose?.services as Yaml;
    expect(services.mysql.image).toMatch(/^mysql:8/);
    expect(services.redis.image).toMatch(/^redis:7/);
    expect(services.redis.command).toContain('noeviction');
    expect(services.tcp.command).toEqual(['bun', 'src/tcp/main.ts']);
    expect(services.http.command).toEqual(['bun', 'src/http/main.ts']);
    expect(services.http.environment.TCP_ADDRS).toBe('tcp:9090');
    // The image listens on every interface: both servers must get the one shared secret.
    expect(services.tcp.environment.TCP_SHARED_SECRET).toStartWith('${TCP_SHARED_SECRET:?');
    expect(services.http.environment.TCP_SHARED_SECRET).toBe(
      services.tcp.environment.TCP_SHARED_SECRET,
    );
    expect(services.tcp.depends_on.mysql.condition).toBe('service_healthy');
    const known = configVariables();
    for (const name of ['tcp', 'http']) {
      const unknown = Object.keys(services[name].environment).filter(
        (v) => !known.has(v) && v !== 'HEALTH_PORT',
      );
      expect(unknown).toEqual([]);
    }
  });

  it("should be a compose file Debian 12's docker-compose 1.29 accepts, as Compose v2 does", () => {
    const file = join(deploy, 'compose.yaml');
    // 1.29 refuses a top-level `name:`; v2 needs none (README: `-p usermgr`).
    expect(Object.keys(yamlDocs(file)[0] as Yaml).sort()).toEqual(['services', 'volumes', 'x-app']);
    const result = run(['docker-compose', '-f', file, 'config', '-q'], {
      SESSION_SECRET: 'x'.repeat(48),
      TCP_SHARED_SECRET: 'y'.repeat(44),
    });
    expect(result).toEqual({ code: 0, output: '' });
    // Without the shared secret, compose refuses and says which variable to set.
    const { TCP_SHARED_SECRET: _, ...withoutSecret } = process.env;
    const refused = Bun.spawnSync(['docker-compose', '-f', file, 'config', '-q'], {
      env: { ...withoutSecret, SESSION_SECRET: 'x'.repeat(48) },
      stderr: 'pipe',
      stdout: 'pipe',
    });
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr.toString()).toContain('TCP_SHARED_SECRET');
  });

  it('should build the image from a Bun base image, as a non-root user, with a health check', () => {
    const dockerfile = readFileSync(join(deploy, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM oven\/bun:\S+/m);
    expect(dockerfile).toMatch(/^USER bun$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK /m);
    expect(dockerfile).toContain('npm ci --omit=dev');
    for (const dir of ['src', 'sql']) expect(dockerfile).toContain(`COPY ${dir} ./${dir}`);
  });

  // Regression: the image left out tsconfig.json, whose jsxImportSource makes the pages'
  // JSX Hono's, so the HTTP server died at start looking for react/jsx-runtime.
  it('should hold in the image all that both servers load', async () => {
    const dockerfile = readFileSync(join(deploy, 'Dockerfile'), 'utf8');
    const last = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const copied = [...last.matchAll(/^COPY (?!--from)(.+) (\S+)$/gm)].flatMap(([, from]) =>
      (from as string).split(/\s+/),
    );
    const image = mkdtempSync(join(tmpdir(), 'usermgr-image-'));
    try {
      for (const path of copied) cpSync(join(root, path), join(image, path), { recursive: true });
      symlinkSync(join(root, 'node_modules'), join(image, 'node_modules'));
      // Both servers' modules, every route and page among them, without starting either.
      const loaded = Bun.spawnSync(
        [
          process.execPath,
          '-e',
          "await import('./src/http/start.ts'); await import('./src/tcp/start.ts'); console.log('loaded')",
        ],
        { cwd: image, env: { ...process.env, NODE_ENV: 'production' } },
      );
      expect({ code: loaded.exitCode, err: loaded.stderr.toString() }).toEqual({
        code: 0,
        err: '',
      });
      expect(loaded.stdout.toString()).toBe('loaded\n');
    } finally {
      rmSync(image, { recursive: true, force: true });
    }
  });

  it('should give Kubernetes both servers with probes, and a headless Service the pool can resolve', () => {
    const docs = readdirSync(join(deploy, 'k8s')).flatMap((f) => yamlDocs(join(deploy, 'k8s', f)));
    const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
    const tcpService = byKind('Service').find((s) => s.metadata.name === 'usermgr-tcp');
    expect(tcpService?.spec.clusterIP).toBe('None');
    const config = byKind('ConfigMap')[0]?.data as Record<string, string>;
    expect(config.TCP_ADDRS).toBe('usermgr-tcp.usermgr.svc.cluster.local:9090');
    const workloads = [...byKind('Deployment'), ...byKind('StatefulSet')];
    expect(workloads.map((w) => w.metadata.name).sort()).toEqual(['usermgr-http', 'usermgr-tcp']);
    for (const workload of workloads) {
      for (const container of workload.spec.template.spec.containers) {
        expect(container.livenessProbe.httpGet.path).toBe('/healthz');
        expect(container.readinessProbe.httpGet.path).toBe('/readyz');
        expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
        expect(container.resources.limits.memory).toBeDefined();
      }
    }
    const known = configVariables();
    expect(Object.keys(config).filter((v) => !known.has(v))).toEqual([]);
    // Prometheus scrapes the HTTP pods where their /metrics is: HTTP_METRICS_PORT, not the public port.
    const http = workloads.find((w) => w.metadata.name === 'usermgr-http') as Yaml;
    const container = http.spec.template.spec.containers[0];
    const metricsPort = String(loadHttpConfig(containerEnv(docs, container)).http.metricsPort);
    expect({
      annotation: http.spec.template.metadata.annotations['prometheus.io/port'],
      containerPorts: container.ports.map((p: Yaml) => String(p.containerPort)),
    }).toEqual({ annotation: metricsPort, containerPorts: ['8080', metricsPort] });
  });

  it('should let only the HTTP pods reach the TCP port, and the TCP pods reach what they need', () => {
    const docs = readdirSync(join(deploy, 'k8s')).flatMap((f) => yamlDocs(join(deploy, 'k8s', f)));
    const policies = docs.filter((d) => d.kind === 'NetworkPolicy');
    const workload = (name: string) =>
      docs.find(
        (d) => ['Deployment', 'StatefulSet'].includes(d.kind) && d.metadata.name === name,
      ) as Yaml;
    const podOf = (name: string): Pod => ({
      namespace: workload(name).metadata.namespace,
      labels: workload(name).spec.template.metadata.labels,
    });
    const [http, tcp] = [podOf('usermgr-http'), podOf('usermgr-tcp')];
    const rpc = Number(
      workload('usermgr-tcp').spec.template.spec.containers[0].ports.find(
        (p: Yaml) => p.name === 'rpc',
      ).containerPort,
    );
    expect(rpc).toBe(9090);
    const stranger: Pod = { namespace: 'usermgr', labels: { app: 'debug-shell' } };
    const elsewhere: Pod = { namespace: 'default', labels: { app: 'usermgr-http' } };
    expect({
      http: reachable(policies, http, tcp, rpc),
      strangerInNamespace: reachable(policies, stranger, tcp, rpc),
      sameLabelsElsewhere: reachable(policies, elsewhere, tcp, rpc),
      outside: reachable(policies, 'outside', tcp, rpc),
    }).toEqual({
      http: true,
      strangerInNamespace: false,
      sameLabelsElsewhere: false,
      outside: false,
    });

    // What the TCP pods' settings point at, by port: MySQL (MYSQL_URL), Redis (the cluster nodes), DNS.
    const config = docs.find((d) => d.kind === 'ConfigMap')?.data as Record<string, string>;
    const mysqlPort = Number(new URL(SECRET_VALUES['usermgr-secrets/MYSQL_URL'] as string).port);
    const redisPorts = config.REDIS_CLUSTER_NODES?.split(',').map((n) => Number(n.split(':')[1]));
    const mysql: Pod = { namespace: 'usermgr', labels: { app: 'mysql' } };
    const redis: Pod = { namespace: 'usermgr', labels: { app: 'redis-cluster' } };
    const dns: Pod = { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } };
    expect(reachable(policies, tcp, mysql, mysqlPort)).toBe(true);
    for (const port of new Set(redisPorts))
      expect(reachable(policies, tcp, redis, port)).toBe(true);
    expect(reachable(policies, tcp, dns, 53)).toBe(true);
    expect(reachable(policies, http, dns, 53)).toBe(true);
    // The HTTP pods never touch the store or the cache.
    expect(reachable(policies, http, mysql, mysqlPort)).toBe(false);
    expect(reachable(policies, http, redis, 6379)).toBe(false);
    // The public port: from the ingress controller, which the HTTP servers believe about
    // the client's address (TRUST_PROXY), and from nothing else, which could name any
    // address (regression: an operator's audit, when the port was open to all).
    expect(config.TRUST_PROXY).toBe('true');
    const controller: Pod = { namespace: 'ingress-nginx', labels: { app: 'ingress-nginx' } };
    expect({
      controller: reachable(policies, controller, http, 8080),
      strangerInNamespace: reachable(policies, stranger, http, 8080),
      outside: reachable(policies, 'outside', http, 8080),
    }).toEqual({ controller: true, strangerInNamespace: false, outside: false });
    // Prometheus (namespace monitoring) scrapes both where the annotations say.
    const prometheus: Pod = { namespace: 'monitoring', labels: { app: 'prometheus' } };
    for (const name of ['usermgr-http', 'usermgr-tcp']) {
      const port = Number(workload(name).spec.template.metadata.annotations['prometheus.io/port']);
      expect({ name, scraped: reachable(policies, prometheus, podOf(name), port) }).toEqual({
        name,
        scraped: true,
      });
    }
  });

  it('should give both Kubernetes workloads the shared secret from one Secret, which the TCP pods need', () => {
    const docs = readdirSync(join(deploy, 'k8s')).flatMap((f) => yamlDocs(join(deploy, 'k8s', f)));
    const container = (kind: string, name: string) =>
      docs.find((d) => d.kind === kind && d.metadata.name === name)?.spec.template.spec
        .containers[0] as Yaml;
    const tcp = container('StatefulSet', 'usermgr-tcp');
    const http = container('Deployment', 'usermgr-http');
    const refOf = (c: Yaml) =>
      (c.env as Yaml[]).find((v) => v.name === 'TCP_SHARED_SECRET')?.valueFrom?.secretKeyRef;
    expect(refOf(tcp)).toEqual({ name: 'usermgr-secrets', key: 'TCP_SHARED_SECRET' });
    expect(refOf(http)).toEqual(refOf(tcp)); // not optional: a pod without it does not start
    const tcpConfig = loadTcpConfig(containerEnv(docs, tcp));
    const httpConfig = loadHttpConfig(containerEnv(docs, http));
    expect(tcpConfig.tcp.sharedSecrets).toEqual([httpConfig.pool.sharedSecret]);
    // A TCP pod listening on every interface without the secret refuses to start.
    const without = Object.fromEntries(
      Object.entries(containerEnv(docs, tcp)).filter(([name]) => name !== 'TCP_SHARED_SECRET'),
    );
    expect(() => loadTcpConfig(without)).toThrow('TCP_HOST="0.0.0.0": expected a loopback address');
  });

  it("should leave no install script unreviewed by npm's allowScripts on a fresh npm ci", () => {
    // A dry run from the lockfile alone, as on a fresh clone: the installed tree
    // of this checkout may be shared and is not what a newcomer gets.
    const dir = join(scratch, 'npm-ci');
    mkdirSync(dir);
    for (const file of ['package.json', 'package-lock.json'])
      copyFileSync(join(root, file), join(dir, file));
    const result = run(
      ['npm', 'ci', '--dry-run', '--prefer-offline', '--no-audit', '--no-fund'],
      {},
      dir,
    );
    expect(result.code).toBe(0);
    expect(result.output).toMatch(/added \d+ packages/);
    expect(result.output).not.toContain('install-scripts');
  }, 60_000);

  it('should give several Kubernetes TCP pods one picture store: S3 from secret references, PICTURES_SHARED on', () => {
    const docs = readdirSync(join(deploy, 'k8s')).flatMap((f) => yamlDocs(join(deploy, 'k8s', f)));
    const tcp = docs.find(
      (d) => d.kind === 'StatefulSet' && d.metadata.name === 'usermgr-tcp',
    ) as Yaml;
    expect(tcp.spec.replicas).toBeGreaterThan(1);
    // No volume of a pod's own that could hold pictures (or anything else that must outlive it).
    expect(tcp.spec.volumeClaimTemplates).toBeUndefined();
    const [container] = tcp.spec.template.spec.containers;
    const secretVariables = (container.env as Yaml[])
      .filter((v) => v.valueFrom?.secretKeyRef !== undefined)
      .map((v) => v.name);
    for (const name of [
      'MYSQL_URL',
      'SESSION_SECRET',
      'S3_BUCKET',
      'S3_ACCESS_KEY_ID',
      'S3_SECRET_ACCESS_KEY',
    ])
      expect(secretVariables).toContain(name);
    const known = configVariables();
    expect((container.env as Yaml[]).map((v) => v.name).filter((v) => !known.has(v))).toEqual([]);
    const config = loadTcpConfig(containerEnv(docs, container));
    expect(config.pictures.shared).toBe(true);
    expect(config.pictures.s3.bucket).toBe('usermgr-pictures');
    expect(config.mysql.url).not.toBe('');
    // Without the S3 settings, such a pod refuses to start.
    const withoutS3 = Object.fromEntries(
      Object.entries(containerEnv(docs, container)).filter(([name]) => !name.startsWith('S3_')),
    );
    expect(() => loadTcpConfig(withoutS3)).toThrow(
      'PICTURES_SHARED="true": expected S3_BUCKET as well',
    );
    // The HTTP pods read the shared settings and nothing of the TCP pods' secrets.
    const http = docs.find(
      (d) => d.kind === 'Deployment' && d.metadata.name === 'usermgr-http',
    ) as Yaml;
    expect(() =>
      loadHttpConfig(containerEnv(docs, http.spec.template.spec.containers[0])),
    ).not.toThrow();
  });
});

/** What systemd would run for a unit: its command, directory and environment. */
function unitCommand(unit: string, envFile: string): { cmd: string[]; cwd: string; env: Env } {
  const setting = (key: string) =>
    [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => (m[1] as string).trim());
  const env: Env = {};
  for (const assignment of setting('Environment')) {
    const [name, ...value] = assignment.split('=');
    env[name as string] = value.join('=');
  }
  expect(setting('EnvironmentFile')).toEqual([envFile]);
  // systemd: "settings from these files override settings made with Environment=".
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) env[match[1] as string] = match[2] as string;
  }
  const [exec] = setting('ExecStart');
  return { cmd: (exec as string).split(/\s+/), cwd: setting('WorkingDirectory')[0] as string, env };
}

describe('integration: the systemd units with the env file they suggest (a copy of .env.example)', () => {
  const guard = guardProcesses('systemd');
  afterAll(() => guard.release());

  it("should keep the units' DATA_DIR, HTTP_REUSE_PORT and HTTP_METRICS_PORT: the TCP server writes its state there, two HTTP instances share the port, each with its own metrics port", async () => {
    const stateDir = join(guard.dir, 'var-lib-usermgr');
    const [httpPort, tcpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    // The instance names: usermgr-http@<its metrics port>.
    const instances = [await freePort(), await freePort()];
    // What an operator does: copy the example, pick ports, nothing else.
    const envFile = join(guard.dir, 'usermgr.env');
    writeFileSync(
      envFile,
      readFileSync(join(root, '.env.example'), 'utf8')
        .replace(/^HTTP_PORT=.*$/m, `HTTP_PORT=${httpPort}`)
        .replace(/^TCP_PORT=.*$/m, `TCP_PORT=${tcpPort}`)
        .replace(/^TCP_METRICS_PORT=.*$/m, `TCP_METRICS_PORT=${metricsPort}`)
        .replace(/^ARGON2_MEMORY_KIB=.*$/m, 'ARGON2_MEMORY_KIB=1024')
        // As the unit's comment says: both units read it, and prove it to each other.
        .replace(/^TCP_SHARED_SECRET=.*$/m, `TCP_SHARED_SECRET=${'s'.repeat(44)}`)
        .replace(/^LOG_LEVEL=.*$/m, 'LOG_LEVEL=warn'),
    );
    const unit = (name: string, instance = '') =>
      readFileSync(join(deploy, 'systemd', name), 'utf8')
        .replaceAll('%i', instance)
        .replaceAll('/etc/usermgr/usermgr.env', envFile)
        .replaceAll('/var/lib/usermgr', stateDir)
        .replaceAll('/opt/usermgr/node_modules/.bin/bun', process.execPath)
        .replaceAll('/opt/usermgr', root);
    const procs: Server[] = [];
    const start = (name: string, instance?: number) => {
      const { cmd, cwd, env } = unitCommand(unit(name, String(instance ?? '')), envFile);
      // StateDirectory= creates the directory before the service starts.
      mkdirSync(stateDir, { recursive: true });
      const proc = Bun.spawn(cmd, {
        cwd,
        env: { PATH: process.env.PATH ?? '', ...env },
        stdin: 'ignore',
        stdout: 'pipe',
        stderr: 'pipe',
      });
      guard.track(proc.pid);
      procs.push(proc);
      return proc;
    };
    try {
      start('usermgr-tcp.service');
      const http = instances.map((instance) => start('usermgr-http@.service', instance));
      const url = `http://127.0.0.1:${httpPort}`;
      const until = performance.now() + 20_000;
      while (
        (await fetch(`${url}/readyz`).then(
          (r) => r.status,
          () => 0,
        )) !== 200
      ) {
        if (performance.now() > until) throw new Error('the units did not become ready');
        await Bun.sleep(50);
      }
      await Bun.sleep(300);
      // Both HTTP instances are still running (the second could bind the shared port).
      for (const proc of http) expect(proc.exitCode).toBeNull();
      // Each instance's metrics on the port its name gives; none on the shared port.
      for (const instance of instances) {
        const scraped = await fetch(`http://127.0.0.1:${instance}/metrics`);
        expect(await scraped.text()).toContain('usermgr_http_processes{process="http"} 1');
      }
      expect((await fetch(`${url}/metrics`)).status).toBe(404);
      expect(readdirSync(stateDir).sort()).toContain('usermgr.sqlite');
      expect(readdirSync(stateDir)).toContain('session-secret');
    } finally {
      for (const proc of procs) proc.kill('SIGTERM');
      await Promise.all(procs.map((proc) => proc.exited));
    }
  }, 60_000);
});

describe('integration: two TCP servers told they are several (PICTURES_SHARED=true)', () => {
  const guard = guardProcesses('shared-pictures');
  afterAll(() => guard.release());
  const s3 = startFakeS3();
  afterAll(() => s3.stop());

  function startTcp(env: Record<string, string>): Server {
    return spawnServer(guard, 'src/tcp/main.ts', {
      LOG_LEVEL: 'error',
      DATA_DIR: join(guard.dir, `data-${env.WORKER_ID}`),
      REDIS_URL: '',
      TCP_METRICS_PORT: '0',
      PICTURES_SHARED: 'true',
      SESSION_SECRET: 'shared-pictures-test-secret'.padEnd(48, '!'),
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_TIME_COST: '1',
      ...env,
    });
  }

  it('should refuse to start either of them without S3_BUCKET', async () => {
    const procs = [1, 2].map((id) =>
      startTcp({ WORKER_ID: String(id), TCP_PORT: '0', MYSQL_URL: '' }),
    );
    for (const proc of procs) {
      expect(await proc.exited).toBe(2);
      const stderr = await new Response(proc.stderr).text();
      expect(stderr).toContain('PICTURES_SHARED="true": expected S3_BUCKET as well');
    }
  }, 30_000);

  it('should serve a picture stored through one of them from the other, with S3', async () => {
    const database = await createTestDatabase();
    const ports = [await freePort(), await freePort()];
    const procs = ports.map((port, i) =>
      startTcp({
        WORKER_ID: String(i + 1),
        TCP_PORT: String(port),
        MYSQL_URL: database.url,
        S3_BUCKET: s3.bucket,
        S3_ENDPOINT: s3.endpoint,
        S3_REGION: s3.region,
        S3_ACCESS_KEY_ID: s3.accessKeyId,
        S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      }),
    );
    // One HTTP server in front of each TCP server, so that which one answers is certain.
    const https = ports.map((port) =>
      startHttpApp(
        loadHttpConfig({
          LOG_LEVEL: 'silent',
          HTTP_PORT: '0',
          HTTP_METRICS_PORT: '0',
          TCP_ADDRS: `127.0.0.1:${port}`,
        }),
        silentLogger,
      ),
    );
    try {
      for (const http of https) {
        const until = performance.now() + 20_000;
        while ((await fetch(`${http.url}readyz`)).status !== 200) {
          if (performance.now() > until) throw new Error('a TCP server did not become ready');
          await Bun.sleep(50);
        }
      }
      const [first, second] = https as [(typeof https)[0], (typeof https)[0]];
      const credentials = { username: 'shared_pictures', password: 'a long password' };
      expect(
        (await fetch(`${first.url}open_api/v1/register`, jsonInit('POST', credentials))).status,
      ).toBe(200);
      const login = await fetch(
        `${first.url}open_api/v1/authenticate`,
        jsonInit('POST', credentials),
      );
      const { token } = (await login.json()) as { token: string };
      const upload = await fetch(`${first.url}api/v1/me/picture`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}` },
        body: await jpeg(),
      });
      expect(upload.status).toBe(200);
      const { user } = (await upload.json()) as { user: { picture_url: string } };
      for (const http of [first, second]) {
        const res = await fetch(new URL(user.picture_url, http.url));
        expect({ via: http.url, status: res.status }).toEqual({ via: http.url, status: 200 });
        expect(res.headers.get('content-type')).toBe('image/webp');
      }
    } finally {
      await Promise.all(https.map((http) => http.stop()));
      for (const proc of procs) proc.kill('SIGTERM');
      await Promise.all(procs.map((proc) => proc.exited));
      await database.drop();
    }
  }, 60_000);
});
