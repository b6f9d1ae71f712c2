/**
 * `npm run demo`: a consortium of three lenders on one machine. It starts the
 * coordinator (SQLite store) and three fl-agent processes, each on its own part
 * of the credit scoring data (one of them with its own column names and
 * spellings, mapped to the job's), runs a logistic job to the end, prints each
 * round, scores the global model on rows none of them trained on, and verifies
 * the audit log (every round recomputed from the retained updates). The
 * dashboard's address and the admin token are printed at the start, so the job
 * can be watched live; --keep-open leaves everything running until Ctrl-C.
 *
 * Each run keeps its data directory: by default a new one under .demo/, named by
 * the time the run started, so that the directory an earlier run told the user
 * to audit is never replaced. --data-dir must name a new or empty directory.
 *
 *   npm run demo -- [--data-dir DIR] [--rounds N] [--keep-open]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { RoundRecord } from '@fl/coordinator';
import { EXIT } from '@fl/shared';
import { DEMO_SPEC } from './demo-job';
import { AdminApi, DATA_DIR, evaluateModel, splitCsv, type GlobalModel } from './harness';
import { AGENT_CLI, COORDINATOR_CLI, run, runToEnd, startCoordinatorProcess, type Running } from './processes';

const usage = () => `Usage: npm run demo -- [--data-dir DIR] [--rounds N] [--keep-open]

  --data-dir DIR  where this run keeps its store, keys, data and model; DIR must be
                  new or empty (default: a new directory under .demo/ for each run,
                  named by the time it started)
  --rounds N      federated rounds, a whole number from 1 to ${MAX_ROUNDS} (default ${DEMO_SPEC.rounds})
  --keep-open     keep the coordinator and the agents running after the job, until Ctrl-C
  --help          this text
`;

/** A wrong command line: refused before anything starts, with the usage. */
class UsageError extends Error {}

/** A run that cannot start as asked, e.g. a data directory already in use: refused before anything starts. */
class RefusedError extends Error {}

interface DemoOptions {
  dataDir?: string;
  rounds: number;
  keepOpen: boolean;
  help: boolean;
}

/** parseArgs's own messages suggest `--` tricks; these say what to change. */
function usageMessage(err: Error & { code?: string }): string {
  const option = /'(-[^' ]+)/.exec(err.message)?.[1] ?? 'an option';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (err.message.includes('does not take')) return `${option} takes no value`;
      return err.message.includes('ambiguous') ? `${option} needs a value; one that starts with a dash is written ${option}=-VALUE` : `${option} needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(err.message)?.[1] ?? ''}; every value follows its option`;
    default:
      return err.message.split('\n')[0];
  }
}

function parseDemoArgs(args: string[]): DemoOptions {
  let values: { 'data-dir'?: string; rounds?: string; 'keep-open'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { 'data-dir': { type: 'string' }, rounds: { type: 'string' }, 'keep-open': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    throw new UsageError(usageMessage(err as Error));
  }
  let rounds = DEMO_SPEC.rounds!;
  if (values.rounds !== undefined) {
    const text = values.rounds.trim();
    rounds = Number(text);
    if (!/^\d+$/.test(text) || rounds < 1 || rounds > MAX_ROUNDS) {
      throw new UsageError(`--rounds must be a whole number from 1 to ${MAX_ROUNDS}, not "${values.rounds}"`);
    }
  }
  if (values['data-dir'] !== undefined && values['data-dir'].trim() === '') throw new UsageError('--data-dir needs a directory');
  return { dataDir: values['data-dir'], rounds, keepOpen: values['keep-open'] ?? false, help: values.help ?? false };
}

/**
 * The run's data directory, made before anything else starts. A directory given
 * must be new or empty; by default each run gets a new one under .demo/, claimed
 * with a non-recursive mkdir so that two runs started in the same second differ.
 */
function makeDataDir(given: string | undefined, now: Date): string {
  if (given !== undefined) {
    const dir = path.resolve(given);
    if (fs.existsSync(dir) && (!fs.statSync(dir).isDirectory() || fs.readdirSync(dir).length > 0)) {
      throw new RefusedError(`${shown(dir)} is not an empty directory (an earlier run's data?); the demo replaces nothing: give a new or empty directory`);
    }
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }
  const parent = path.resolve('.demo');
  fs.mkdirSync(parent, { recursive: true });
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp =
    `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}` +
    `T${pad(now.getHours())}-${pad(now.getMinutes())}-${pad(now.getSeconds())}`;
  for (let n = 1; ; n++) {
    const dir = path.join(parent, n === 1 ? stamp : `${stamp}-${n}`);
    try {
      fs.mkdirSync(dir);
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** A path as the user would type it: relative to the working directory when inside it. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

const PARTIES = [
  { name: 'bank-lisbon', organisation: 'Banco do Atlântico', country: 'PT' },
  { name: 'bank-lyon', organisation: 'Crédit Rhône', country: 'FR' },
  { name: 'lender-madrid', organisation: 'Financiera Meseta', country: 'ES' },
];

/** The job spec's own bound. */
const MAX_ROUNDS = 100_000;


/** The Madrid lender exports Spanish column names and spellings; its mapping file turns them into the job's. */
function localizeMadrid(file: string, mappingFile: string): void {
  const renames: Record<string, string> = { Home: 'Vivienda', Marital: 'EstadoCivil' };
  const spellings: Record<string, Record<string, string>> = {
    Vivienda: { rent: 'alquiler', owner: 'propietario', parents: 'padres' },
    EstadoCivil: { married: 'casado', single: 'soltero' },
  };
  const [header, ...rows] = fs.readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => l.split(','));
  const local = header.map((c) => renames[c] ?? c);
  const out = rows.map((r) => r.map((v, i) => spellings[local[i]]?.[v] ?? v));
  fs.writeFileSync(file, [local, ...out].map((r) => r.join(',')).join('\n') + '\n');
  const invert = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [v, k]));
  const mapping = {
    columns: invert(renames),
    categories: Object.fromEntries(Object.entries(spellings).map(([local, m]) => [Object.keys(renames).find((k) => renames[k] === local)!, invert(m)])),
  };
  fs.writeFileSync(mappingFile, JSON.stringify(mapping, null, 2) + '\n');
}

function printRound(r: RoundRecord, rounds: number): void {
  const seconds = ((r.closedAt - r.startedAt) / 1000).toFixed(2);
  const accuracy = r.metrics.trainAccuracy === undefined ? '' : `  train accuracy ${r.metrics.trainAccuracy.toFixed(4)}`;
  console.log(
    `  round ${String(r.round).padStart(2)}/${rounds}  train loss ${r.metrics.trainLoss.toFixed(4)}${accuracy}  ` +
      `${r.contributors.length} participants  ${seconds}s`,
  );
}

async function main(): Promise<void> {
  const options = parseDemoArgs(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(usage());
    return;
  }
  const started = Date.now();
  const dir = makeDataDir(options.dataDir, new Date(started));
  const spec = { ...DEMO_SPEC, rounds: options.rounds };
  const processes: Running[] = [];
  const stopAll = () => processes.forEach((p) => p.child.exitCode === null && p.child.kill('SIGTERM'));
  // Ctrl-C interrupts the demo, or ends the wait of --keep-open.
  let keptOpen: (() => void) | undefined;
  const interrupt = () => {
    if (keptOpen) return keptOpen();
    stopAll();
    process.exit(130);
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  try {
    console.log(`Federated learning demo: 3 lenders train one credit default model`);
    console.log(`this run's data directory: ${shown(dir)} (earlier runs' directories are left as they are)`);
    const split = splitCsv(path.join(DATA_DIR, 'credit_data.csv'), PARTIES.length, { seed: 1, holdout: 0.2, dir });
    const token = 'demo-admin-token-' + Math.random().toString(36).slice(2);
    // The coordinator keeps its store and key in DIR itself, so `fl-coordinator audit verify --data-dir DIR` checks the run.
    const coordinator = await startCoordinatorProcess(['--data-dir', dir, '--admin-token', token]);
    processes.push(coordinator);
    const api = new AdminApi(coordinator.url, token);
    console.log(`coordinator on ${coordinator.url} (store ${shown(path.join(dir, 'coordinator.sqlite'))})`);
    console.log(`dashboard on ${coordinator.url}/ (sign in with the admin token ${token})`);

    // Each lender is invited, enrolls its own key with the one-time token, and is approved by the admin.
    for (const [i, party] of PARTIES.entries()) {
      const home = path.join(dir, 'parties', party.name);
      fs.mkdirSync(home, { recursive: true });
      const dataFile = path.join(home, 'loans.csv');
      fs.renameSync(split.parties[i], dataFile);
      const keyFile = path.join(home, 'key.json');
      const invitation = await api.request<{ token: string }>('POST', '/api/invitations', {
        organisation: party.organisation,
        country: party.country,
        name: party.name,
        expiresInHours: 1,
      });
      await runToEnd(AGENT_CLI, ['enroll', '--coordinator', coordinator.url, '--token', invitation.body.token, '--key', keyFile, '--name', party.name]);
      await api.request('POST', `/api/participants/${party.name}/approve`, {});
      const args = ['run', '--coordinator', coordinator.url, '--key', keyFile, '--data', dataFile];
      if (party.name === 'lender-madrid') {
        localizeMadrid(dataFile, path.join(home, 'mapping.json'));
        args.push('--map', path.join(home, 'mapping.json'));
      }
      processes.push(run(AGENT_CLI, args));
      const rows = fs.readFileSync(dataFile, 'utf8').trimEnd().split('\n').length - 1;
      const note = party.name === 'lender-madrid' ? ', its own column names and spellings, mapped by mapping.json' : '';
      console.log(`  ${party.name.padEnd(14)} ${party.organisation}: invited, enrolled, approved; ${rows} rows${note}`);
    }

    const job = (await api.request<{ id: string }>('POST', '/api/jobs', spec)).body;
    console.log(`job ${job.id}: logistic regression of Status (bad = positive), ${spec.rounds} rounds`);
    let printed = 0;
    for (;;) {
      const [{ body: state }, { body: rounds }] = await Promise.all([
        api.request<{ status: string; error: string | null }>('GET', `/api/jobs/${job.id}`),
        api.request<RoundRecord[]>('GET', `/api/jobs/${job.id}/rounds`),
      ]);
      for (const r of rounds.slice(printed)) printRound(r, spec.rounds!);
      printed = rounds.length;
      if (state.status === 'failed') throw new Error(`the job failed: ${state.error}`);
      if (state.status === 'completed') break;
      await new Promise((r) => setTimeout(r, 200));
    }

    const model = (await api.request<GlobalModel>('GET', `/api/jobs/${job.id}/model`)).body;
    const jobSpec = (await api.job(job.id)).spec;
    const { accuracy, n } = evaluateModel(model, jobSpec, split.holdout);
    const modelFile = path.join(dir, 'model.json');
    fs.writeFileSync(modelFile, JSON.stringify(model, null, 2) + '\n');
    // The held-out rows are the first ones of the shuffled data set.
    const majority = split.rows.slice(0, n).filter((r) => r[0] === 'good').length / n;
    console.log(`global model after round ${model.round}: accuracy ${accuracy!.toFixed(4)} on ${n} held-out rows (always "good": ${majority.toFixed(4)})`);
    console.log(`model stored in ${shown(path.join(dir, 'coordinator.sqlite'))} (every round), served at ${coordinator.url}/api/jobs/${job.id}/model, copied to ${shown(modelFile)}`);
    // The audit: the operator recomputes every round from the retained updates; a lender checks an export on its own.
    const audit = await runToEnd(COORDINATOR_CLI, ['audit', 'verify', '--data-dir', shown(dir)]);
    console.log(`audit log: ${audit.trimEnd().split('\n').join('\n  ')}`);
    console.log(`this run's data directory: ${shown(dir)}`);
    console.log(`check it again at any time: npx fl-coordinator audit verify --data-dir ${shown(dir)}`);
    console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    if (options.keepOpen) {
      console.log(`the coordinator and the agents keep running: dashboard on ${coordinator.url}/ (admin token ${token}); Ctrl-C stops them`);
      await new Promise<void>((resolve) => (keptOpen = resolve));
    }
  } finally {
    stopAll();
  }
}

main().catch((err: Error) => {
  if (err instanceof UsageError) {
    process.stderr.write(`demo: ${err.message}\n\n${usage()}`);
    process.exit(EXIT.USAGE);
  }
  if (err instanceof RefusedError) {
    process.stderr.write(`demo: ${err.message}\n`);
    process.exit(EXIT.USAGE);
  }
  console.error(`demo failed: ${err.message}`);
  process.exit(EXIT.FAILED);
});
