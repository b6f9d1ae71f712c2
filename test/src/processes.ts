/** Starting the real commands as child processes, the way a partner or an operator runs them. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { REPO_ROOT, type AdminApi } from './harness';

export const COORDINATOR_CLI = path.join(REPO_ROOT, 'coordinator', 'dist', 'cli.js');
export const AGENT_CLI = path.join(REPO_ROOT, 'participant-agent', 'dist', 'cli.js');
/** The independent audit verifier, and the interpreter it runs on: Debian's, where .ci/run installs python3-cryptography, or the one PYTHON names. */
export const PY_VERIFIER = path.join(REPO_ROOT, 'tools', 'verify_bundle.py');
export const PYTHON = process.env.PYTHON ?? (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

export interface Running {
  child: ChildProcess;
  output: () => string;
}

export function run(cli: string, args: string[], onLine?: (line: string) => void): Running {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let partial = '';
  const take = (chunk: Buffer) => {
    output += chunk;
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) onLine?.(line);
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  return { child, output: () => output };
}

/** Runs a command to its end; resolves with its output, rejects on a non-zero exit. */
export function runToEnd(cli: string, args: string[]): Promise<string> {
  const { child, output } = run(cli, args);
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(output()) : reject(new Error(`${path.basename(cli)} ${args[0]} exited ${code}: ${output()}`)))),
  );
}

/** Starts fl-coordinator on a free port; resolves with its URL once it listens. */
export function startCoordinatorProcess(args: string[]): Promise<Running & { url: string }> {
  return new Promise((resolve, reject) => {
    const running = run(COORDINATOR_CLI, ['--port', '0', ...args], (line) => {
      const match = /^fl-coordinator on (\S+)/.exec(line);
      if (match) resolve({ ...running, url: match[1] });
    });
    running.child.on('exit', (code) => reject(new Error(`fl-coordinator exited ${code}: ${running.output()}`)));
  });
}

/** One agent per data file, as a partner runs it: `fl-agent keygen` in dir/NAME, its key registered by the admin, then `fl-agent run`. */
export async function startRegisteredAgents(api: AdminApi, coordinatorUrl: string, dir: string, files: string[]): Promise<Running[]> {
  const agents: Running[] = [];
  for (const [i, data] of files.entries()) {
    const name = `party-${i + 1}`;
    const keyFile = path.join(dir, name, 'key.json');
    const publicKey = /public key (\S+)/.exec(await runToEnd(AGENT_CLI, ['keygen', '--out', keyFile]))![1];
    await api.request('POST', '/api/participants', { name, organisation: name, publicKey });
    agents.push(run(AGENT_CLI, ['run', '--coordinator', coordinatorUrl, '--key', keyFile, '--data', data]));
  }
  return agents;
}

/** A port free on loopback now, for a process that must be restarted on the same address. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
