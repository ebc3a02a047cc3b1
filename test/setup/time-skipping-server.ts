/** Global setup of the workflow suite: hands tests the path of the installed time-skipping test server. */
import type { TestProject } from 'vitest/node';
import { loadStackConfig } from '../../infra/stack/config.ts';
import { locateTools } from '../../infra/stack/install.ts';

export default function setup(project: TestProject): void {
  project.provide('timeSkippingServerPath', locateTools(loadStackConfig().STACK_TOOLS_DIR).temporalTestServer);
}
