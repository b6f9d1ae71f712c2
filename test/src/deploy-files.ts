/**
 * deploy/'s compose files and HAProxy configuration as the tests read and run
 * them: deploy.spec.ts checks them offline, deploy-compose.spec.ts runs their
 * topology with real processes where there is no Docker engine.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DATA_DIR, eventually, REPO_ROOT, tempDir } from './harness';
import { freePort } from './processes';

export const DEPLOY = path.join(REPO_ROOT, 'deploy');

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  secrets?: string[];
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
  stop_grace_period?: string;
}
export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
  secrets?: Record<string, { file: string }>;
}

/** A compose file as Compose reads it: YAML merge keys (`<<`) applied. */
export function readCompose(name: string) {
  const [document] = parseAllDocuments(fs.readFileSync(path.join(DEPLOY, name), 'utf8'), { merge: true });
  return { errors: document.errors, compose: document.toJS() as ComposeFile };
}

/** `source:target[:mode]` of a service's volumes. */
export const mounts = (service: ComposeService) => (service.volumes ?? []).map((v) => v.split(':')).map(([source, target]) => ({ source, target }));
export const coordinatorsOf = (compose: ComposeFile) => Object.entries(compose.services).filter(([, s]) => s.image?.startsWith('fl-coordinator:'));
export const agentsOf = (compose: ComposeFile) => Object.entries(compose.services).filter(([, s]) => s.image?.startsWith('fl-agent:'));

/**
 * Runs the compose file's `demo-data` split with this machine's awk on data/, its
 * output directory moved to a new temporary one; returns that directory and the
 * volume it stands for (the `/data` the agents mount).
 */
export function runDemoSplit(compose: ComposeFile): { dir: string; volume: { source: string; target: string }; status: number | null } {
  const split = compose.services['demo-data'];
  const source = mounts(split).find((m) => m.source.startsWith('.'))!;
  const volume = mounts(split).find((m) => !m.source.startsWith('.'))!;
  const [command, program, input] = split.command!;
  if (command !== 'awk' || path.resolve(DEPLOY, source.source) !== DATA_DIR) throw new Error('demo-data is not an awk program on data/');
  const dir = tempDir('demo-data');
  const result = spawnSync('awk', [program.replaceAll(`"${volume.target}/`, `"${dir}/`), path.join(DATA_DIR, path.relative(source.target, input))]);
  return { dir, volume, status: result.status };
}

/** haproxy.cfg as sections (`backend coordinators`) of directives, each a list of words. */
export function readHaproxy(text = fs.readFileSync(path.join(DEPLOY, 'haproxy.cfg'), 'utf8')): Map<string, string[][]> {
  const sections = new Map<string, string[][]>();
  let current: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trimEnd();
    if (!line.trim()) continue;
    if (/^\S/.test(line)) sections.set(line.trim(), (current = []));
    else current.push(line.trim().split(/\s+/));
  }
  return sections;
}

export function haproxyFrontendPort(): number {
  const frontend = [...readHaproxy()].find(([name]) => name.startsWith('frontend '))![1];
  return Number(frontend.find(([word]) => word === 'bind')![1].split(':').at(-1));
}

export interface RunningHaproxy {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Debian's haproxy on deploy/haproxy.cfg, only its addresses changed: it binds a
 * free loopback port, and each compose service name becomes the loopback port given.
 * Resolves once a request through it is answered.
 */
export async function startHaproxy(servers: Record<string, number>): Promise<RunningHaproxy> {
  if (spawnSync('haproxy', ['-v']).error) throw new Error('haproxy is not installed: apt-get install haproxy (as .ci/run does)');
  const port = await freePort();
  let config = fs.readFileSync(path.join(DEPLOY, 'haproxy.cfg'), 'utf8').replace(/^(\s*bind\s+)\S+/m, `$1127.0.0.1:${port}`);
  for (const [name, serverPort] of Object.entries(servers)) {
    config = config.replace(new RegExp(`^(\\s*server\\s+${name}\\s+)\\S+`, 'm'), `$1127.0.0.1:${serverPort}`);
  }
  const file = path.join(tempDir('haproxy'), 'haproxy.cfg');
  fs.writeFileSync(file, config);
  const check = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy -c: ${check.stderr}`);
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    () => fetch(`${url}/api/health/live`).then((r) => r.status, () => 0),
    (status) => status === 200,
  );
  return {
    url,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
