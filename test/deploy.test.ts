/**
 * The deployment files, checked with the real tools where this machine has
 * them: systemd-analyze verify on the units, nginx -t on the proxy config,
 * and YAML parsing plus structure checks on compose and Kubernetes files.
 * (No container engine runs here, so images are not built.)
 */
import { afterAll, describe, expect, it } from 'bun:test';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { declaredVariables } from '../src/config/declared.ts';

const root = resolve(import.meta.dir, '..');
const deploy = join(root, 'deploy');
const scratch = mkdtempSync(join(tmpdir(), 'usermgr-deploy-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(cmd: string[]): { code: number; output: string } {
  const tool = Bun.which(cmd[0] as string);
  if (tool === null)
    throw new Error(
      `${cmd[0]} is not installed: apt-get install -y ${cmd[0] === 'nginx' ? 'nginx-light' : cmd[0]}`,
    );
  const proc = Bun.spawnSync(cmd, { stderr: 'pipe', stdout: 'pipe' });
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
    const dir = join(scratch, 'nginx');
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
    const site = readFileSync(join(deploy, 'nginx/usermgr.conf'), 'utf8');
    writeFileSync(
      join(dir, 'site.conf'),
      site
        .replace('/etc/ssl/usermgr/fullchain.pem', join(dir, 'cert.pem'))
        .replace('/etc/ssl/usermgr/privkey.pem', join(dir, 'key.pem')),
    );
    writeFileSync(
      join(dir, 'nginx.conf'),
      `pid ${dir}/nginx.pid;\nerror_log ${dir}/logs/error.log;\nevents {}\nhttp {\n  access_log off;\n  include ${dir}/site.conf;\n}\n`,
    );
    const result = run(['nginx', '-t', '-p', dir, '-c', join(dir, 'nginx.conf')]);
    expect(result.output).toContain('test is successful');
    expect(result.code).toBe(0);
    expect(site).toMatch(/keepalive \d+;/);
    expect(site).toContain('client_max_body_size 6m;');
    expect(site).toContain('proxy_set_header X-Forwarded-Proto $scheme;');
    expect(site).toContain('proxy_set_header Connection "";');
  });

  it('should describe MySQL 8, Redis 7 and both servers with health checks in compose.yaml', () => {
    const [compose] = yamlDocs(join(deploy, 'compose.yaml'));
    const services = compose?.services as Yaml;
    expect(services.mysql.image).toMatch(/^mysql:8/);
    expect(services.redis.image).toMatch(/^redis:7/);
    expect(services.redis.command).toContain('noeviction');
    expect(services.tcp.command).toEqual(['bun', 'src/tcp/main.ts']);
    expect(services.http.command).toEqual(['bun', 'src/http/main.ts']);
    expect(services.http.environment.TCP_ADDRS).toBe('tcp:9090');
    expect(services.tcp.depends_on.mysql.condition).toBe('service_healthy');
    const known = configVariables();
    for (const name of ['tcp', 'http']) {
      const unknown = Object.keys(services[name].environment).filter(
        (v) => !known.has(v) && v !== 'HEALTH_PORT',
      );
      expect(unknown).toEqual([]);
    }
  });

  it('should build the image from a Bun base image, as a non-root user, with a health check', () => {
    const dockerfile = readFileSync(join(deploy, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM oven\/bun:\S+/m);
    expect(dockerfile).toMatch(/^USER bun$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK /m);
    expect(dockerfile).toContain('npm ci --omit=dev');
    for (const dir of ['src', 'sql']) expect(dockerfile).toContain(`COPY ${dir} ./${dir}`);
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
  });
});
