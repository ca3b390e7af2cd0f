// Runs connector operations in Node: `node run.mjs STEP...`, where a step
// is `get-me`, `create-tweet:TEXT` or `delete-tweet:last` (the post this
// process created). The connection comes from X_CLIENT_ID,
// X_CLIENT_SECRET, X_REFRESH_TOKEN, X_ACCESS_TOKEN, X_API_URL; the newest
// tokens from the token store (token-store.js), so a second process goes
// on from the rotation the first one saved. Prints one JSON line per step.

// X_CONNECTOR_BUILD=keyvalue runs the connector composed with the
// key-value token store (its store: keyvalue.js) instead of the plain one.
const build = process.env.X_CONNECTOR_BUILD === 'keyvalue' ? 'gen-keyvalue' : 'gen';
const { connector } = await import(`./${build}/twitter-connector.js`);

const env = process.env;
const json = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x));

function call(what, fn) {
  try {
    return fn();
  } catch (e) {
    // A failed export throws with the WIT `error` resource as payload.
    const failure = e?.payload;
    if (failure && typeof failure.detail === 'function') {
      console.error(`${what} failed: ${failure.detail()}`);
      process.exit(1);
    }
    throw e;
  }
}

call('init', () => connector.init({
  connectionName: env.X_CONNECTION_NAME,
  apiUrl: env.X_API_URL,
  timeoutMs: env.X_TIMEOUT ? Number(env.X_TIMEOUT) : undefined,
  clientId: env.X_CLIENT_ID,
  clientSecret: env.X_CLIENT_SECRET,
  accessToken: env.X_ACCESS_TOKEN,
  refreshToken: env.X_REFRESH_TOKEN,
}));

let last;
for (const step of process.argv.slice(2)) {
  const [op, arg] = step.split(/:(.*)/s);
  let result;
  if (op === 'get-me') {
    result = call(op, () => connector.getMe({ expansions: [], tweetFields: [], userFields: [] }));
    result = { username: result.user.username, status: result.meta.status };
  } else if (op === 'create-tweet') {
    result = call(op, () => connector.createTweet({ text: arg }));
    last = result.id;
    result = { id: result.id, status: result.meta.status };
  } else if (op === 'delete-tweet') {
    const id = arg === 'last' ? last : arg;
    result = call(op, () => connector.deleteTweet(id));
    result = { deleted: result.deleted, status: result.meta.status };
  } else {
    console.error(`unknown step ${step}`);
    process.exit(2);
  }
  console.log(json({ step: op, ...result }));
}
