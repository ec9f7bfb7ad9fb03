// Camunda's official REST client (@camunda8/orchestration-cluster-api, the release line of
// the emulated Camunda version) against the dev engine, with response validation strict:
// every request the worker makes, read back through the client, plus the error paths.
//
// Environment: CLIENT_PACKAGE (the aliased npm package), REST_URL, EXPECT_VERSION ("8.8" or
// "8.9"), PROCESS_ID, MESSAGE_NAME, SUBPROCESS_ID, WAIT_ELEMENT_ID, AUTH_REST_URL (an engine
// requiring basic auth), AUTH_USER, AUTH_PASSWORD. Prints one line per check; exits 1 on the
// first failure with the reason.

const pkg = await import(process.env.CLIENT_PACKAGE);
const createCamundaClient = pkg.default ?? pkg.createCamundaClient;
const env = process.env;
const NOW = { consistency: { waitUpToMs: 0 } };

function client(extra = {}) {
  return createCamundaClient({
    config: {
      CAMUNDA_REST_ADDRESS: env.REST_URL,
      CAMUNDA_AUTH_STRATEGY: 'NONE',
      // Responses strict. Requests unvalidated: strict request validation of these client
      // versions rewrites a cursor page {after, limit} into {from: 0, limit} (the first
      // pagination schema of the union wins), which would make cursor paging loop forever.
      // Our own contract tables check the requests instead.
      CAMUNDA_SDK_VALIDATION: 'req:none,res:strict',
      CAMUNDA_SDK_HTTP_RETRY_MAX_ATTEMPTS: 1,
      CAMUNDA_SDK_LOG_LEVEL: 'silent',
      ...extra,
    },
  });
}

function check(condition, what, detail) {
  if (!condition) {
    const text = JSON.stringify(detail, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
    throw new Error(`${what}: ${text}`);
  }
  console.log(`ok ${what}`);
}

// An error's HTTP status, whatever shape the client gives it.
function statusOf(error) {
  return error?.status ?? error?.response?.status ?? error?.cause?.status;
}

async function expectStatus(status, what, call) {
  try {
    const result = await call();
    throw new Error(`${what}: expected HTTP ${status}, got success ${JSON.stringify(result)}`);
  } catch (error) {
    if (String(error?.message).startsWith(`${what}: expected`)) throw error;
    check(statusOf(error) === status, `${what} -> ${status}`, {
      name: error?.name,
      status: statusOf(error),
      message: String(error?.message).slice(0, 300),
    });
  }
}

// Every page of a search, forward with the `after` cursor, as the worker walks it.
async function walk(search, body, limit) {
  const items = [];
  let page = { limit };
  for (let n = 0; n < 50; n++) {
    const result = await search({ ...body, page }, NOW);
    items.push(...result.items);
    const cursor = result.page.endCursor;
    if (result.items.length < limit || !cursor) return items;
    page = { limit, after: cursor };
  }
  throw new Error('search did not end');
}

const camunda = client();

const topology = await camunda.getTopology();
check(topology.gatewayVersion.startsWith(`${env.EXPECT_VERSION}.`), 'topology version', topology);

// Worker: latest definitions (sort and paging allowed with isLatestVersion).
const definitions = await walk(
  (b, c) => camunda.searchProcessDefinitions(b, c),
  {
    filter: { isLatestVersion: true },
    sort: [
      { field: 'processDefinitionId', order: 'ASC' },
      { field: 'tenantId', order: 'ASC' },
    ],
  },
  1,
);
const definition = definitions.find((d) => d.processDefinitionId === env.PROCESS_ID);
check(definition !== undefined, 'latest definitions, paged by cursor', definitions);
const key = definition.processDefinitionKey;

const xml = await camunda.getProcessDefinitionXml({ processDefinitionKey: key }, NOW);
check(typeof xml === 'string' && xml.includes(env.PROCESS_ID), 'definition XML as text', xml);
const single = await camunda.getProcessDefinition({ processDefinitionKey: key }, NOW);
check(single.processDefinitionKey === key, 'definition by key', single);

// Worker: open message subscriptions, key order, forward cursor paging.
const subscriptions = await walk(
  (b, c) => camunda.searchMessageSubscriptions(b, c),
  {
    filter: { messageSubscriptionState: 'CREATED' },
    sort: [{ field: 'messageSubscriptionKey', order: 'ASC' }],
  },
  1,
);
const waiting = subscriptions.filter((s) => s.messageName === env.MESSAGE_NAME);
check(waiting.length === 2, 'open subscriptions', subscriptions);
const piks = waiting.map((s) => s.processInstanceKey);

// Worker: variables of a batch of instances, only the names read.
const variables = await walk(
  (b, c) => camunda.searchVariables(b, c),
  {
    filter: { processInstanceKey: { $in: piks }, name: { $in: ['orderId', 'big'] } },
    sort: [{ field: 'variableKey', order: 'ASC' }],
  },
  500,
);
check(variables.length === 4, 'variables by $in batch', variables);
const truncated = variables.find((v) => v.isTruncated);
check(truncated !== undefined, 'a truncated variable', variables);
const full = await camunda.getVariable({ variableKey: truncated.variableKey }, NOW);
check(full.value.length > truncated.value.length, 'full variable value', full.value.length);

// Worker: the enclosing sub-process instance of a waiting element (plain filter values).
const scopes = await walk(
  (b, c) => camunda.searchElementInstances(b, c),
  {
    filter: { processInstanceKey: piks[0], elementId: env.SUBPROCESS_ID, state: 'ACTIVE' },
    sort: [{ field: 'elementInstanceKey', order: 'ASC' }],
  },
  500,
);
check(scopes.length === 1 && scopes[0].type === 'SUB_PROCESS', 'sub-process scope', scopes);
const element = await camunda.getElementInstance(
  { elementInstanceKey: waiting[0].elementInstanceKey },
  NOW,
);
check(element.elementId === env.WAIT_ELEMENT_ID, 'element instance by key', element);

// Empty results (no cursors) and process instances.
const none = await camunda.searchMessageSubscriptions(
  { filter: { correlationKey: 'nobody' }, page: { limit: 10 } },
  NOW,
);
check(none.items.length === 0 && Number(none.page.totalItems) === 0, 'empty page', none);
const instances = await camunda.searchProcessInstances({ filter: { processInstanceKey: piks[0] } }, NOW);
check(instances.items.length === 1, 'process instance search', instances);
const instance = await camunda.getProcessInstance({ processInstanceKey: piks[0] }, NOW);
check(instance.state === 'ACTIVE', 'process instance by key', instance);

// A message the worker would publish (it uses gRPC; REST is the same command).
const published = await camunda.publishMessage({
  name: env.MESSAGE_NAME,
  correlationKey: waiting[1].correlationKey,
  timeToLive: 0,
  variables: { status: 'done' },
});
check(typeof published.messageKey === 'string', 'message published', published);

// Error paths.
await expectStatus(404, 'unknown definition XML', () =>
  camunda.getProcessDefinitionXml({ processDefinitionKey: '2251799813999999' }, NOW),
);
await expectStatus(404, 'unknown variable', () =>
  camunda.getVariable({ variableKey: '2251799813999999' }, NOW),
);
await expectStatus(400, 'isLatestVersion sorted by key', () =>
  camunda.searchProcessDefinitions(
    {
      filter: { isLatestVersion: true },
      sort: [{ field: 'processDefinitionKey', order: 'ASC' }],
    },
    NOW,
  ),
);
await expectStatus(400, 'isLatestVersion with offset paging', () =>
  camunda.searchProcessDefinitions(
    { filter: { isLatestVersion: true }, page: { from: 1, limit: 5 } },
    NOW,
  ),
);
const anonymous = client({ CAMUNDA_REST_ADDRESS: env.AUTH_REST_URL });
await expectStatus(401, 'no credentials', () => anonymous.getTopology());
const member = client({
  CAMUNDA_REST_ADDRESS: env.AUTH_REST_URL,
  CAMUNDA_AUTH_STRATEGY: 'BASIC',
  CAMUNDA_BASIC_AUTH_USERNAME: env.AUTH_USER,
  CAMUNDA_BASIC_AUTH_PASSWORD: env.AUTH_PASSWORD,
});
const allowed = await member.getTopology();
check(allowed.brokers.length === 1, 'basic credentials accepted', allowed);
console.log('all checks passed');
