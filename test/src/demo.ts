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
 *   npm run demo -- [--data-dir DIR] [--rounds N] [--keep-open]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { RoundRecord } from '@fl/coordinator';
import type { JobSpecInput } from '@fl/shared';
import { AdminApi, DATA_DIR, evaluateModel, splitCsv, type GlobalModel } from './harness';
import { AGENT_CLI, COORDINATOR_CLI, run, runToEnd, startCoordinatorProcess, type Running } from './processes';

const PARTIES = [
  { name: 'bank-lisbon', organisation: 'Banco do Atlântico', country: 'PT' },
  { name: 'bank-lyon', organisation: 'Crédit Rhône', country: 'FR' },
  { name: 'lender-madrid', organisation: 'Financiera Meseta', country: 'ES' },
];

const SPEC: JobSpecInput = {
  name: 'credit default',
  model: 'logistic',
  target: 'Status',
  positiveClass: 'bad',
  features: [
    { name: 'Seniority', type: 'numeric' },
    { name: 'Home', type: 'categorical' },
    { name: 'Time', type: 'numeric' },
    { name: 'Age', type: 'numeric' },
    { name: 'Marital', type: 'categorical' },
    { name: 'Records', type: 'categorical' },
    { name: 'Job', type: 'categorical' },
    { name: 'Expenses', type: 'numeric' },
    { name: 'Income', type: 'numeric' },
    { name: 'Assets', type: 'numeric' },
    { name: 'Debt', type: 'numeric' },
    { name: 'Amount', type: 'numeric' },
    { name: 'Price', type: 'numeric' },
  ],
  rounds: 10,
  minParticipants: 3,
  roundDeadlineSeconds: 30,
  localEpochs: 2,
  batchSize: 32,
  learningRate: 0.1,
  l2: 0.0001,
};

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
  const { values } = parseArgs({
    options: { 'data-dir': { type: 'string' }, rounds: { type: 'string' }, 'keep-open': { type: 'boolean' } },
  });
  const dir = path.resolve(values['data-dir'] ?? '.demo');
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
    if (values['data-dir']) throw new Error(`${dir} is not empty; give a new or empty directory`);
    fs.rmSync(dir, { recursive: true });
  }
  const spec = { ...SPEC, rounds: values.rounds ? Number(values.rounds) : SPEC.rounds };
  fs.mkdirSync(dir, { recursive: true });
  const started = Date.now();
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
    console.log(`Federated learning demo: 3 lenders train one credit default model; data stays in ${dir}/parties/*`);
    const split = splitCsv(path.join(DATA_DIR, 'credit_data.csv'), PARTIES.length, { seed: 1, holdout: 0.2, dir });
    const token = 'demo-admin-token-' + Math.random().toString(36).slice(2);
    // The coordinator keeps its store and key in DIR itself, so `fl-coordinator audit verify --data-dir DIR` checks the run.
    const coordinator = await startCoordinatorProcess(['--data-dir', dir, '--admin-token', token]);
    processes.push(coordinator);
    const api = new AdminApi(coordinator.url, token);
    console.log(`coordinator on ${coordinator.url} (store ${path.join(dir, 'coordinator.sqlite')})`);
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
    let shown = 0;
    for (;;) {
      const [{ body: state }, { body: rounds }] = await Promise.all([
        api.request<{ status: string; error: string | null }>('GET', `/api/jobs/${job.id}`),
        api.request<RoundRecord[]>('GET', `/api/jobs/${job.id}/rounds`),
      ]);
      for (const r of rounds.slice(shown)) printRound(r, spec.rounds!);
      shown = rounds.length;
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
    console.log(`model stored in ${path.join(dir, 'coordinator.sqlite')} (every round), served at ${coordinator.url}/api/jobs/${job.id}/model, copied to ${modelFile}`);
    // The audit: the operator recomputes every round from the retained updates; a lender checks an export on its own.
    const audit = await runToEnd(COORDINATOR_CLI, ['audit', 'verify', '--data-dir', dir]);
    console.log(`audit log: ${audit.trimEnd().split('\n').join('\n  ')}`);
    console.log(`check it again at any time: npx fl-coordinator audit verify --data-dir ${dir}`);
    console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    if (values['keep-open']) {
      console.log(`the coordinator and the agents keep running: dashboard on ${coordinator.url}/ (admin token ${token}); Ctrl-C stops them`);
      await new Promise<void>((resolve) => (keptOpen = resolve));
    }
  } finally {
    stopAll();
  }
}

main().catch((err: Error) => {
  console.error(`demo failed: ${err.message}`);
  process.exit(1);
});
