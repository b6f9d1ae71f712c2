/**
 * Where the CPU of the timed rounds goes: reads the CPU profiles and timed
 * windows written by `run.js --profile DIR` and prints, for the benchmark's
 * process (coordinator) and for its children (agents) together, the busy
 * milliseconds per timed round and the functions that spend them.
 *
 *   node bench/dist/profile.js DIR [--rounds-per-window 10] [--top 25]
 *
 * V8's profiles sample wall time: on two cores shared by many processes, a
 * process waiting for a core is charged to whatever it last ran (a socket
 * write that woke another process, typically). For CPU time, profile one
 * benchmark's worker with Linux perf instead, then read it the same way:
 *
 *   FL_BENCH_WINDOWS=w.txt perf record -k CLOCK_MONOTONIC -F 2999 -g -o perf.data -- \
 *     node --perf-basic-prof bench/dist/run.js --worker round.n20_d100
 *   node bench/dist/profile.js --perf perf.data --windows w.txt
 *
 * Profiles and windows share the system's monotonic clock, so every sample can
 * be placed inside or outside a job's timed rounds; setup and the jobs' first
 * rounds drop out.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self time in microseconds per function ("name file:line"), inside the windows. */
function selfTimes(profile: CpuProfile, windows: [number, number][]): Map<string, number> {
  const names = new Map(
    profile.nodes.map(({ id, callFrame: c }) => [id, `${c.functionName || '(anonymous)'} ${c.url.split('/').slice(-2).join('/')}:${c.lineNumber + 1}`]),
  );
  const out = new Map<string, number>();
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i];
    if (!windows.some(([from, to]) => t >= from && t <= to)) return;
    const name = names.get(id)!;
    out.set(name, (out.get(name) ?? 0) + profile.timeDeltas[i]);
  });
  return out;
}

function report(title: string, times: Map<string, number>, rounds: number, top: number): string {
  const busy = [...times].filter(([name]) => !name.startsWith('(idle)'));
  const total = busy.reduce((sum, [, us]) => sum + us, 0);
  const lines = [`${title}: ${(total / 1000 / rounds).toFixed(2)} ms busy per round`];
  for (const [name, us] of busy.sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`  ${(us / 1000 / rounds).toFixed(3).padStart(8)} ms  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}`);
  }
  return lines.join('\n');
}

/**
 * Samples of a perf recording inside the windows (seconds), by leaf function:
 * the recorded command's own process, and every other process together.
 */
function perfSamples(data: string, windows: [number, number][]): { own: Map<string, number>; children: Map<string, number>; hz: number } {
  const text = execFileSync('perf', ['script', '-i', data, '-F', 'pid,time,ip,sym', '--max-stack', '1'], { maxBuffer: 2 ** 31 - 1, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const header = execFileSync('perf', ['report', '-i', data, '--header-only'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const hz = Number(header.match(/sample_freq\D+(\d+)/)?.[1] ?? 0);
  if (!hz) throw new Error(`${data}: no sampling frequency in its header (record with -F)`);
  const own = new Map<string, number>();
  const children = new Map<string, number>();
  let first: string | undefined;
  let target: Map<string, number> | undefined;
  for (const line of text.split('\n')) {
    const sample = line.match(/^\s*(\d+)\s+([\d.]+):/);
    if (sample) {
      first ??= sample[1];
      const t = Number(sample[2]);
      target = windows.some(([from, to]) => t >= from && t <= to) ? (sample[1] === first ? own : children) : undefined;
    } else if (target && line.trim()) {
      const name = line.trim().replace(/^[0-9a-f]+\s+/, '').slice(0, 120);
      target.set(name, (target.get(name) ?? 0) + 1);
      target = undefined;
    }
  }
  return { own, children, hz };
}

function main(): void {
  const { values, positionals } = parseArgs({
    options: {
      'rounds-per-window': { type: 'string', default: '10' },
      top: { type: 'string', default: '25' },
      perf: { type: 'string' },
      windows: { type: 'string' },
    },
    allowPositionals: true,
  });
  const top = Number(values.top);
  if (values.perf) {
    if (!values.windows) throw new Error('--perf needs --windows, the file FL_BENCH_WINDOWS named');
    const windows = fs.readFileSync(values.windows, 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number) as [number, number]);
    const rounds = windows.length * Number(values['rounds-per-window']);
    const { own, children, hz } = perfSamples(values.perf, windows);
    // A sample is 1/hz seconds of CPU; report() takes microseconds.
    const micros = (samples: Map<string, number>) => new Map([...samples].map(([name, n]) => [name, (n * 1e6) / hz]));
    process.stdout.write(`${report('the recorded process (coordinator)', micros(own), rounds, top)}\n\n${report('the others (agents), together', micros(children), rounds, top)}\n`);
    return;
  }
  const dir = positionals[0];
  if (!dir) throw new Error('usage: profile.js DIR [--rounds-per-window N] [--top N]');
  const files = fs.readdirSync(dir);
  const windowFiles = files.filter((f) => /^windows-\d+\.json$/.test(f));
  if (windowFiles.length === 0) throw new Error(`${dir} has no windows-PID.json: was it written by run.js --profile?`);
  for (const windowFile of windowFiles) {
    const pid = windowFile.match(/\d+/)![0];
    const windows = JSON.parse(fs.readFileSync(path.join(dir, windowFile), 'utf8')) as [number, number][];
    const rounds = windows.length * Number(values['rounds-per-window']);
    const own = new Map<string, number>();
    const children = new Map<string, number>();
    for (const file of files.filter((f) => f.endsWith('.cpuprofile'))) {
      const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
      // Worker threads write their own profiles, named with their process's pid too.
      const target = file.includes(`.${pid}.`) ? own : children;
      for (const [name, us] of selfTimes(profile, windows)) target.set(name, (target.get(name) ?? 0) + us);
    }
    process.stdout.write(`${report(`process ${pid} (coordinator)`, own, rounds, top)}\n\n${report('its children (agents), together', children, rounds, top)}\n`);
  }
}

main();
