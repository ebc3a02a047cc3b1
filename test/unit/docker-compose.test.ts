import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { projectRoot } from '../../infra/stack/paths.ts';
import { stackServers } from '../../infra/stack/stack.ts';
import { standInTools } from '../fixtures/stand-in-tools.ts';

interface ComposeFile {
  services: Record<string, { command?: string[]; ports?: string[]; image?: string; environment?: Record<string, string> }>;
}

const compose = parse(readFileSync(join(projectRoot, 'infra', 'docker-compose.yml'), 'utf8')) as ComposeFile;

/** The servers `npm run stack:up` starts, with the default configuration (as a non-root user: no PostgreSQL data folder is prepared). */
function defaultStack() {
  vi.spyOn(process, 'getuid').mockReturnValue(1000);
  try {
    return stackServers(loadStackConfig({ STACK_DATA_DIR: '/nonexistent/order-saga' }), standInTools);
  } finally {
    vi.restoreAllMocks();
  }
}

/** The host ports a compose service publishes (`127.0.0.1:<host>:<container>`). */
const publishedPorts = (service: string) => (compose.services[service]?.ports ?? []).map((mapping) => Number(mapping.split(':').at(-2)));

describe('infra/docker-compose.yml', () => {
  const servers = defaultStack();

  it('has one service per server of the stack', () => {
    expect(Object.keys(compose.services).sort()).toEqual(servers.map((s) => s.name).sort());
  });

  it("publishes each server's ports on the stack's default ports, on 127.0.0.1 only", () => {
    for (const server of servers) {
      // The KRaft controller listener is the broker's own business, inside its container.
      const ports = server.ports.filter((p) => p.setting !== 'KAFKA_CONTROLLER_PORT').map((p) => p.port);
      expect(publishedPorts(server.name), server.name).toEqual(expect.arrayContaining(ports));
    }
    for (const mappings of Object.values(compose.services).map((s) => s.ports ?? [])) for (const mapping of mappings) expect(mapping).toMatch(/^127\.0\.0\.1:/);
  });

  it('runs the Apicurio Registry version the stack builds, on a persistent H2 file, BACKWARD by default', () => {
    const pom = readFileSync(join(projectRoot, 'infra', 'schema-registry', 'pom.xml'), 'utf8');
    const version = /<apicurio\.version>([^<]+)<\/apicurio\.version>/.exec(pom)?.[1];
    expect(version).toBe('2.4.2.Final');
    const registry = compose.services['schema-registry']!;
    expect(registry.image).toBe(`apicurio/apicurio-registry-mem:${version}`);
    expect(registry.environment?.REGISTRY_DATASOURCE_URL).toMatch(/^jdbc:h2:file:/);
    expect(registry.environment?.JAVA_OPTIONS).toContain('-Dregistry.rules.global.compatibility=BACKWARD');
  });

  it('registers the search attributes the stack registers on its Temporal server', () => {
    const args = servers.find((s) => s.name === 'temporal')!.launchSpec().args;
    const stackAttributes = args.flatMap((arg, i) => (args[i - 1] === '--search-attribute' ? [arg] : []));
    const composeAttributes = (compose.services.temporal?.command ?? []).flatMap((arg) =>
      arg.startsWith('--search-attribute=') ? [arg.slice('--search-attribute='.length)] : [],
    );
    expect(stackAttributes).toHaveLength(5);
    expect(composeAttributes.sort()).toEqual(stackAttributes.sort());
  });
});
