/**
 * Where the CPU of the timed rounds goes: reads the CPU profiles and timed
 * windows written by `run.js --profile DIR` and prints, for the benchmark's
 * process (coordinator) and for its children (agents) together, the busy
 * milliseconds per timed round and the functions that spend them.
 *
 *   node bench/dist/profile.js DIR [--rounds-per-window 10] [--top 25]
 *
 * Profiles and windows share the system's monotonic clock, so every sample can
 * be placed inside or outside a job's timed rounds; setup and the jobs' first
 * rounds drop out.
 */
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

function main(): void {
  const { values, positionals } = parseArgs({
    options: { 'rounds-per-window': { type: 'string', default: '10' }, top: { type: 'string', default: '25' } },
    allowPositionals: true,
  });
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
    const top = Number(values.top);
    process.stdout.write(`${report(`process ${pid} (coordinator)`, own, rounds, top)}\n\n${report('its children (agents), together', children, rounds, top)}\n`);
  }
}

main();
