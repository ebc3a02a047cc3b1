import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ScaledObject, type IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { Type, type TSchema } from 'typebox';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { projectRoot } from '../../infra/stack/paths.ts';
import { createChoreographyServices } from '../../src/choreography/services.ts';
import { handledTypes } from '../../src/messaging/consumer-runner.ts';
import * as platformConfig from '../../src/platform/config.ts';
import { projectorGroup, projectorHandlers } from '../../src/projections/projector.ts';

/** A Kubernetes object as parsed from YAML, before its schema vouched for the rest of it. */
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
}

/** The objects of one kind, typed as that kind (the schema test holds them to it). */
const ofKind = <T>(objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind) as unknown as (T & K8sObject)[];

const manifestsDir = join(projectRoot, 'infra', 'k8s');

/** The schema of each kind the manifests may hold: a maintained model with `.validate()`. */
const models: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

/** Every object of every `*.yaml` file under infra/k8s. */
function loadManifests(): K8sObject[] {
  return readdirSync(manifestsDir)
    .filter((file) => file.endsWith('.yaml'))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(manifestsDir, file), 'utf8')).flatMap((doc) => {
        if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
        const object = doc.toJS() as K8sObject | null;
        return object ? [object] : [];
      }),
    );
}

const nameOf = (object: K8sObject) => `${object.kind}/${object.metadata?.name}`;

/** What the schemas say: one line per object that has no schema or breaks its schema. */
function schemaProblems(objects: K8sObject[]): string[] {
  return objects.flatMap((object) => {
    const Model = models[`${object.apiVersion}/${object.kind}`];
    if (!Model) return [`${nameOf(object)}: no schema for ${object.apiVersion} ${object.kind}`];
    try {
      new Model(object as never).validate();
      return [];
    } catch (err) {
      return [`${nameOf(object)}: ${(err as Error).message}`];
    }
  });
}

/**
 * The variables a process must be given in a cluster: those of its config schema whose default
 * points at this machine (127.0.0.1, localhost), which is right for the one-box stack only, and
 * those of the groups it spreads that are required (no default, not optional: AUTH_ISSUER), which
 * the local stack sets for it. Read from the entry point's source: the env groups it spreads from
 * src/platform/config.ts, its `metricsEnv(port)`, and its own variables with such a default.
 */
function machineLocalVariables(entryPoint: string): string[] {
  const source = readFileSync(join(projectRoot, entryPoint), 'utf8');
  const groups = platformConfig as unknown as Record<string, Record<string, TSchema> | undefined>;
  const properties: Record<string, TSchema> = {};
  for (const [, group] of source.matchAll(/\.\.\.(\w+Env)\b/g)) {
    const schemas = groups[group!];
    if (!schemas) throw new Error(`${entryPoint} spreads ${group}, which src/platform/config.ts does not export`);
    Object.assign(properties, schemas);
  }
  for (const [, port] of source.matchAll(/\.\.\.metricsEnv\((\d+)\)/g)) Object.assign(properties, platformConfig.metricsEnv(Number(port)));
  const local = (value: unknown) => typeof value === 'string' && /\b(127\.0\.0\.1|localhost)\b/.test(value);
  const own = [...source.matchAll(/(\w+): Type\.String\(\{ default: '([^']*)'/g)].filter(([, , value]) => local(value)).map(([, name]) => name!);
  const required = (schema: TSchema) => !('default' in schema) && !Type.IsOptional(schema);
  return [
    ...Object.entries(properties)
      .filter(([, schema]) => local((schema as { default?: unknown }).default) || required(schema))
      .map(([name]) => name),
    ...own,
  ];
}

/** The consumer groups of the project and the topics each reads (one topic per event type). */
function consumerGroupTopics(): Map<string, number> {
  const services = createChoreographyServices({ gateway: {} as never, mailer: {} as never, vault: {} as never });
  return new Map([
    ...Object.values(services).map((service) => [service.groupId, handledTypes(service.handlers).length] as const),
    [projectorGroup, handledTypes(projectorHandlers()).length],
  ]);
}

/** What the code tells the cross-checks. */
interface CodeFacts {
  requiredEnv: (entryPoint: string) => string[];
  groupTopics: Map<string, number>;
}

const codeFacts: CodeFacts = { requiredEnv: machineLocalVariables, groupTopics: consumerGroupTopics() };

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels?.[key] === value);

/** The entry point a container runs (`tsx src/workers/<process>.ts`). */
const entryPointOf = (container: IContainer) => [...(container.command ?? []), ...(container.args ?? [])].find((arg) => arg.endsWith('.ts'));

/** The environment a container sees: its ConfigMaps' data overlaid by its own `env` (secrets as `<secret>`). */
function environmentOf(container: IContainer, configMaps: Map<string, Record<string, string>>): Map<string, string> {
  const env = new Map<string, string>();
  for (const source of container.envFrom ?? [])
    for (const [key, value] of Object.entries(configMaps.get(source.configMapRef?.name ?? '') ?? {})) env.set(key, value);
  for (const variable of container.env ?? []) {
    const fromMap = variable.valueFrom?.configMapKeyRef;
    if (variable.value !== undefined) env.set(variable.name, variable.value);
    else if (fromMap) env.set(variable.name, configMaps.get(fromMap.name ?? '')?.[fromMap.key] ?? '<missing>');
    else if (variable.valueFrom) env.set(variable.name, '<secret>');
  }
  return env;
}

/** What schemas cannot see: references between objects, and between the manifests and the code. */
function crossReferenceProblems(objects: K8sObject[], facts: CodeFacts = codeFacts): string[] {
  const problems: string[] = [];
  const deployments = ofKind<IDeployment>(objects, 'Deployment');
  const deploymentNamed = (name: string | undefined) => deployments.find((d) => d.metadata.name === name);
  const configMaps = new Map(ofKind<IConfigMap>(objects, 'ConfigMap').map((o) => [o.metadata.name, o.data ?? {}]));
  const podLabels = (d: IDeployment) => d.spec?.template.metadata?.labels;

  for (const deployment of deployments) {
    const name = nameOf(deployment);
    if (!matches(deployment.spec?.selector.matchLabels, podLabels(deployment))) problems.push(`${name}: its selector does not match its pod labels`);
    const scrapePort = deployment.spec?.template.metadata?.annotations?.['prometheus.io/port'];
    const allPorts = (deployment.spec?.template.spec?.containers ?? []).flatMap((c) => c.ports ?? []);
    if (scrapePort !== undefined && !allPorts.some((p) => p.containerPort === Number(scrapePort)))
      problems.push(`${name}: prometheus.io/port ${scrapePort} is not a declared container port`);
    for (const container of deployment.spec?.template.spec?.containers ?? []) {
      const where = `${name} container ${container.name}`;
      const ports = container.ports ?? [];
      const probes: [string, IProbe | undefined][] = [
        ['livenessProbe', container.livenessProbe],
        ['readinessProbe', container.readinessProbe],
        ['startupProbe', container.startupProbe],
      ];
      for (const [kind, probe] of probes) {
        const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
        if (port === undefined) continue;
        const declared = typeof port === 'string' ? ports.some((p) => p.name === port) : ports.some((p) => p.containerPort === port);
        if (!declared) problems.push(`${where}: ${kind} uses port ${port}, which the container does not declare`);
      }
      for (const source of container.envFrom ?? [])
        if (source.configMapRef && !configMaps.has(source.configMapRef.name ?? ''))
          problems.push(`${where}: envFrom names ConfigMap ${source.configMapRef.name}, not in the manifests`);
      const env = environmentOf(container, configMaps);
      for (const [variable, value] of env) if (value === '<missing>') problems.push(`${where}: ${variable} refers to a ConfigMap key that does not exist`);
      for (const variable of ['API_PORT', 'METRICS_PORT', 'TEMPORAL_SDK_METRICS_PORT']) {
        const port = env.get(variable);
        if (port !== undefined && !ports.some((p) => p.containerPort === Number(port)))
          problems.push(`${where}: ${variable}=${port} is not a declared container port`);
      }
      const entryPoint = entryPointOf(container);
      if (!entryPoint || !existsSync(join(projectRoot, entryPoint))) {
        problems.push(`${where}: runs ${entryPoint ?? 'no .ts entry point'}, which is not a file of the repository`);
        continue;
      }
      for (const variable of facts.requiredEnv(entryPoint))
        if (!env.has(variable)) problems.push(`${where}: ${entryPoint} needs ${variable}, which is neither set nor referenced`);
    }
  }

  for (const service of ofKind<IService>(objects, 'Service')) {
    const target = deployments.find((d) => matches(service.spec?.selector, podLabels(d)));
    if (!target) {
      problems.push(`${nameOf(service)}: its selector matches no Deployment's pods`);
      continue;
    }
    const declared = (target.spec?.template.spec?.containers ?? []).flatMap((c) => c.ports ?? []);
    for (const port of service.spec?.ports ?? []) {
      const targetPort = port.targetPort ?? port.port;
      if (!declared.some((p) => p.name === targetPort || p.containerPort === targetPort))
        problems.push(`${nameOf(service)}: targetPort ${targetPort} is not a port of ${nameOf(target)}`);
    }
  }

  for (const budget of ofKind<IPodDisruptionBudget>(objects, 'PodDisruptionBudget'))
    if (!deployments.some((d) => matches(budget.spec?.selector?.matchLabels, podLabels(d))))
      problems.push(`${nameOf(budget)}: its selector matches no Deployment's pods`);

  const autoscalers = [...ofKind<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler'), ...ofKind<IScaledObject>(objects, 'ScaledObject')];
  for (const autoscaler of autoscalers) {
    const ref = autoscaler.spec?.scaleTargetRef;
    const target = (ref?.kind ?? 'Deployment') === 'Deployment' ? deploymentNamed(ref?.name) : undefined;
    if (!target) {
      problems.push(`${nameOf(autoscaler)}: targets ${ref?.kind ?? 'Deployment'} ${ref?.name}, which is not in the manifests`);
      continue;
    }
    if (!ScaledObject.is(autoscaler)) continue;
    const container = target.spec?.template.spec?.containers[0];
    const env = container ? environmentOf(container, configMaps) : new Map<string, string>();
    for (const trigger of autoscaler.spec?.triggers ?? []) {
      const expect = (key: string, variable: string) => {
        if (trigger.metadata[key] !== env.get(variable))
          problems.push(
            `${nameOf(autoscaler)}: ${trigger.type} trigger's ${key} is ${trigger.metadata[key]}, the process's ${variable} is ${env.get(variable)}`,
          );
      };
      if (trigger.type === 'kafka') {
        expect('bootstrapServers', 'KAFKA_BROKERS');
        const group = trigger.metadata.consumerGroup ?? '';
        const topics = facts.groupTopics.get(group);
        const runs =
          group === projectorGroup ? entryPointOf(container ?? { name: '' }) === 'src/workers/projector.ts' : env.get('CHOREOGRAPHY_SERVICES') === group;
        if (topics === undefined || !runs) problems.push(`${nameOf(autoscaler)}: consumer group ${group} is not the one ${nameOf(target)} runs`);
        else {
          const partitions = topics * Number(env.get('KAFKA_TOPIC_PARTITIONS'));
          if (autoscaler.spec?.maxReplicaCount !== partitions)
            problems.push(`${nameOf(autoscaler)}: maxReplicaCount ${autoscaler.spec?.maxReplicaCount}, but group ${group} has ${partitions} partitions`);
        }
      } else if (trigger.type === 'temporal') {
        expect('endpoint', 'TEMPORAL_ADDRESS');
        expect('namespace', 'TEMPORAL_NAMESPACE');
        expect('taskQueue', 'TEMPORAL_TASK_QUEUE');
      }
    }
  }
  return problems;
}

describe('the Kubernetes manifests in infra/k8s', () => {
  const objects = loadManifests();
  /** A copy of one object of the manifests, typed as its kind, for a case to break. */
  const find = <T>(kind: string, name: string) => structuredClone(ofKind<T>(objects, kind).find((o) => o.metadata.name === name)!);
  const configMap = () => find<IConfigMap>('ConfigMap', 'order-saga');

  it('hold a Deployment, a PodDisruptionBudget and an autoscaler for each process of the project', () => {
    const names = (kind: string) => objects.filter((o) => o.kind === kind).map((o) => o.metadata.name);
    const processes = [
      'api',
      'temporal-worker',
      'choreography-orders',
      'choreography-inventory',
      'choreography-payments',
      'choreography-notifications',
      'projector',
    ];
    expect(names('Deployment').sort()).toEqual([...processes, 'choreography-relay'].sort());
    expect(names('PodDisruptionBudget').sort()).toEqual([...processes, 'choreography-relay'].sort());
    expect([...names('HorizontalPodAutoscaler'), ...names('ScaledObject')].sort()).toEqual(processes.sort());
  });

  it('each object is valid against its Kubernetes or KEDA schema', () => {
    expect(objects.length).toBeGreaterThan(0);
    expect(schemaProblems(objects)).toEqual([]);
  });

  it('references resolve: selectors, scale targets, probe ports, consumer groups, and every variable a process needs', () => {
    expect(crossReferenceProblems(objects)).toEqual([]);
  });

  it('topics the processes create are replicated three times', () => {
    expect(configMap().data?.KAFKA_REPLICATION_FACTOR).toBe('3');
  });

  it("every process gets the schema registry's Confluent-compatible URL from the ConfigMap, as the local stack gives it", () => {
    const configMaps = new Map([['order-saga', configMap().data ?? {}]]);
    const containers = ofKind<IDeployment>(objects, 'Deployment').flatMap((d) => d.spec?.template.spec?.containers ?? []);
    expect(containers.length).toBeGreaterThan(0);
    for (const container of containers) {
      expect(environmentOf(container, configMaps).get('SCHEMA_REGISTRY_URL'), container.name).toMatch(/^https?:\/\/[^/]+\/apis\/ccompat\/v7$/);
    }
  });

  it('a Deployment whose replicas is not a number breaks its schema', () => {
    const deployment = find<IDeployment>('Deployment', 'api');
    deployment.spec!.replicas = 'two' as never;
    expect(schemaProblems([deployment])).toEqual([expect.stringMatching(/^Deployment\/api: .*replicas must be integer/)]);
  });

  it('a kind without a schema is reported rather than skipped', () => {
    expect(schemaProblems([{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }])).toEqual([
      'Widget/w: no schema for example.com/v1 Widget',
    ]);
  });

  it('a probe on a port the container does not declare is reported', () => {
    const deployment = find<IDeployment>('Deployment', 'projector');
    deployment.spec!.template.spec!.containers[0]!.readinessProbe!.httpGet!.port = 'http';
    expect(crossReferenceProblems([...objects.filter((o) => o.metadata.name !== 'projector' || o.kind !== 'Deployment'), deployment])).toEqual([
      'Deployment/projector container projector: readinessProbe uses port http, which the container does not declare',
    ]);
  });

  it('a Service, PodDisruptionBudget or autoscaler that points at no Deployment is reported', () => {
    const service = find<IService>('Service', 'api');
    service.spec!.selector!['app.kubernetes.io/component'] = 'apí';
    const budget = find<IPodDisruptionBudget>('PodDisruptionBudget', 'projector');
    budget.spec!.selector!.matchLabels!['app.kubernetes.io/component'] = 'projectr';
    const scaled = find<IScaledObject>('ScaledObject', 'projector');
    scaled.spec.scaleTargetRef.name = 'projectr';
    expect(crossReferenceProblems([configMap(), find<IDeployment>('Deployment', 'projector'), service, budget, scaled])).toEqual([
      "Service/api: its selector matches no Deployment's pods",
      "PodDisruptionBudget/projector: its selector matches no Deployment's pods",
      'ScaledObject/projector: targets Deployment projectr, which is not in the manifests',
    ]);
  });

  it('a process not given a variable whose default is this machine is reported', () => {
    const deployment = find<IDeployment>('Deployment', 'temporal-worker');
    const container = deployment.spec!.template.spec!.containers[0]!;
    container.env = container.env!.filter((variable) => variable.name !== 'DATABASE_URL');
    expect(crossReferenceProblems([configMap(), deployment])).toEqual([
      'Deployment/temporal-worker container temporal-worker: src/workers/temporal-worker.ts needs DATABASE_URL, which is neither set nor referenced',
    ]);
  });

  it('the variables a process needs are read from its config schema', () => {
    expect(machineLocalVariables('src/workers/api.ts').sort()).toEqual([
      'API_HOST',
      'AUTH_ISSUER',
      'DATABASE_URL',
      'KAFKA_BROKERS',
      'TEMPORAL_ADDRESS',
      'TEMPORAL_UI_URL',
    ]);
    expect(machineLocalVariables('src/workers/temporal-worker.ts').sort()).toEqual([
      'DATABASE_URL',
      'KAFKA_BROKERS',
      'METRICS_HOST',
      'PAYMENT_GATEWAY_URL',
      'SCHEMA_REGISTRY_URL',
      'SMTP_HOST',
      'TEMPORAL_ADDRESS',
    ]);
  });

  it("the API is given its identity provider's issuer and audience from the ConfigMap, not from a value in its Deployment or a Secret", () => {
    const container = find<IDeployment>('Deployment', 'api').spec!.template.spec!.containers[0]!;
    const env = environmentOf(container, new Map([['order-saga', configMap().data ?? {}]]));
    expect(env.get('AUTH_ISSUER')).toMatch(/^https:\/\//);
    expect(env.get('AUTH_AUDIENCE')).toBe('urn:order-saga:api');
    for (const name of ['AUTH_ISSUER', 'AUTH_AUDIENCE'])
      expect(container.env?.find((variable) => variable.name === name)?.valueFrom?.configMapKeyRef, name).toEqual({ name: 'order-saga', key: name });
  });

  it('an API not given the issuer of its tokens is reported', () => {
    const deployment = find<IDeployment>('Deployment', 'api');
    const container = deployment.spec!.template.spec!.containers[0]!;
    container.env = container.env!.filter((variable) => variable.name !== 'AUTH_ISSUER');
    const withoutIssuer = configMap();
    delete withoutIssuer.data!.AUTH_ISSUER;
    expect(crossReferenceProblems([withoutIssuer, deployment])).toEqual([
      'Deployment/api container api: src/workers/api.ts needs AUTH_ISSUER, which is neither set nor referenced',
    ]);
  });

  it("a consumer group's autoscaler capped above or below its partition count is reported", () => {
    const scaled = find<IScaledObject>('ScaledObject', 'choreography-payments');
    scaled.spec.maxReplicaCount = 30;
    expect(crossReferenceProblems([configMap(), find<IDeployment>('Deployment', 'choreography-payments'), scaled])).toEqual([
      'ScaledObject/choreography-payments: maxReplicaCount 30, but group payments has 15 partitions',
    ]);
  });
});
