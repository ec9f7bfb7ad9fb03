// Camunda's gRPC client (@camunda8/sdk 8.8.x) against the dev engine: topology, deployment,
// instance creation, a job worker and the message publication the worker relies on.
//
// Environment: GRPC_ADDRESS (host:port), EXPECT_VERSION ("8.8" or "8.9"), BPMN_PATH (a process
// "grpc-p": service task "grpc-job" then a message catch "grpc-done" keyed by orderId).

import { Camunda8 } from '@camunda8/sdk';

const env = process.env;
const c8 = new Camunda8({
  ZEEBE_GRPC_ADDRESS: `grpc://${env.GRPC_ADDRESS}`,
  CAMUNDA_AUTH_STRATEGY: 'NONE',
  CAMUNDA_SECURE_CONNECTION: false,
  CAMUNDA_TENANT_ID: '',
  ZEEBE_CLIENT_LOG_LEVEL: 'NONE',
});
const zeebe = c8.getZeebeGrpcApiClient();

function check(condition, what, detail) {
  if (!condition) throw new Error(`${what}: ${JSON.stringify(detail)}`);
  console.log(`ok ${what}`);
}

async function until(probe, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

try {
  const topology = await zeebe.topology();
  check(topology.gatewayVersion.startsWith(`${env.EXPECT_VERSION}.`), 'gRPC topology', topology);

  const deployed = await zeebe.deployResource({ processFilename: env.BPMN_PATH });
  const process = deployed.deployments[0].process;
  check(process.bpmnProcessId === 'grpc-p', 'deployment', deployed);

  const created = await zeebe.createProcessInstance({
    bpmnProcessId: 'grpc-p',
    variables: { orderId: 'g-1' },
  });
  check(/^[0-9]+$/.test(String(created.processInstanceKey)), 'instance created', created);

  let jobs = 0;
  const worker = zeebe.createWorker({
    taskType: 'grpc-job',
    taskHandler: async (job) => {
      const done = await job.complete({ handled: true });
      jobs += 1; // counted once the engine has completed it (the catch event is then open)
      return done;
    },
    pollInterval: 100,
  });
  await until(() => jobs > 0, 'the job');
  await worker.close();
  check(jobs === 1, 'job activated and completed', jobs);

  // The worker publishes its message by gRPC with the subscription's correlation key
  // (TTL 0, as the worker does: the catch event is already waiting).
  const published = await zeebe.publishMessage({
    name: 'grpc-done',
    correlationKey: 'g-1',
    variables: { status: 'done' },
    timeToLive: 0,
  });
  check(published.key !== undefined, 'message published', published);

  let notFound = null;
  try {
    await zeebe.createProcessInstance({ bpmnProcessId: 'no-such-process', variables: {} });
  } catch (error) {
    notFound = error;
  }
  check(notFound?.code === 5, 'unknown process is NOT_FOUND', String(notFound));
  console.log(`instance ${created.processInstanceKey}`);
  console.log('all checks passed');
} finally {
  await zeebe.close();
}
