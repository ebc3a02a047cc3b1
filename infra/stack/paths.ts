import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root folder of the project (the one holding package.json). */
export const projectRoot = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** Pinned install inputs that live in the repository. */
export const installInputs = {
  pythonRequirements: join(projectRoot, 'infra', 'python', 'requirements.txt'),
  kafkaPom: join(projectRoot, 'infra', 'kafka', 'pom.xml'),
  kafkaLog4jConfig: join(projectRoot, 'infra', 'kafka', 'log4j2.properties'),
  zipkinPom: join(projectRoot, 'infra', 'zipkin', 'pom.xml'),
  /** The schema registry's Maven project: every file of it is an install input (its stamp hashes them all). */
  schemaRegistryDir: join(projectRoot, 'infra', 'schema-registry'),
  temporalClusterConfig: join(projectRoot, 'infra', 'temporal', 'cluster.yaml'),
  temporalDynamicConfig: join(projectRoot, 'infra', 'temporal', 'dynamicconfig.yaml'),
} as const;
