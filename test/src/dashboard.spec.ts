/**
 * The dashboard in a real browser: Debian's Chromium, headless, driven by
 * Playwright, against a coordinator with three real agents training on the
 * breast cancer data. An admin signs in, creates a job with the form, watches
 * rounds arrive live in the chart and the table, and downloads the model; a
 * viewer sees everything and can start nothing. Screenshots of the participants
 * page and a job page go to test/artifacts/ (1280×800 and a narrow phone width).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { io, type Socket } from 'socket.io-client';
import { startCoordinator, type RunningCoordinator } from '@fl/coordinator';
import { encodeWeights, fingerprint, sha256Hex, type JobSpec } from '@fl/shared';
import type { ParticipantAgent } from '@fl/participant-agent';
import {
  AdminApi,
  DATA_DIR,
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
import { connectRaw, handshakeAuth } from './raw-client';

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
      if (message.type() === 'error' && !/status of (401|403)/.test(message.text())) browserErrors.push(message.text());
    });
  };
  const signIn = async (p: Page, token: string) => {
    const field = p.getByLabel('Access token');
    await field.fill(token);
    await field.press('Enter');
  };
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

  it('signs in with the admin token, by keyboard, after refusing a wrong one', async () => {
    await page.goto(`${coordinator.url}/jobs`);
    await expect(page.title()).resolves.toBe('Sign in · FL consortium');
    await screenshot('dashboard-sign-in', WIDE);
    await signIn(page, 'not-the-token-0123456789');
    await page.getByText('The coordinator does not know this token.').waitFor();
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('token');
    await signIn(page, ADMIN_TOKEN);
    await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
    expect(await page.getByTestId('role').textContent()).toBe('admin');
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
  });

  it('lists the participants: organisation, key fingerprint, online', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Participants' }).click();
    const table = page.getByTestId('participants-table');
    await eventually(() => table.locator('tbody tr').count(), (n) => n === HOSPITALS.length + 1);
    for (const { name, organisation } of [...HOSPITALS, SILENT]) {
      const row = table.locator(`tr[data-participant="${name}"]`);
      await expect(row.textContent()).resolves.toContain(organisation);
      await expect(row.locator('code').textContent()).resolves.toBe(fingerprint(keys.get(name)!));
      await expect(row.locator('.presence').textContent()).resolves.toBe('online');
    }
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

  it('lets a viewer see everything but start no job', async () => {
    const viewer = await context.newPage();
    watchErrors(viewer);
    try {
      await viewer.goto(`${coordinator.url}/jobs/${jobId}`);
      await signIn(viewer, VIEWER_TOKEN);
      await viewer.getByRole('heading', { level: 1, name: 'diagnosis, live' }).waitFor();
      expect(await viewer.getByTestId('role').textContent()).toBe('viewer · read-only');
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

      // The server enforces the role, whatever the page shows: no new job, no resumed one.
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
          [route, VIEWER_TOKEN, body] as const,
        );
      const forbidden = { status: 403, body: { error: { code: 'FORBIDDEN', message: expect.any(String) } } };
      await expect(post('/api/jobs', { model: 'linear', target: 'y', features: [{ name: 'x', type: 'numeric' }] })).resolves.toEqual(forbidden);
      await expect(post(`/api/jobs/${jobId}/resume`)).resolves.toEqual(forbidden);
      expect(await api.request('GET', '/api/jobs')).toMatchObject({ body: [{ id: jobId, status: 'completed' }] });
    } finally {
      await viewer.close();
    }
  });

  it('admits the admin and viewer tokens to the live feed, and no other', async () => {
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
    await expect(connect('not-the-token-0123456789')).resolves.toBe('UNAUTHORIZED');
  }, 30_000);

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
