/**
 * The dashboard in a real browser: Debian's Chromium, headless, driven by
 * Playwright, against a coordinator with three real agents training on the
 * breast cancer data. An admin signs in with a password, creates a job with
 * the form, watches rounds arrive live in the chart and the table, and
 * downloads the model; then invites a site, which enrolls with the token the
 * page shows, approves it, revokes another, reads and verifies the audit log,
 * and manages users and API tokens. A viewer sees everything and can change
 * nothing. A browser that asks for German gets the dashboard in German, and in
 * French once switched. Screenshots go to test/artifacts/ (1280×800 and a narrow
 * phone width).
 */
// The page functions passed to the browser run there, on its DOM.
/// <reference lib="dom" />
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { io, type Socket } from 'socket.io-client';
import { startCoordinator, type RunningCoordinator } from '@fl/coordinator';
import {
  encodeWeights,
  epsilonAfter,
  fingerprint,
  generateKeyPair,
  randomNonce,
  sha256Hex,
  signHeader,
  type ErrorBody,
  type JobSpec,
  type KeyPair,
  type LocalStatistics,
  type StatisticsRequest,
  type TrainMessage,
} from '@fl/shared';
import { computeStatistics, enroll, loadLocalData, type ParticipantAgent } from '@fl/participant-agent';
import {
  AdminApi,
  DATA_DIR,
  declaredFeatures,
  evaluateModel,
  eventually,
  featuresOf,
  registerParticipant,
  REPO_ROOT,
  splitCsv,
  startAgent,
  tempDir,
  type GlobalModel,
  type Split,
} from './harness';
import { run } from './processes';
import { connectRaw, craftUpdate, emitWithAck, handshakeAuth } from './raw-client';

jest.setTimeout(300_000);

const CHROMIUM = '/usr/bin/chromium';
/** As root in a container, without the network: no sandbox, no calls home. */
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
const ARTIFACTS = path.join(REPO_ROOT, 'test', 'artifacts');
const ADMIN_TOKEN = 'test-admin-token-0123456789';
const VIEWER_TOKEN = 'test-viewer-token-0123456789';
/** Users made through the REST API with the admin token, as an operator would make the first ones. */
const ADMIN_USER = { name: 'ada', password: 'ada-correct-horse-1', role: 'admin' };
const VIEWER_USER = { name: 'grace', password: 'grace-battery-staple-2', role: 'viewer' };
/** A site invited from the dashboard: it enrolls its key with the token the page shows. */
const INVITED = { name: 'hospital-geneva', organisation: 'Hôpitaux Universitaires de Genève', country: 'CH' };
const HOSPITALS = [
  { name: 'hospital-lisbon', organisation: 'Hospital de Santa Luzia' },
  { name: 'hospital-lyon', organisation: 'Clinique du Rhône' },
  { name: 'hospital-madrid', organisation: 'Hospital Universitario Meseta' },
];
/**
 * Connected, but never answers: each training round waits a set time for it
 * after the three others have replied, which paces the rounds whatever the
 * machine's speed. The statistics phase and each evaluation (every 5th round)
 * wait for it until the deadline.
 */
const SILENT = { name: 'clinic-porto', organisation: 'Clínica do Porto' };
const WAIT_AFTER_MINIMUM_SECONDS = 0.3;
const ROUNDS = 20;
const WIDE = { width: 1280, height: 800 };
const NARROW = { width: 390, height: 844 };

describe('the dashboard in a browser', () => {
  const file = `${DATA_DIR}/breast_cancer.csv`;
  const keys = new Map<string, Uint8Array>();
  const browserErrors: string[] = [];
  let coordinator: RunningCoordinator;
  let api: AdminApi;
  let split: Split;
  let agents: ParticipantAgent[];
  let context: BrowserContext;
  let page: Page;
  let jobId: string;
  let silent: Socket;

  const roundRows = () => page.getByTestId('round-table').locator('tbody tr[data-round]');
  /** Points of the training loss line: the path's first point and one per `L` segment. */
  const lossPoints = async () => {
    const line = page.getByTestId('chart-loss').locator('path.recharts-line-curve').first();
    if ((await line.count()) === 0) return 0;
    const d = (await line.getAttribute('d')) ?? '';
    return d ? (d.match(/L/g)?.length ?? 0) + 1 : 0;
  };
  const watchErrors = (p: Page) => {
    p.on('pageerror', (err) => browserErrors.push(err.message));
    p.on('console', (message) => {
      // The refused requests this test makes on purpose are logged by Chromium too.
      if (message.type() === 'error' && !/status of (401|403|409|429)/.test(message.text())) browserErrors.push(message.text());
    });
  };
  const signIn = async (p: Page, user: { name: string; password: string }) => {
    await p.getByLabel('User name').fill(user.name);
    const password = p.getByLabel('Password');
    await password.fill(user.password);
    await password.press('Enter');
  };
  const signInWithToken = async (p: Page, token: string) => {
    await p.getByRole('button', { name: 'Sign in with an API token' }).click();
    const field = p.getByLabel('Access token');
    await field.fill(token);
    await field.press('Enter');
  };
  /** The token a tab signed in with, where the dashboard keeps it. */
  const tabToken = (p: Page) => p.evaluate(() => (JSON.parse(sessionStorage.getItem('fl-dashboard-session')!) as { token: string }).token);
  const participantRow = (name: string, on: Page = page) => on.getByTestId('participants-table').locator(`tr[data-participant="${name}"]`);
  const screenshot = async (name: string, size: { width: number; height: number }, on: Page = page) => {
    await on.setViewportSize(size);
    // Away from the charts: a hovered chart would show its tooltip.
    await on.mouse.move(0, 0);
    await on.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    await on.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
    // The page may be as long as it needs, but never wider than the screen.
    expect(await on.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(size.width);
  };

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`no ${CHROMIUM}: install Debian's chromium (apt-get install chromium)`);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    coordinator = await startCoordinator({
      port: 0,
      dataDir: tempDir('dashboard'),
      logLevel: 'error',
      adminToken: ADMIN_TOKEN,
      viewerToken: VIEWER_TOKEN,
    });
    api = AdminApi.of(coordinator);
    for (const user of [ADMIN_USER, VIEWER_USER]) expect(await api.request('POST', '/api/users', user)).toMatchObject({ status: 201 });
    split = splitCsv(file, HOSPITALS.length, { seed: 11, holdout: 0.2, dir: tempDir('dashboard-split') });
    agents = [];
    for (const [i, { name, organisation }] of HOSPITALS.entries()) {
      const pair = await registerParticipant(api, name, organisation);
      keys.set(name, pair.publicKey);
      agents.push(await startAgent(coordinator, name, split.parties[i], { keys: pair }));
    }
    const silentKeys = await registerParticipant(api, SILENT.name, SILENT.organisation);
    keys.set(SILENT.name, silentKeys.publicKey);
    ({ socket: silent } = await connectRaw(coordinator.url, handshakeAuth(silentKeys)));
    context = await chromium.launchPersistentContext(tempDir('chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: WIDE,
      acceptDownloads: true,
    });
    page = context.pages()[0] ?? (await context.newPage());
    watchErrors(page);
  });

  afterAll(async () => {
    await context?.close();
    silent?.close();
    agents?.forEach((a) => a.stop());
    await coordinator?.close();
  });

  it('signs in with a user name and password, by keyboard, after refusing wrong ones', async () => {
    await page.goto(`${coordinator.url}/jobs`);
    await expect(page.title()).resolves.toBe('Sign in · FL consortium');
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('user-name');
    await screenshot('dashboard-sign-in', WIDE);

    // The secondary way, with a token: a wrong one is refused in its own words.
    await signInWithToken(page, 'not-the-token-0123456789');
    await page.getByText('The coordinator does not know this token.').waitFor();
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('token');
    await page.getByRole('button', { name: 'Sign in with a user name and password' }).click();

    await signIn(page, { name: ADMIN_USER.name, password: 'not-the-password-0123' });
    await page.getByText('Wrong user name or password.').waitFor();
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('password');
    await expect(page.getByLabel('Password').inputValue()).resolves.toBe('');
    // Too many failures: the coordinator's answer is played here, since real ones would lock this address out for a minute.
    await page.route(
      '**/api/session',
      (route) =>
        route.fulfill({
          status: 429,
          contentType: 'application/json',
          body: JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'too many failed sign-ins; wait up to 60s' } }),
        }),
      { times: 1 },
    );
    await signIn(page, ADMIN_USER);
    await page.getByText('Too many failed sign-ins').waitFor();

    await signIn(page, ADMIN_USER);
    await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
    expect(await page.getByTestId('role').textContent()).toBe('admin');
    expect(await page.getByTestId('user').textContent()).toBe(ADMIN_USER.name);
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
  });

  it('lists the participants: organisation, key fingerprint, approval, online', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Participants' }).click();
    const table = page.getByTestId('participants-table');
    await eventually(() => table.locator('tbody tr').count(), (n) => n === HOSPITALS.length + 1);
    for (const { name, organisation } of [...HOSPITALS, SILENT]) {
      const row = participantRow(name);
      await expect(row.textContent()).resolves.toContain(organisation);
      await expect(row.locator('code').textContent()).resolves.toBe(fingerprint(keys.get(name)!));
      await expect(row.locator('.presence').textContent()).resolves.toBe('online');
      // Registered directly with the admin token: approved at once, by that token.
      await expect(row.getByTestId('participant-status').textContent()).resolves.toBe('approved');
      await expect(row.getByTestId('decided').textContent()).resolves.toContain('by the admin token');
    }
    expect(await page.getByTestId('pending-table').count()).toBe(0);
  });

  it('checks the job form with the API schema and shows each problem next to its field', async () => {
    await page.getByRole('link', { name: 'Jobs' }).first().click();
    await page.getByRole('link', { name: 'New job' }).click();
    await page.getByLabel('Name').fill('diagnosis, live');
    await page.getByLabel('Model').selectOption('logistic');
    await page.getByLabel('Target column').fill('diagnosis');
    // The whole CSV header, target included, and a negative learning rate: two mistakes.
    await page.getByLabel('Feature columns').fill(fs.readFileSync(file, 'utf8').split('\n')[0]);
    await page.getByLabel('Learning rate').fill('-1');
    await page.getByRole('button', { name: 'Create and start the job' }).click();

    const featuresError = page.locator('[data-field-error="features"]');
    await expect(featuresError.textContent()).resolves.toBe('diagnosis: the target cannot be a feature');
    await expect(page.locator('[data-field-error="learningRate"]').textContent()).resolves.toMatch(/>0|positive/i);
    await expect(page.getByLabel('Feature columns').getAttribute('aria-describedby')).resolves.toContain('field-features-error');
    // The keyboard is taken to the first field with a problem.
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('field-features');
    await screenshot('dashboard-new-job-errors', WIDE);
    expect(await api.request('GET', '/api/jobs')).toMatchObject({ body: [] });

    await page.getByLabel('Feature columns').fill(featuresOf(file, 'diagnosis').map((f) => f.name).join('\n'));
    await expect(featuresError.textContent()).resolves.toBe('');
    await page.getByLabel('Positive class').fill('malignant');
    const settings: Record<string, string> = {
      Rounds: String(ROUNDS),
      'Minimum participants': '3',
      'Round deadline': '2',
      'Wait after the minimum': String(WAIT_AFTER_MINIMUM_SECONDS),
      'Local epochs': '2',
      'Batch size': '8',
      'Learning rate': '0.05',
      'L2 penalty': '0.001',
      'Evaluate every': '5',
    };
    for (const [label, value] of Object.entries(settings)) await page.getByLabel(label, { exact: true }).fill(value);
    await page.getByRole('button', { name: 'Create and start the job' }).click();
    await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
    jobId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    const job = await api.job(jobId);
    expect(job.spec).toMatchObject({
      name: 'diagnosis, live',
      rounds: ROUNDS,
      minParticipants: 3,
      waitAfterMinimumSeconds: WAIT_AFTER_MINIMUM_SECONDS,
      learningRate: 0.05,
      positiveClass: 'malignant',
    });
    expect(job.spec.features).toHaveLength(30);
  });

  it('draws the rounds live, in the chart and the table, one after another', async () => {
    await page.getByRole('heading', { level: 1, name: 'diagnosis, live' }).waitFor();
    expect(await page.getByRole('group', { name: 'Job controls' }).getByRole('button').allTextContents()).toEqual(['Pause', 'Resume', 'Stop']);
    // Set on this document: still there at the end, the page was never reloaded.
    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    const seen: { rows: number; points: number }[] = [];
    await eventually(
      async () => {
        const rows = await roundRows().count();
        if (rows > 0 && rows !== seen.at(-1)?.rows) seen.push({ rows, points: await lossPoints() });
        return seen.length;
      },
      (n) => n >= 3,
      180_000,
    );
    const rows = seen.map((s) => s.rows);
    expect(rows).toEqual([...rows].sort((a, b) => a - b));
    // Three sightings before the last round: the rounds arrived while the page was open.
    expect(rows[2]).toBeLessThan(ROUNDS);
    // The chart keeps up with the table (it may hold a round more, counted a moment later); a line needs two rounds.
    for (const { rows: n, points } of seen.filter((s) => s.rows >= 2)) expect(points).toBeGreaterThanOrEqual(n);
    await expect(page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).resolves.toBe(true);
    // Half way, with the silent participant's failures in the chart: the picture of a job under way.
    await eventually(() => roundRows().count(), (n) => n >= ROUNDS * 0.6, 120_000);
    await screenshot('dashboard-job', WIDE);
  });

  it('pauses and resumes the job from its page', async () => {
    const controls = page.getByRole('group', { name: 'Job controls' });
    const status = page.getByTestId('job-status');
    await controls.getByRole('button', { name: 'Pause' }).click();
    await status.filter({ hasText: /^paused$/ }).waitFor();
    expect(await controls.getByRole('button', { name: 'Pause' }).isDisabled()).toBe(true);
    await controls.getByRole('button', { name: 'Resume' }).click();
    await status.filter({ hasNotText: /^paused$/ }).waitFor();
    expect((await api.job(jobId)).status).not.toBe('paused');
  });

  it('follows the job to its end, live', async () => {
    await page.getByTestId('job-status').filter({ hasText: 'completed' }).waitFor({ timeout: 240_000 });
    await expect(page.getByTestId('job-round').textContent()).resolves.toBe(`${ROUNDS} of ${ROUNDS}`);
    // A job created without a strategy is FedAvg, weighted by sample count.
    await expect(page.getByTestId('job-strategy').textContent()).resolves.toBe('fedavg:weighting=samples');
    await expect(page.getByTestId('job-privacy').textContent()).resolves.toBe("none: the coordinator sees each site's update");
    await eventually(() => roundRows().count(), (n) => n === ROUNDS, 10_000);
    await eventually(lossPoints, (n) => n === ROUNDS, 10_000);
    const first = roundRows().last();
    await expect(first.locator('th').textContent()).resolves.toBe('1');
    await expect(page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).resolves.toBe(true);
  });

  it('downloads the global model: the weights of the last round, which predict held-out rows', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download the global model' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`diagnosis-live-round-${ROUNDS}.json`);
    const model = JSON.parse(fs.readFileSync((await download.path())!, 'utf8')) as GlobalModel;
    const rounds = await api.rounds(jobId);
    expect(model.round).toBe(ROUNDS);
    expect(model.weights).toHaveLength(31);
    expect(sha256Hex(encodeWeights(Float32Array.from(model.weights)))).toBe(rounds[ROUNDS - 1].modelSha256);
    const spec: JobSpec = (await api.job(jobId)).spec;
    expect(evaluateModel(model, spec, split.holdout).accuracy).toBeGreaterThanOrEqual(0.9);
    await page.getByText(`Model of round ${ROUNDS}, SHA-256 ${model.sha256.slice(0, 16)}`).waitFor();
  });

  it('shows the job page on a narrow screen without sideways scrolling', async () => {
    await screenshot('dashboard-job-narrow', NARROW);
    await page.setViewportSize(WIDE);
  });

  it('counts the rounds each participant contributed to', async () => {
    await page.getByRole('link', { name: 'Participants' }).click();
    const table = page.getByTestId('participants-table');
    const contributed = (name: string) => table.locator(`tr[data-participant="${name}"]`).getByTestId('rounds-contributed').textContent();
    for (const { name } of HOSPITALS) await eventually(() => contributed(name), (text) => text === String(ROUNDS));
    await expect(contributed(SILENT.name)).resolves.toBe('0');
    await screenshot('dashboard-participants', WIDE);
    await screenshot('dashboard-participants-narrow', NARROW);
    await page.setViewportSize(WIDE);
  });

  it('invites a site, which enrolls with the token shown, and approves the enrollment', async () => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: coordinator.url });
    const form = page.getByRole('group', { name: 'Invite a site' });
    await form.getByLabel('Organisation').fill(INVITED.organisation);
    await form.getByLabel('Country').fill(INVITED.country);
    await form.getByLabel('Participant name').fill(INVITED.name);
    await form.getByLabel('Expires after, hours').fill('24');
    await form.getByRole('button', { name: 'Create the invitation' }).click();

    // Shown this once, with the command the site runs, filled in.
    const token = (await page.getByTestId('invitation-token').textContent())!;
    expect(token).toMatch(/^fl_inv_[A-Za-z0-9_-]{43}$/);
    const command = `fl-agent enroll --coordinator ${coordinator.url} --token ${token} --key key.json --name ${INVITED.name}`;
    await expect(page.getByTestId('enroll-command').textContent()).resolves.toBe(command);
    await page.getByRole('button', { name: 'Copy the command' }).click();
    await page.getByText('Copied.').waitFor();
    await expect(page.evaluate(() => navigator.clipboard.readText())).resolves.toBe(command);
    const invitation = page.getByTestId('invitations-table').locator('tr', { hasText: INVITED.organisation });
    await expect(invitation.getByTestId('invitation-status').textContent()).resolves.toBe('open');
    await screenshot('dashboard-invitation', WIDE);

    const site = generateKeyPair();
    const { enrolled } = await enroll({ coordinatorUrl: coordinator.url, token, name: INVITED.name, keys: site });
    expect(enrolled).toMatchObject({ participant: INVITED.name, organisation: INVITED.organisation, country: INVITED.country, status: 'pending' });

    // Enrollments come over REST, not the live feed: the page looks again by itself.
    const pending = page.getByTestId('pending-table').locator(`tr[data-participant="${INVITED.name}"]`);
    await pending.waitFor({ timeout: 60_000 });
    await expect(pending.textContent()).resolves.toContain(INVITED.organisation);
    await expect(pending.locator('code').textContent()).resolves.toBe(fingerprint(site.publicKey));
    await expect(participantRow(INVITED.name).getByTestId('participant-status').textContent()).resolves.toBe('pending');
    await invitation.getByTestId('invitation-status').filter({ hasText: /^used$/ }).waitFor();
    await page.getByRole('button', { name: 'Done, it is copied' }).click();
    expect(await page.getByTestId('invitation-token').count()).toBe(0);
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot('dashboard-participants-pending', WIDE);

    await pending.getByRole('button', { name: `Approve ${INVITED.name}` }).click();
    await page.getByTestId('pending-table').waitFor({ state: 'detached' });
    const row = participantRow(INVITED.name);
    await expect(row.getByTestId('participant-status').textContent()).resolves.toBe('approved');
    await expect(row.getByTestId('decided').textContent()).resolves.toContain(`by ${ADMIN_USER.name}`);
    const { body: participants } = await api.request<{ name: string; status: string; decidedBy: string }[]>('GET', '/api/participants');
    expect(participants.find((p) => p.name === INVITED.name)).toMatchObject({ status: 'approved', decidedBy: `user:${ADMIN_USER.name}` });

    // Without a participant name the site chooses one: the command says where. This one is cancelled unused.
    await form.getByLabel('Organisation').fill('Klinikum Nord');
    await form.getByRole('button', { name: 'Create the invitation' }).click();
    await expect(page.getByTestId('enroll-command').textContent()).resolves.toMatch(/ --key key\.json --name NAME$/);
    await page.getByRole('button', { name: 'Done, it is copied' }).click();
    const unused = page.getByTestId('invitations-table').locator('tr', { hasText: 'Klinikum Nord' });
    await unused.getByRole('button', { name: 'Cancel the invitation for Klinikum Nord' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel the invitation' }).click();
    await unused.getByTestId('invitation-status').filter({ hasText: /^cancelled$/ }).waitFor();
    expect(await unused.getByRole('button').count()).toBe(0);
  });

  it('revokes a participant, with a reason, which closes its connection at once', async () => {
    const closing = new Promise<ErrorBody>((resolve) => silent.once('closing', resolve));
    const row = participantRow(SILENT.name);
    await expect(row.locator('.presence').textContent()).resolves.toBe('online');
    await row.getByRole('button', { name: `Revoke ${SILENT.name}` }).click();
    const dialog = page.getByRole('dialog', { name: `Revoke ${SILENT.name}?` });
    await dialog.getByLabel('Reason (optional)').fill('never answers');
    await dialog.getByRole('button', { name: 'Revoke' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await row.getByTestId('participant-status').filter({ hasText: /^revoked$/ }).waitFor();
    await row.locator('.presence').filter({ hasText: /^offline$/ }).waitFor();
    expect(await row.getByRole('button').count()).toBe(0);
    await expect(closing).resolves.toMatchObject({ code: 'REVOKED', message: expect.stringContaining('never answers') });
  });

  it('lists the audit log, newest first, a page at a time, and verifies it', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
    const rows = page.getByTestId('audit-table').locator('tbody tr');
    await rows.first().waitFor();
    const { body: log } = await api.request<{ head: { seq: number } }>('GET', '/api/audit?limit=1');
    const seqs = () => rows.evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-seq'))));
    // Twenty rounds of three updates and a commit each: more than a page of 50.
    expect(log.head.seq).toBeGreaterThan(50);
    const shown = await seqs();
    expect(shown).toHaveLength(50);
    expect(shown[0]).toBe(log.head.seq);
    expect(shown).toEqual([...shown].sort((a, b) => b - a));

    const revoked = rows.first();
    await expect(revoked.getAttribute('data-kind')).resolves.toBe('participant.revoked');
    await expect(revoked.textContent()).resolves.toContain(`user:${ADMIN_USER.name}`);
    await expect(revoked.textContent()).resolves.toContain(`${SILENT.name}: never answers`);
    const last = (await api.rounds(jobId))[ROUNDS - 1];
    // Named by the job's name once the job list is in (loaded beside the log).
    const summary = `round ${ROUNDS} of “diagnosis, live”, ${last.contributors.length} contributors, sha256 ${last.modelSha256.slice(0, 8)}…`;
    await page.locator('tr[data-kind="model.committed"]').filter({ hasText: summary }).waitFor();

    await page.getByRole('button', { name: 'Load older records' }).click();
    await rows.nth(50).waitFor();
    const more = await seqs();
    expect(more).toHaveLength(Math.min(100, log.head.seq));
    expect(more).toEqual([...more].sort((a, b) => b - a));
    expect(more.at(-1)).toBe(Math.max(1, log.head.seq - 99));

    await page.getByRole('button', { name: 'Verify' }).click();
    const verification = page.getByTestId('audit-verification');
    await verification.getByRole('heading', { name: 'The log verifies' }).waitFor({ timeout: 60_000 });
    expect(await verification.locator('li').count()).toBeGreaterThan(0);
    expect(await page.getByTestId('audit-failure').count()).toBe(0);
    await screenshot('dashboard-audit', WIDE);

    // The job's records, from the job's page: the filter in the address, each row one of the API's for that job, newest first.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
    await page.getByRole('link', { name: 'diagnosis, live' }).click();
    await page.getByRole('link', { name: "This job's audit records" }).click();
    await page.waitForURL((url) => url.pathname === '/audit' && url.search === `?job=${encodeURIComponent(jobId)}`);
    const filtered = async (query: string) => {
      const { body } = await api.request<{ records: { seq: number; data: { job?: string } }[]; more: boolean }>('GET', `/api/audit?${query}&before=${log.head.seq + 1}&limit=50`);
      return { seqs: body.records.map((r) => r.seq).reverse(), jobs: new Set(body.records.map((r) => r.data.job)), more: body.more };
    };
    const ofJob = await filtered(`job=${encodeURIComponent(jobId)}`);
    expect(ofJob).toMatchObject({ jobs: new Set([jobId]), more: true });
    await eventually(seqs, (shown) => JSON.stringify(shown) === JSON.stringify(ofJob.seqs));
    await expect(page.getByLabel('Job', { exact: true }).inputValue()).resolves.toBe(jobId);
    expect(await page.getByRole('button', { name: 'Load older records' }).count()).toBe(1);
    await screenshot('dashboard-audit-job-narrow', NARROW);
    await page.setViewportSize(WIDE);

    // Its commits only: one a round, all on one page.
    await page.getByLabel('Kind', { exact: true }).selectOption('model.committed');
    await page.waitForURL((url) => url.search === `?job=${encodeURIComponent(jobId)}&kind=model.committed`);
    await page.locator('tr[data-kind="model.committed"]').filter({ hasText: summary }).waitFor();
    await eventually(() => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-kind'))), (kinds) => kinds.length === ROUNDS && kinds.every((k) => k === 'model.committed'));
    expect(await page.getByRole('button', { name: 'Load older records' }).count()).toBe(0);
    await screenshot('dashboard-audit-job-commits', WIDE);
    // Back to the job's records, as the address was.
    await page.goBack();
    await eventually(seqs, (shown) => JSON.stringify(shown) === JSON.stringify(ofJob.seqs));

    // A participant's records, from its row on the participants page: its registration, its updates and the commits it contributed to, on one page.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Participants' }).click();
    await participantRow(HOSPITALS[0].name).getByRole('link', { name: `Audit records about ${HOSPITALS[0].name}` }).click();
    await page.waitForURL((url) => url.pathname === '/audit' && url.search === `?participant=${HOSPITALS[0].name}`);
    const ofParticipant = await filtered(`participant=${HOSPITALS[0].name}`);
    await eventually(seqs, (shown) => JSON.stringify(shown) === JSON.stringify(ofParticipant.seqs));
    expect(ofParticipant.more).toBe(false);
    await expect(page.getByLabel('Participant', { exact: true }).inputValue()).resolves.toBe(HOSPITALS[0].name);
    const kinds = new Set(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-kind'))));
    expect(kinds).toEqual(new Set(['participant.registered', 'update.accepted', 'model.committed']));
    expect(await page.getByRole('button', { name: 'Load older records' }).count()).toBe(0);
  });

  it('adds and removes users, and makes and revokes API tokens', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    const users = page.getByTestId('users-table');
    await users.locator(`tr[data-user="${VIEWER_USER.name}"]`).waitFor();
    const addUser = page.getByRole('group', { name: 'Add a user' });
    await addUser.getByLabel('User name').fill('linus');
    await addUser.getByLabel('Password').fill('too-short');
    await addUser.getByRole('button', { name: 'Add the user' }).click();
    await expect(page.locator('[data-field-error="password"]').textContent()).resolves.toBe('At least 12 characters.');
    await addUser.getByLabel('Password').fill('linus-long-password-3');
    await addUser.getByLabel('Role').selectOption('admin');
    await addUser.getByRole('button', { name: 'Add the user' }).click();
    await users.locator('tr[data-user="linus"]').filter({ hasText: 'admin' }).waitFor();

    const makeToken = page.getByRole('group', { name: 'Make an API token' });
    await makeToken.getByLabel('Label').fill('nightly export');
    await makeToken.getByRole('button', { name: 'Make the token' }).click();
    const token = (await page.getByTestId('api-token').textContent())!;
    expect(token).toMatch(/^fl_api_/);
    const session = (t: string) => fetch(`${coordinator.url}/api/session`, { headers: { authorization: `Bearer ${t}` } });
    await expect((await session(token)).json()).resolves.toEqual({ role: 'admin', user: ADMIN_USER.name });
    await screenshot('dashboard-users', WIDE);

    const tokenRow = page.getByTestId('tokens-table').locator('tr', { hasText: 'nightly export' });
    await tokenRow.getByRole('button', { name: 'Revoke the token nightly export' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await tokenRow.waitFor({ state: 'detached' });
    expect((await session(token)).status).toBe(401);

    await users.getByRole('button', { name: 'Remove linus' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await users.locator('tr[data-user="linus"]').waitFor({ state: 'detached' });
    // One cannot remove oneself here: that would end this very session.
    expect(await users.locator(`tr[data-user="${ADMIN_USER.name}"]`).getByRole('button').count()).toBe(0);
  });

  it('lets a viewer see everything but change nothing', async () => {
    const viewer = await context.newPage();
    watchErrors(viewer);
    try {
      await viewer.goto(`${coordinator.url}/jobs/${jobId}`);
      await signIn(viewer, VIEWER_USER);
      await viewer.getByRole('heading', { level: 1, name: 'diagnosis, live' }).waitFor();
      expect(await viewer.getByTestId('role').textContent()).toBe('viewer · read-only');
      expect(await viewer.getByTestId('user').textContent()).toBe(VIEWER_USER.name);
      const sessionToken = await tabToken(viewer);
      await eventually(() => viewer.getByTestId('round-table').locator('tbody tr[data-round]').count(), (n) => n === ROUNDS);
      const controls: Locator = viewer.getByRole('group', { name: 'Job controls' });
      expect(await controls.count()).toBe(0);
      expect(await viewer.getByRole('button', { name: 'Download the global model' }).isEnabled()).toBe(true);
      await screenshot('dashboard-viewer-job', WIDE, viewer);

      await viewer.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
      await viewer.getByRole('link', { name: 'diagnosis, live' }).waitFor();
      expect(await viewer.getByRole('link', { name: 'New job' }).count()).toBe(0);
      await screenshot('dashboard-viewer-jobs-narrow', NARROW, viewer);
      await viewer.goto(`${coordinator.url}/jobs/new`);
      await viewer.getByText('You are signed in as a viewer').waitFor();
      expect(await viewer.getByRole('button', { name: /create/i }).count()).toBe(0);

      // Participants and invitations, read-only: no decision, no revocation, no invitation.
      const navigation = viewer.getByRole('navigation', { name: 'Main' });
      await navigation.getByRole('link', { name: 'Participants' }).click();
      await participantRow(INVITED.name, viewer).getByTestId('participant-status').filter({ hasText: /^approved$/ }).waitFor();
      await participantRow(SILENT.name, viewer).getByTestId('participant-status').filter({ hasText: /^revoked$/ }).waitFor();
      await viewer.getByTestId('invitations-table').locator('tr', { hasText: INVITED.organisation }).waitFor();
      expect(await viewer.getByTestId('participants-table').getByRole('button').count()).toBe(0);
      expect(await viewer.getByTestId('invitations-table').getByRole('button').count()).toBe(0);
      expect(await viewer.getByRole('group', { name: 'Invite a site' }).count()).toBe(0);
      expect(await viewer.getByRole('button', { name: /approve|reject|revoke|invitation/i }).count()).toBe(0);
      // Users are the admins' alone: no link, and the page says why.
      expect(await navigation.getByRole('link', { name: 'Users' }).count()).toBe(0);
      await navigation.getByRole('link', { name: 'Audit log' }).click();
      await viewer.getByTestId('audit-table').locator('tbody tr').first().waitFor();
      await viewer.goto(`${coordinator.url}/users`);
      await viewer.getByText('only admins manage users').waitFor();

      // The server enforces the role, whatever the page shows: no new job, no resumed one, no revocation, no invitation.
      const post = (route: string, body?: unknown) =>
        viewer.evaluate(
          async ([route, token, body]) => {
            const response = await fetch(route, {
              method: 'POST',
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              body: JSON.stringify(body ?? {}),
            });
            return { status: response.status, body: await response.json() };
          },
          [route, sessionToken, body] as const,
        );
      const forbidden = { status: 403, body: { error: { code: 'FORBIDDEN', message: expect.any(String) } } };
      await expect(post('/api/jobs', { model: 'linear', target: 'y', features: [{ name: 'x', type: 'numeric' }] })).resolves.toEqual(forbidden);
      await expect(post(`/api/jobs/${jobId}/resume`)).resolves.toEqual(forbidden);
      await expect(post(`/api/participants/${INVITED.name}/revoke`)).resolves.toEqual(forbidden);
      await expect(post('/api/invitations', { organisation: 'Nobody', country: 'XX' })).resolves.toEqual(forbidden);
      expect(await api.request('GET', '/api/jobs')).toMatchObject({ body: [{ id: jobId, status: 'completed' }] });
      const { body: participants } = await api.request<{ name: string; status: string }[]>('GET', '/api/participants');
      expect(participants.find((p) => p.name === INVITED.name)?.status).toBe('approved');

      // Signing out ends the session on the coordinator, not only in the tab.
      await viewer.getByRole('button', { name: 'Sign out' }).click();
      await viewer.getByRole('heading', { level: 1, name: 'FL consortium' }).waitFor();
      const refused = await fetch(`${coordinator.url}/api/session`, { headers: { authorization: `Bearer ${sessionToken}` } });
      expect(refused.status).toBe(401);
      // A session that ends elsewhere (it expired, say) takes the tab back to sign-in by itself, saying why:
      // the coordinator drops the tab's live feed with it, and any request still under way is refused.
      await signIn(viewer, VIEWER_USER);
      await viewer.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
      await navigation.getByRole('link', { name: 'Participants' }).click();
      await participantRow(INVITED.name, viewer).waitFor();
      await viewer.getByRole('status').filter({ hasText: /^Live$/ }).waitFor();
      const second = await tabToken(viewer);
      const ended = await fetch(`${coordinator.url}/api/session`, { method: 'DELETE', headers: { authorization: `Bearer ${second}` } });
      expect(ended.status).toBe(204);
      await viewer.getByText('The coordinator no longer accepts this session').waitFor();
      // The configured viewer token still signs in, as the secondary way, back on the page the tab was on.
      await signInWithToken(viewer, VIEWER_TOKEN);
      await viewer.getByRole('heading', { level: 1, name: 'Participants' }).waitFor();
      expect(await viewer.getByTestId('role').textContent()).toBe('viewer · read-only');
      expect(await viewer.getByTestId('user').textContent()).toBe('configured token');
    } finally {
      await viewer.close();
    }
  });

  it('speaks German to a browser that asks for it, and French once switched, which it remembers', async () => {
    const german = await chromium.launchPersistentContext(tempDir('chromium-profile-de'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: WIDE,
      locale: 'de-DE',
    });
    try {
      const tab = german.pages()[0] ?? (await german.newPage());
      watchErrors(tab);
      await tab.goto(`${coordinator.url}/jobs/${jobId}`);
      await expect(tab.title()).resolves.toBe('Anmelden · FL-Konsortium');
      await expect(tab.evaluate(() => document.documentElement.lang)).resolves.toBe('de');
      await tab.getByLabel('Benutzername').fill(ADMIN_USER.name);
      await tab.getByLabel('Passwort').fill('not-the-password-0123');
      await tab.getByLabel('Passwort').press('Enter');
      await tab.getByText('Benutzername oder Passwort falsch.').waitFor();
      await tab.getByLabel('Passwort').fill(ADMIN_USER.password);
      await tab.getByRole('button', { name: 'Anmelden', exact: true }).click();

      // The job page: words, numbers and dates in German.
      await tab.getByRole('heading', { level: 1, name: 'diagnosis, live' }).waitFor();
      expect(await tab.getByTestId('role').textContent()).toBe('Admin');
      await tab.getByRole('status').filter({ hasText: /^Live$/ }).waitFor();
      await expect(tab.getByTestId('job-status').textContent()).resolves.toBe('abgeschlossen');
      await expect(tab.getByTestId('job-round').textContent()).resolves.toBe(`${ROUNDS} von ${ROUNDS}`);
      expect(await tab.getByRole('group', { name: 'Auftragssteuerung' }).getByRole('button').allTextContents()).toEqual(['Pausieren', 'Fortsetzen', 'Stoppen']);
      const table = tab.getByTestId('round-table');
      await expect(table.locator('caption').textContent()).resolves.toBe('Runden, neueste zuerst');
      await eventually(() => table.locator('tbody tr[data-round]').count(), (n) => n === ROUNDS);
      // A decimal comma in the metrics, and day.month.year in the creation date.
      const latest = table.locator(`tr[data-round="${ROUNDS}"]`);
      await expect(latest.locator('td').nth(2).textContent()).resolves.toMatch(/^\d+,\d{4}$/);
      await expect(tab.locator('dl.facts').textContent()).resolves.toMatch(/Angelegt\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}:\d{2}/);
      await screenshot('dashboard-de-job', WIDE, tab);
      // German's longer words still fit a phone's width.
      await screenshot('dashboard-de-job-narrow', NARROW, tab);
      await tab.setViewportSize(WIDE);

      // The audit log's summaries, with the language's quotation marks and plurals.
      const navigation = tab.getByRole('navigation', { name: 'Hauptmenü' });
      await navigation.getByRole('link', { name: 'Prüfprotokoll' }).click();
      const last = (await api.rounds(jobId))[ROUNDS - 1];
      const committed = `Runde ${ROUNDS} von „diagnosis, live“, ${last.contributors.length} Beitragende, sha256 ${last.modelSha256.slice(0, 8)}…`;
      await tab.locator('tr[data-kind="model.committed"]').filter({ hasText: committed }).waitFor();
      // Each kind in words, the API's name of it in the tooltip.
      const kind = tab.locator('tr[data-kind="model.committed"]').first().locator('.kind');
      await expect(kind.textContent()).resolves.toBe('Runde festgeschrieben');
      await expect(kind.getAttribute('title')).resolves.toBe('model.committed');
      await expect(tab.getByLabel('Art', { exact: true }).locator('option[value="participant.revoked"]').textContent()).resolves.toBe('Teilnehmer widerrufen');

      // The API's refusal, by its code, in German; the form's own check too.
      await navigation.getByRole('link', { name: 'Benutzer' }).click();
      const addUser = tab.getByRole('group', { name: 'Benutzer anlegen' });
      await addUser.getByLabel('Benutzername').fill(VIEWER_USER.name);
      await addUser.getByLabel('Passwort').fill('kurz');
      await addUser.getByRole('button', { name: 'Benutzer anlegen' }).click();
      await expect(tab.locator('[data-field-error="password"]').textContent()).resolves.toBe('Mindestens 12 Zeichen.');
      await addUser.getByLabel('Passwort').fill('a-long-enough-password-4');
      await addUser.getByRole('button', { name: 'Benutzer anlegen' }).click();
      await addUser.getByRole('alert').filter({ hasText: 'Das gibt es bereits, oder es ist nicht mehr in einem Zustand, der das erlaubt.' }).waitFor();

      // The switch: French from now on, in this tab and after a reload, whatever the browser asks for.
      await tab.getByTestId('language').selectOption('fr');
      await tab.getByRole('heading', { level: 1, name: 'Utilisateurs' }).waitFor();
      await expect(tab.evaluate(() => document.documentElement.lang)).resolves.toBe('fr');
      await tab.reload();
      const navigation_fr = tab.getByRole('navigation', { name: 'Principale' });
      await navigation_fr.getByRole('link', { name: 'Participants' }).click();
      await tab.getByRole('heading', { level: 1, name: 'Participants' }).waitFor();
      const row = tab.getByTestId('participants-table').locator(`tr[data-participant="${SILENT.name}"]`);
      await expect(row.getByTestId('participant-status').textContent()).resolves.toBe('révoqué');
      await expect(row.getByTestId('decided').textContent()).resolves.toContain(`par ${ADMIN_USER.name}`);
      await tab.getByRole('status').filter({ hasText: /inscrits : \d+ approuvés/ }).waitFor();
      await screenshot('dashboard-fr-participants', WIDE, tab);
      await screenshot('dashboard-fr-participants-narrow', NARROW, tab);
      await tab.setViewportSize(WIDE);

      // The job form's problems, the schema's words translated too.
      await navigation_fr.getByRole('link', { name: 'Tâches' }).click();
      await tab.getByRole('link', { name: 'Nouvelle tâche' }).click();
      await tab.getByLabel('Colonne cible').fill('diagnosis');
      await tab.getByLabel('Colonnes de variables').fill('radius_mean\ndiagnosis');
      await tab.getByLabel("Taux d'apprentissage").fill('-1');
      await tab.getByRole('button', { name: 'Créer et lancer la tâche' }).click();
      await expect(tab.locator('[data-field-error="features"]').textContent()).resolves.toBe('diagnosis : la cible ne peut pas être une variable');
      await expect(tab.locator('[data-field-error="learningRate"]').textContent()).resolves.toMatch(/^Trop petit/);
      // A rule the job schema adds to zod's, worded in French too.
      await tab.getByLabel('Participants minimum', { exact: true }).fill('2');
      await tab.getByLabel('Agrégation sécurisée (SecAgg+)').check();
      await tab.getByRole('button', { name: 'Créer et lancer la tâche' }).click();
      await expect(tab.locator('[data-field-error="minParticipants"]').textContent()).resolves.toBe(
        "l'agrégation sécurisée demande au moins 3 participants par tour : à 2, chacun déduit de la somme la mise à jour de l'autre",
      );
      expect((await api.request<unknown[]>('GET', '/api/jobs')).body).toHaveLength(1);

      await tab.getByRole('button', { name: 'Se déconnecter' }).click();
      await tab.getByRole('heading', { level: 1, name: 'Consortium FL' }).waitFor();
      await expect(tab.evaluate(() => localStorage.getItem('fl-dashboard-language'))).resolves.toBe('fr');
    } finally {
      await german.close();
    }
  });

  it('admits sessions and the admin and viewer tokens to the live feed, and no other', async () => {
    const connect = (token: string) =>
      new Promise<string>((resolve) => {
        const socket = io(`${coordinator.url}/admin`, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
        socket.on('connect', () => {
          socket.close();
          resolve('connected');
        });
        socket.on('connect_error', (err) => {
          socket.close();
          resolve((err as Error & { data?: { code: string } }).data?.code ?? err.message);
        });
      });
    await expect(connect(ADMIN_TOKEN)).resolves.toBe('connected');
    await expect(connect(VIEWER_TOKEN)).resolves.toBe('connected');
    const signedIn = await fetch(`${coordinator.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: VIEWER_USER.name, password: VIEWER_USER.password }),
    });
    expect(signedIn.status).toBe(201);
    await expect(connect(((await signedIn.json()) as { token: string }).token)).resolves.toBe('connected');
    await expect(connect('not-the-token-0123456789')).resolves.toBe('UNAUTHORIZED');
  }, 30_000);

  it('shows why a site was left out of a job, and an update out of its round', async () => {
    // Prepare: eve reports feature sums of 1e300; mallory reports honest statistics, then sends NaN weights every round
    const raw: Socket[] = [];
    const join = async (name: string, statistics: (s: LocalStatistics) => LocalStatistics, train?: (m: TrainMessage, pair: KeyPair) => unknown) => {
      const pair = await registerParticipant(api, name);
      const { socket } = await connectRaw(coordinator.url, handshakeAuth(pair));
      raw.push(socket);
      socket.on('statistics-request', async (request: StatisticsRequest) => {
        const own = computeStatistics((await loadLocalData(split.parties[0], request.header.spec)).table, request.header.spec);
        const header = { type: 'statistics' as const, job: request.header.job, participant: name, nonce: randomNonce(), statistics: statistics(own) };
        void emitWithAck(socket, 'statistics', { header, signature: signHeader('statistics', header, pair.secretKey) });
      });
      if (train) socket.on('train', (m: TrainMessage) => void train(m, pair));
    };
    try {
      await join('eve', (s) => ({ ...s, features: s.features.map((f) => (f.type === 'numeric' ? { ...f, sum: 1e300, sumSquares: 1e300 } : f)) }));
      await join('mallory', (s) => s, (m, pair) => {
        const nan = new Float32Array((m.weights as Uint8Array).byteLength / 4).fill(NaN);
        return emitWithAck(raw[1], 'update', craftUpdate(m, 'mallory', pair, { weights: nan }));
      });
      // Execute
      const job = await api.createJob({
        name: 'left out',
        model: 'logistic',
        features: featuresOf(file, 'diagnosis'),
        target: 'diagnosis',
        rounds: 2,
        minParticipants: HOSPITALS.length,
        // The silent participant, when still connected, holds the statistics phase to its deadline and each round a second.
        roundDeadlineSeconds: 10,
        waitAfterMinimumSeconds: 1,
        evaluateEvery: 0,
      });
      await eventually(async () => (await api.job(job.id)).status, (status) => status === 'completed', 120_000);
      await page.goto(`${coordinator.url}/jobs/${job.id}`);
      // Assert: the job names the site left out and why; each round's row names the update left out and its code
      await expect(page.getByTestId('job-excluded').textContent()).resolves.toMatch(/eve: IMPLAUSIBLE_STATISTICS feature \S+: a sum of squares no values can have/);
      await eventually(() => roundRows().count(), (n) => n === 2, 10_000);
      for (const row of await roundRows().all()) await expect(row.getByTestId('failure-code').textContent()).resolves.toBe('mallory: NON_FINITE');
    } finally {
      raw.forEach((socket) => socket.close());
    }
  });

  it('creates a job with a strategy, secure aggregation and differential privacy, and shows the ε it has spent after each round', async () => {
    // Prepare: a secure job's statistics are summed over declared bounds and classes, written in the form's feature syntax
    const { features, classes } = declaredFeatures(file, 'diagnosis');
    const lines = features.map((f) => (f.type === 'numeric' && f.bounds ? `${f.name}:${f.bounds[0]}..${f.bounds[1]}` : f.name));
    const dp = { noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 };
    const jobsBefore = (await api.request<unknown[]>('GET', '/api/jobs')).body.length;
    await page.goto(`${coordinator.url}/jobs/new`);
    await page.getByLabel('Name').fill('private');
    await page.getByLabel('Target column').fill('diagnosis');
    await page.getByLabel('Classes').fill(classes.join(', '));
    await page.getByLabel('Feature columns').fill(lines.join('\n'));
    // Each model is offered its own settings: k-means its k, and no strategy, which its model chooses.
    await page.getByLabel('Model').selectOption('kmeans');
    expect(await page.getByLabel('Clusters (k)').count()).toBe(1);
    expect(await page.getByLabel('Strategy').count()).toBe(0);
    await page.getByLabel('Model').selectOption('logistic');
    expect(await page.getByLabel('Clusters (k)').count()).toBe(0);
    const settings: Record<string, string> = { Rounds: '2', 'Minimum participants': '3', 'Round deadline': '5', 'Evaluate every': '0' };
    for (const [label, value] of Object.entries(settings)) await page.getByLabel(label, { exact: true }).fill(value);
    await page.getByLabel('Strategy').selectOption('fedavg');
    await page.getByLabel('Secure aggregation (SecAgg+)').check();
    await page.getByLabel('Range (R)').fill('2');
    await page.getByLabel('Differential privacy').check();
    await page.getByLabel('Noise multiplier (z)').fill(String(dp.noiseMultiplier));
    await page.getByLabel('Clip norm (C)').fill(String(dp.clipNorm));
    await page.getByLabel('δ').fill('0.00001');
    // Execute: first with FedAvg's default weighting by sample count, which differential privacy cannot bound
    await page.getByRole('button', { name: 'Create and start the job' }).click();
    await expect(page.locator('[data-field-error="strategy.weighting"]').textContent()).resolves.toContain("weighting 'uniform'");
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('field-strategy.weighting');
    expect((await api.request<unknown[]>('GET', '/api/jobs')).body).toHaveLength(jobsBefore);
    await page.getByLabel('Weighting').selectOption('uniform');
    await page.getByRole('button', { name: 'Create and start the job' }).click();
    await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
    const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    // Assert: the spec the API holds, then the job's ε, newest first, as the API's accountant gives it, at the job's δ
    expect((await api.job(id)).spec).toMatchObject({
      strategy: { name: 'fedavg', weighting: 'uniform' },
      secureAggregation: { range: 2, neighbours: 8 },
      dp,
      classes,
      features,
    });
    await eventually(async () => (await api.job(id)).status, (status) => status === 'completed', 120_000);
    await eventually(() => roundRows().count(), (n) => n === 2, 10_000);
    const cells = page.getByTestId('round-table').getByTestId('round-epsilon');
    await expect(cells.allTextContents()).resolves.toEqual([epsilonAfter(dp, 2).toFixed(3), epsilonAfter(dp, 1).toFixed(3)]);
    await expect(cells.first().getAttribute('title')).resolves.toBe('privacy spent after this round, at δ = 0.00001');
    expect((await api.rounds(id)).map((r) => r.privacy?.epsilon)).toEqual([epsilonAfter(dp, 1), epsilonAfter(dp, 2)]);
    await expect(page.getByTestId('job-privacy').textContent()).resolves.toBe(
      `secure aggregation: the coordinator sees only the sum; differential privacy: ε ${epsilonAfter(dp, 2).toFixed(3)} spent at δ = 0.00001`,
    );
    await expect(page.getByTestId('job-strategy').textContent()).resolves.toBe('fedavg:weighting=uniform');
    // The whole spec, as the API holds it, unfolded on demand.
    await page.getByText('The job as created, every default filled in (JSON)').click();
    expect(JSON.parse((await page.getByTestId('job-spec').textContent())!)).toEqual((await api.job(id)).spec);
  });

  it('serves the app for its own addresses and leaves unknown API routes to the API', async () => {
    const page404 = await fetch(`${coordinator.url}/jobs/some-job`);
    expect(page404.status).toBe(200);
    expect(page404.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page404.text()).toContain('<div id="root">');
    const api404 = await fetch(`${coordinator.url}/api/nothing-here`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(api404.status).toBe(404);
    expect((await api404.json()).error.code).toBe('NOT_FOUND');
  });

  it('logged no error in the browser', () => {
    expect(browserErrors).toEqual([]);
  });
});

describe('npm run demo -- --keep-open', () => {
  it('prints the dashboard address and the admin token, and serves the dashboard until Ctrl-C', async () => {
    const lines: string[] = [];
    const demo = run(path.join(REPO_ROOT, 'test', 'dist', 'demo.js'), ['--data-dir', path.join(tempDir('demo-open'), 'run'), '--rounds', '2', '--keep-open'], (line) =>
      lines.push(line),
    );
    try {
      const kept = await eventually(() => lines.find((l) => l.includes('keep running')), Boolean, 170_000);
      const [, url, token] = /dashboard on (\S+)\/ \(admin token (\S+)\)/.exec(kept!)!;
      expect(lines.some((l) => l === `dashboard on ${url}/ (sign in with the admin token ${token})`)).toBe(true);
      const page = await fetch(`${url}/participants`);
      expect(await page.text()).toContain('<div id="root">');
      const session = await fetch(`${url}/api/session`, { headers: { authorization: `Bearer ${token}` } });
      expect(await session.json()).toEqual({ role: 'admin', user: null });
      const participants = await fetch(`${url}/api/participants`, { headers: { authorization: `Bearer ${token}` } });
      expect(((await participants.json()) as { online: boolean }[]).map((p) => p.online)).toEqual([true, true, true]);

      const exited = new Promise<number | null>((resolve) => demo.child.once('exit', resolve));
      demo.child.kill('SIGINT');
      await expect(exited).resolves.toBe(0);
      await expect(fetch(`${url}/api/health`)).rejects.toThrow();
    } finally {
      if (demo.child.exitCode === null) demo.child.kill('SIGKILL');
    }
  }, 180_000);
});
