/**
 * A federation on loopback for the round benchmarks: a coordinator with its real
 * SQLite store in a temporary directory, participants registered through the
 * REST API, agents as child processes (real fl-agent processes or light
 * participants), and jobs whose round events are timestamped as they happen.
 * Everything it starts is stopped and removed by close().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCoordinator, type JobEvent, type JobRecord, type RunningCoordinator } from '@fl/coordinator';
import { encodeKey, generateKeyPair, writeKeyFile, type JobSpecInput, type KeyPair } from '@fl/shared';
import type { LightAgentConfig } from './light-agent';
import { now, until } from './measure';

const AGENT_CLI = path.join(path.dirname(require.resolve('@fl/participant-agent/package.json')), 'dist', 'cli.js');
const LIGHT_AGENT = path.join(__dirname, 'light-agent.js');

/** What happened to a job, each entry stamped with now() when the coordinator emitted it. */
export interface JobTimeline {
  /** when the job entered training (the first round starts right after) */
  trainingAt: number;
  /** rounds[r - 1]: when round r was committed */
  rounds: number[];
  /**
   * CPU milliseconds used so far by the coordinator's process and by all agent
   * processes, at the commit of the first and of the last round (reading it for
   * every round would cost the coordinator's process ~0.5 ms a round).
   */
  cpu: { first?: CpuSnapshot; last?: CpuSnapshot };
}

export interface CpuSnapshot {
  coordinator: number;
  coordinatorSystem: number;
  agents: number;
  agentsSystem: number;
  /** per agent process, in start order: its CPU milliseconds divided by the participants it runs */
  perParticipant: number[];
}

const CLOCK_TICK_MS = 10;

/** User and system CPU milliseconds of a child process, from /proc (Linux); zeros elsewhere. */
function childCpuMs(pid: number | undefined): { user: number; system: number } {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime and stime are fields 14 and 15 of stat, counted here from the state field (3).
    return { user: Number(fields[11]) * CLOCK_TICK_MS, system: Number(fields[12]) * CLOCK_TICK_MS };
  } catch {
    return { user: 0, system: 0 };
  }
}

/**
 * The child processes of a benchmark (agents, coordinators), each with its log
 * in a file of `dir`: checked for an early death, stopped at close, and killed
 * should the worker die without closing them (fl-agent processes would retry
 * for ever).
 */
export class Children {
  private readonly list: { name: string; child: ChildProcess; log: string; participants: number }[] = [];

  constructor(readonly dir: string) {
    process.once('exit', () => {
      for (const { child } of this.list) if (child.exitCode === null) child.kill('SIGKILL');
    });
  }

  /** Starts `node script ...args` for `participants` participants; its stdout stays a pipe (to be read or left flowing), its stderr goes to the log file. */
  spawn(name: string, script: string, args: string[], options: { nodeOptions?: string[]; participants?: number } = {}): ChildProcess {
    const { nodeOptions = [], participants = 1 } = options;
    // A log file, not a pipe: reading many pipes would wake the measured process for every line.
    const log = path.join(this.dir, `${name}.log`);
    const fd = fs.openSync(log, 'a');
    const child = spawn(process.execPath, [...nodeOptions, script, ...args], { stdio: ['ignore', 'pipe', fd] });
    fs.closeSync(fd);
    this.list.push({ name, child, log, participants });
    return child;
  }

  pids(): number[] {
    return this.list.flatMap(({ child }) => (child.pid === undefined ? [] : [child.pid]));
  }

  /** The end of a child's log: why it failed. */
  tail(child: ChildProcess): string {
    const log = this.list.find((c) => c.child === child)?.log;
    try {
      return log ? fs.readFileSync(log, 'utf8').slice(-4000) : '';
    } catch {
      return '';
    }
  }

  /** Fails the benchmark at once when a child has died, rather than at a timeout. */
  check(): void {
    const dead = this.list.find((c) => c.child.exitCode !== null);
    if (dead) throw new Error(`${dead.name} exited ${dead.child.exitCode}: ${this.tail(dead.child)}`);
  }

  /** Each child's CPU milliseconds so far, divided among the participants it runs. */
  cpuPerParticipantMs(): number[] {
    return this.list.map(({ child, participants }) => {
      const cpu = childCpuMs(child.pid);
      return (cpu.user + cpu.system) / participants;
    });
  }

  /** CPU milliseconds of all the children so far. */
  cpuMs(): { user: number; system: number } {
    const all = this.list.map(({ child }) => childCpuMs(child.pid));
    return { user: all.reduce((sum, a) => sum + a.user, 0), system: all.reduce((sum, a) => sum + a.system, 0) };
  }

  /** SIGTERM to each at once, SIGKILL after 5 s; resolves once all have exited. */
  close(): Promise<void> {
    const stopped = this.list.map(
      ({ child }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 5000).unref();
        }),
    );
    return Promise.all(stopped).then(() => undefined);
  }
}

/** Registers `count` participants named `${prefix}-1`, ... with fresh keys through `post`, `concurrency` at a time; returns their keys in order. */
export async function registerParticipants(
  post: (route: string, body: unknown) => Promise<unknown>,
  prefix: string,
  count: number,
  concurrency = 1,
): Promise<KeyPair[]> {
  const keys = Array.from({ length: count }, () => generateKeyPair());
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      await post('/api/participants', { name: `${prefix}-${i + 1}`, organisation: 'bench', publicKey: encodeKey(keys[i].publicKey) });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return keys;
}

/** Starts one light-agent process for `config`'s participants; resolves once all of them are welcomed. */
export function startLightAgentProcess(children: Children, name: string, config: LightAgentConfig): Promise<void> {
  const file = path.join(children.dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  const child = children.spawn(name, LIGHT_AGENT, [file], { participants: config.secretKeys.length });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`light agent ${name} exited ${code}: ${children.tail(child)}`)));
  });
}

export class Federation {
  private readonly children: Children;
  /** the round count of each job created, known before its first event */
  private readonly lastRounds = new Map<string, number>();
  private readonly timelines = new Map<string, JobTimeline & { status: string; error: string | null; lastRound: number }>();
  private closed = false;

  private constructor(
    readonly coordinator: RunningCoordinator,
    readonly dir: string,
  ) {
    this.children = new Children(dir);
    coordinator.engine.events.on('job', (event: JobEvent) => this.record(event));
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }

  static async start(options: { maxFrameBytes?: number } = {}): Promise<Federation> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-bench-'));
    const coordinator = await startCoordinator({
      port: 0,
      dataDir: path.join(dir, 'coordinator'),
      // Warnings and errors only: the per-round info lines are not what is measured.
      logLevel: 'warn',
      adminToken: 'bench-admin-token-0123456789',
      // Hundreds of participants connect at once from this one address.
      maxPendingConnectionsPerAddress: 1024,
      maxPendingConnections: 1024,
      ...(options.maxFrameBytes ? { maxFrameBytes: options.maxFrameBytes } : {}),
    });
    return new Federation(coordinator, dir);
  }

  private record(event: JobEvent): void {
    let timeline = this.timelines.get(event.job);
    if (!timeline) {
      timeline = { trainingAt: NaN, rounds: [], cpu: {}, status: 'waiting', error: null, lastRound: this.lastRounds.get(event.job) ?? 0 };
      this.timelines.set(event.job, timeline);
    }
    if (event.type === 'round') {
      const round = event.round.round;
      timeline.rounds[round - 1] = now();
      if (round === 1) timeline.cpu.first = this.cpuSnapshot();
      if (round === timeline.lastRound) timeline.cpu.last = this.cpuSnapshot();
    }
    if (event.type === 'status') {
      timeline.status = event.status;
      timeline.error = event.error;
      if (event.status === 'training' && Number.isNaN(timeline.trainingAt)) timeline.trainingAt = now();
    }
  }

  private cpuSnapshot(): CpuSnapshot {
    const own = process.cpuUsage();
    const agents = this.children.cpuMs();
    return {
      coordinator: (own.user + own.system) / 1000,
      coordinatorSystem: own.system / 1000,
      agents: agents.user + agents.system,
      agentsSystem: agents.system,
      perParticipant: this.children.cpuPerParticipantMs(),
    };
  }

  async api<T>(method: string, route: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.coordinator.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${this.coordinator.adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const result = (await response.json()) as T;
    if (response.status >= 300) throw new Error(`${method} ${route}: ${response.status} ${JSON.stringify(result)}`);
    return result;
  }

  /** Registers `count` participants named `${prefix}-1`, ... with fresh keys; returns their keys in order. */
  register(prefix: string, count: number): Promise<KeyPair[]> {
    return registerParticipants((route, body) => this.api('POST', route, body), prefix, count);
  }

  /** Starts one real `fl-agent run` process per data file, each with its own registered key. */
  async startAgents(prefix: string, dataFiles: string[]): Promise<void> {
    const keys = await this.register(prefix, dataFiles.length);
    dataFiles.forEach((data, i) => {
      const name = `${prefix}-${i + 1}`;
      const keyFile = path.join(this.dir, name, 'key.json');
      writeKeyFile(keyFile, keys[i]);
      this.spawn(name, AGENT_CLI, [
        'run',
        '--coordinator',
        this.coordinator.url,
        '--key',
        keyFile,
        '--data',
        data,
        '--coordinator-key',
        this.coordinator.identity.publicKey,
      ]);
    });
    await this.waitOnline(dataFiles.length);
  }

  /** Starts `processes` light-agent processes sharing `count` registered participants; resolves once all are welcomed. */
  async startLightAgents(prefix: string, count: number, processes: number, shape: { rows: number; classes: number }): Promise<void> {
    const keys = await this.register(prefix, count);
    const ready: Promise<void>[] = [];
    for (let p = 0; p < processes; p++) {
      const mine = keys.filter((_, i) => i % processes === p);
      if (mine.length === 0) continue;
      const config: LightAgentConfig = {
        url: this.coordinator.url,
        coordinatorKey: this.coordinator.identity.publicKey,
        secretKeys: mine.map((k) => encodeKey(k.secretKey)),
        ...shape,
      };
      ready.push(startLightAgentProcess(this.children, `${prefix}-light-${p + 1}`, config));
    }
    await Promise.all(ready);
    await this.waitOnline(count);
  }

  /** One dishonest light participant sends what LightAgentConfig.flood says; resolves with the code of each ack once it has left. */
  async flood(flood: NonNullable<LightAgentConfig['flood']>): Promise<string[]> {
    const [keys] = await this.register('flood', 1);
    const config: LightAgentConfig = { url: this.coordinator.url, coordinatorKey: this.coordinator.identity.publicKey, secretKeys: [encodeKey(keys.secretKey)], rows: 100, classes: 2, flood };
    const file = path.join(this.children.dir, 'flood.json');
    fs.writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
    const child = this.children.spawn('flood', LIGHT_AGENT, [file], { participants: 1 });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await new Promise((resolve) => child.once('exit', resolve));
    return [...out.matchAll(/^flooded (\S+)$/gm)].map((m) => m[1]);
  }

  private spawn(name: string, script: string, args: string[]): ChildProcess {
    const child = this.children.spawn(name, script, args);
    child.stdout!.resume();
    return child;
  }

  private async waitOnline(count: number): Promise<void> {
    await until(
      `${count} participants online`,
      async () => {
        this.children.check();
        const list = await this.api<{ online: boolean }[]>('GET', '/api/participants');
        return list.filter((p) => p.online).length >= count;
      },
      120_000,
    );
  }

  /** Creates a job through the REST API and resolves with its timeline once it has completed. */
  async runJob(spec: JobSpecInput, options: { timeoutMs?: number } = {}): Promise<JobTimeline> {
    const { timeoutMs = 300_000 } = options;
    const job = await this.api<JobRecord>('POST', '/api/jobs', spec);
    this.lastRounds.set(job.id, job.spec.rounds);
    // The job's first events may have come before its id was known here.
    const early = this.timelines.get(job.id);
    if (early) early.lastRound = job.spec.rounds;
    await until(
      `job ${job.id} to complete`,
      () => {
        this.children.check();
        const status = this.timelines.get(job.id)?.status;
        if (status === 'failed' || status === 'stopped') throw new Error(`job ${job.id} ${status}: ${this.timelines.get(job.id)?.error}`);
        return status === 'completed';
      },
      timeoutMs,
    );
    return this.timelines.get(job.id)!;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = this.children.close();
    await this.coordinator.close();
    await exited;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The seconds between consecutive round commits r-1 -> r for r in `from`..`to`, the first measured from the start of training. */
export function roundIntervals(timeline: JobTimeline, from: number, to: number): number[] {
  const out: number[] = [];
  for (let r = from; r <= to; r++) {
    const previous = r === 1 ? timeline.trainingAt : timeline.rounds[r - 2];
    out.push(timeline.rounds[r - 1] - previous);
  }
  return out;
}
