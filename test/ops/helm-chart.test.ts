/**
 * deploy/helm/mcp-guard, without `helm` or a cluster (neither can be installed here): its templates are
 * rendered by test/helpers/helm-template.ts (the subset of Helm's language the chart uses; anything else
 * fails the test), with the default values and with the options switched. Then:
 * - every rendered file is YAML, and each object is valid for its Kubernetes API version according to
 *   the kubernetes-models schemas (types, required fields, enums; unknown keys are not detected by them);
 * - the pieces fit together: selectors and labels, the named port, probes on /healthz and /readyz with a
 *   Host the config accepts, the mounted config file, the Secret every ${VAR} comes from, the PDB and HPA
 *   aimed at the Deployment, no session affinity;
 * - the config the ConfigMap carries loads with mcp-guard's own loader, on a shared store.
 * Not checked: Helm's own rendering and `helm lint`, the chart on a real API server (admission,
 * defaulting), and the image itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { validateSource } from '../../src/config/load.js';
import { parseConfigText } from '../../src/config/source.js';
import { HelmTemplates } from '../helpers/helm-template.js';
import { ROOT } from '../helpers/paths.js';

const CHART = path.join(ROOT, 'deploy/helm/mcp-guard');
const chart = parse(readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8')) as Record<string, string>;
const defaults = parse(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')) as Values;
const templateFiles = readdirSync(path.join(CHART, 'templates'));
const templates = new HelmTemplates(
  Object.fromEntries(templateFiles.map((f) => [f, readFileSync(path.join(CHART, 'templates', f), 'utf8')])),
);

type Values = Record<string, unknown> & {
  config: Record<string, unknown> & { http: { port?: number; allowed_hosts?: string[] } };
  secret: { existingSecret: string; values: Record<string, string> };
  probeHost: string;
};
type K8sObject = {
  kind: string;
  apiVersion: string;
  metadata: { name: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests, checked field by field below
} & Record<string, any>;

/** Deep merge of values (as `--set`/`-f` do): maps merge, everything else replaces. */
function merge(base: unknown, over: unknown): unknown {
  if (!isMap(base) || !isMap(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}
const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Renders every template (NOTES.txt and helpers aside) and returns the objects, as `helm template` would. */
function render(overrides: Record<string, unknown> = {}): { objects: K8sObject[]; values: Values } {
  const values = merge(defaults, overrides) as Values;
  const context = {
    Values: values,
    Release: { Name: 'gw', Namespace: 'default', Service: 'Helm' },
    Chart: { Name: chart['name'], Version: chart['version'], AppVersion: chart['appVersion'] },
  };
  const objects: K8sObject[] = [];
  for (const file of templateFiles.filter((f) => f.endsWith('.yaml'))) {
    const text = templates.render(file, context);
    for (const doc of parseAllDocuments(text)) {
      expect(doc.errors, `${file}: ${doc.errors.join('; ')}`).toEqual([]);
      const value = doc.toJS();
      if (value !== null) objects.push(value as K8sObject);
    }
  }
  return { objects, values };
}

const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const one = (objects: K8sObject[], kind: string): K8sObject => {
  const found = byKind(objects, kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as K8sObject;
};

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
};

describe('the Helm chart', () => {
  it('is a v2 application chart whose appVersion is this package version', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'mcp-guard', type: 'application' });
    expect(chart['version']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(chart['appVersion']).toBe(pkg.version);
  });

  it.each([
    ['the default values', {}, ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Secret', 'Service']],
    [
      'autoscaling on, an existing Secret, no PDB',
      {
        autoscaling: { enabled: true },
        secret: { existingSecret: 'my-secret' },
        podDisruptionBudget: { enabled: false },
      },
      ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Service'],
    ],
  ])('renders %s to valid Kubernetes objects', (_, overrides, kinds) => {
    const { objects } = render(overrides);
    expect(objects.map((o) => o.kind).sort()).toEqual(kinds);
    for (const object of objects) {
      const Model = MODELS[`${object.apiVersion}/${object.kind}`];
      expect(Model, `${object.apiVersion} ${object.kind}`).toBeDefined();
      expect(
        () => new (Model as NonNullable<typeof Model>)(object as never).validate(),
        object.kind,
      ).not.toThrow();
      expect(object.metadata.name).toBe('gw-mcp-guard');
      expect(object.metadata.labels?.['app.kubernetes.io/instance']).toBe('gw');
    }
  });

  it('wires the Deployment, Service, Secret, PDB and HPA together', () => {
    const { objects, values } = render();
    const deployment = one(objects, 'Deployment');
    const pod = deployment.spec.template;
    const container = pod.spec.containers[0];
    const labels = pod.metadata.labels as Record<string, string>;
    const selects = (selector: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => labels[k] === v) && Object.keys(selector).length > 0;

    expect(deployment.spec.replicas).toBe(3);
    expect(selects(deployment.spec.selector.matchLabels)).toBe(true);
    const service = one(objects, 'Service');
    expect(selects(service.spec.selector)).toBe(true);
    expect(service.spec.sessionAffinity).toBe('None'); // no affinity: replicas share their state
    expect(service.spec.ports[0].targetPort).toBe('http');
    expect(container.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(selects(one(objects, 'PodDisruptionBudget').spec.selector.matchLabels)).toBe(true);

    // The mounted config is the file the container is told to read.
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === 'config');
    const configMap = one(objects, 'ConfigMap');
    const [key] = Object.keys(configMap.data);
    expect(container.args).toEqual(['serve-http', '--config', `${mount.mountPath}/${key}`]);
    expect(pod.spec.volumes.find((v: { name: string }) => v.name === 'config').configMap.name).toBe(
      configMap.metadata.name,
    );
    for (const m of container.volumeMounts)
      expect(pod.spec.volumes.map((v: { name: string }) => v.name)).toContain(m.name);

    // Every ${VAR} of the config comes from the Secret the container takes its environment from.
    const secret = one(objects, 'Secret');
    expect(container.envFrom).toEqual([{ secretRef: { name: secret.metadata.name } }]);
    const referenced = [...configMap.data[key as string].matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map(
      (m) => m[1],
    );
    expect(referenced.length).toBeGreaterThan(0);
    for (const name of referenced) expect(Object.keys(secret.stringData)).toContain(name);

    // Probes: alive on /healthz, ready on /readyz, with a Host header the gateway accepts.
    expect(container.startupProbe.httpGet.path).toBe('/healthz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
      expect(probe.httpGet.port).toBe('http');
      expect(probe.httpGet.httpHeaders).toEqual([{ name: 'Host', value: values.probeHost }]);
    }
    const allowed = values.config.http.allowed_hosts ?? [];
    expect(allowed.length === 0 || allowed.includes(values.probeHost)).toBe(true);

    // Locked down, with writable room only where the gateway writes.
    expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    const writable = container.volumeMounts
      .filter((m: { readOnly?: boolean }) => !m.readOnly)
      .map((m: { mountPath: string }) => m.mountPath);
    const audit = (values.config['policies'] as { audit_log?: string }).audit_log;
    if (audit) expect(writable.some((dir: string) => audit.startsWith(`${dir}/`))).toBe(true);
    expect(pod.metadata.annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('aims the HPA at the Deployment and leaves the replica count to it', () => {
    const { objects } = render({ autoscaling: { enabled: true, minReplicas: 3, maxReplicas: 6 } });
    const hpa = one(objects, 'HorizontalPodAutoscaler');
    const deployment = one(objects, 'Deployment');
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    expect(hpa.spec).toMatchObject({ minReplicas: 3, maxReplicas: 6 });
    expect(deployment.spec.replicas).toBeUndefined();
    // With an existing Secret, the container uses it and the chart makes none.
    const existing = render({ secret: { existingSecret: 'prod-mcp-guard' } }).objects;
    expect(byKind(existing, 'Secret')).toEqual([]);
    expect(one(existing, 'Deployment').spec.template.spec.containers[0].envFrom).toEqual([
      { secretRef: { name: 'prod-mcp-guard' } },
    ]);
  });

  it('carries a config that loads with mcp-guard, on a shared store, reachable beyond loopback', () => {
    const { objects, values } = render();
    const configMap = one(objects, 'ConfigMap');
    const text = Object.values(configMap.data)[0] as string;
    const env = Object.fromEntries(Object.keys(values.secret.values).map((k) => [k, `value-of-${k}`]));
    env['MCP_GUARD_STATE_URL'] = 'redis://redis.default.svc:6379';
    const config = validateSource(parseConfigText('/etc/mcp-guard/mcp-guard.yaml', text, env));
    expect(parse(text)).toEqual(values.config);
    expect(config.http.host).toBe('0.0.0.0');
    expect(config.auth.mode).not.toBe('none');
    // Several replicas behave as one gateway only on a shared store.
    expect(['redis', 'postgres']).toContain(config.state.store);
  });

  it('renders only what the subset supports, and says so otherwise', () => {
    const strict = new HelmTemplates({ 'x.yaml': 'a: {{ upper .Values.a }}\n' });
    const context = { Values: { a: 'b' }, Release: {}, Chart: {} };
    expect(() => strict.render('x.yaml', context)).toThrow(/unknown function "upper"/);
    expect(() => new HelmTemplates({ 'y.yaml': '{{ range .Values.a }}x{{ end }}' })).toThrow(
      /outside the subset/,
    );
    const trims = new HelmTemplates({
      't.yaml': 'a:\n  {{- if .Values.on }}\n  b: {{ .Values.n | default 3 }}\n  {{- end }}\n',
    });
    expect(trims.render('t.yaml', { Values: { on: true }, Release: {}, Chart: {} })).toBe('a:\n  b: 3\n');
    expect(trims.render('t.yaml', { Values: { on: false }, Release: {}, Chart: {} })).toBe('a:\n');
  });
});
