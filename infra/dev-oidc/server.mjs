// Development/test OpenID provider: one node process, several independent providers, each on
// its own loopback port (issuer http://127.0.0.1:<port>). Built on the certified `oidc-provider`
// package. NOT for production: in-memory storage, an account picker instead of passwords.
//
//   node infra/dev-oidc/server.mjs <config.json>
//
// The config format, the sign-in page and how a script drives sign-in and sign-out are described
// in infra/dev-oidc/README.md. Prints `ready <name> <issuer>` per provider, then `all-ready`.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

// The library prints notices about its quick-start defaults (in-memory adapter, default
// functions). They are expected here, so drop them; every other message still gets through.
const DEV_NOISE = [/oidc-provider NOTICE:/, /development-only in-memory adapter/];
for (const level of ['info', 'warn']) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    if (!DEV_NOISE.some((re) => re.test(String(args[0])))) original(...args);
  };
}
// Imported after the filter is in place, so its import-time messages are filtered too.
const { default: Provider, interactionPolicy } = await import('oidc-provider');

const config = JSON.parse(readFileSync(process.argv[2] ?? fail('usage: server.mjs <config.json>')));

function fail(message) {
  console.error(`dev-oidc: ${message}`);
  process.exit(1);
}

const esc = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em;line-height:1.5}
fieldset{border:0;padding:0}label{display:block;margin:.5em 0}button{font-size:1em;margin:1em .5em 0 0}</style>
</head><body><main>${body}</main></body></html>`;
}

function send(res, status, title, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(page(title, body));
}

// One ephemeral RS256 signing key when the config gives none.
function generatedJwks(name) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `${name}-${randomBytes(6).toString('hex')}`;
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] };
}

// Loopback-only fetch. The library refuses to call special-use addresses (127.0.0.0/8 among
// them) to prevent SSRF; this dev provider only ever calls the portal on loopback (client
// jwks_uri, backchannel_logout_uri), so it lifts that guard for loopback hosts only.
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
function loopbackFetch(url, options) {
  if (LOOPBACK.has(new URL(url).hostname)) delete options.dispatcher;
  return globalThis.fetch(url, options);
}

// Client metadata passes straight through to the library; only defaults are added.
function clientMetadata(client) {
  return {
    grant_types: ['authorization_code'],
    response_types: ['code'],
    ...(client.backchannel_logout_uri ? { backchannel_logout_session_required: true } : {}),
    ...client,
  };
}

function buildProvider(spec) {
  const accounts = new Map(spec.accounts.map((account) => [account.sub, account]));
  const issuer = `http://127.0.0.1:${spec.port}`;
  const acrValues = spec.acr_values ?? [...new Set(spec.accounts.map((a) => a.acr).filter(Boolean))];

  // Unless `sso` is true, every authorization request shows the account picker (a test can then
  // sign in as someone else without signing out first). prompt=none is left to the usual checks.
  const policy = interactionPolicy.base();
  if (!spec.sso) {
    policy.get('login').checks.add(new interactionPolicy.Check(
      'dev_account_picker',
      'the development provider asks which account to use on every request',
      'login_required',
      (ctx) => !ctx.oidc.prompts.has('none') && !ctx.oidc.result?.login,
    ));
  }

  const provider = new Provider(issuer, {
    clients: spec.clients.map(clientMetadata),
    jwks: spec.jwks ?? generatedJwks(spec.name),
    acrValues,
    // Scope → claims. acr/amr/auth_time (from the sign-in) and groups/tid/hd (from the account)
    // ride on `openid`, so the ID token always has them when there is a value.
    claims: {
      openid: ['sub', 'acr', 'amr', 'auth_time', 'groups', 'tid', 'hd'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      iss: null, sid: null,
    },
    conformIdTokenClaims: false, // scope claims in the ID token too, not only from userinfo
    scopes: ['openid'],
    responseTypes: ['code'],
    pkce: { required: () => true }, // only S256 exists in this library version
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256'] },
    clientBasedCORS: () => false, // the portal calls the provider server-side only
    cookies: {
      keys: [randomBytes(32).toString('base64url')], // new at every start
      // Cookies are shared by every port of a host, so each provider needs its own names.
      names: {
        session: `_session_${spec.name}`,
        interaction: `_interaction_${spec.name}`,
        resume: `_interaction_resume_${spec.name}`,
      },
    },
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: { enabled: false }, // access tokens are for userinfo only
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // `form` is the library's hidden form (id op.logoutForm, field xsrf); the buttons submit it.
        logoutSource: async (ctx, form) => {
          ctx.body = page('Sign out', `${form}<h1>Sign out of ${esc(spec.name)} (development identity provider)?</h1>
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = page('Signed out', `<h1>You have signed out of ${esc(spec.name)}</h1>`);
        },
      },
    },
    interactions: { policy, url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (ctx, sub) => {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return { accountId: sub, claims: () => ({ ...account.claims, sub }) };
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', `<h1>Sign-in error at ${esc(spec.name)}</h1>
<p id="error">${esc(out.error)}</p><p id="error_description">${esc(out.error_description ?? '')}</p>`);
    },
    fetch: loopbackFetch,
    ttl: {
      AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 3600,
      Grant: 14 * 24 * 3600, Session: 14 * 24 * 3600,
    },
  });

  // Errors go to stderr: kinds and descriptions only, never request bodies or tokens.
  provider.on('server_error', (ctx, err) => console.error(`${spec.name} server_error ${ctx.path}:`, err));
  for (const event of ['authorization.error', 'grant.error', 'userinfo.error', 'end_session.error',
    'end_session_confirm.error', 'jwks.error', 'discovery.error']) {
    provider.on(event, (ctx, err) => console.error(
      `${spec.name} ${event}: ${err.error} (${err.error_description})${err.error_detail ? `: ${err.error_detail}` : ''}`,
    ));
  }
  provider.on('backchannel.success', (ctx, client, sub) => console.log(`${spec.name} back-channel logout sent to ${client.clientId} for ${sub}`));
  provider.on('backchannel.error', (ctx, err, client) => console.error(`${spec.name} back-channel logout to ${client.clientId} failed: ${err.message}`));

  return { provider, accounts, issuer };
}

// Adds a grant covering everything the client asked for, so no consent page is ever shown.
async function autoConsent(provider, details, accountId) {
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope ?? 'openid');
  const missing = details.prompt.details ?? {};
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  return grant.save();
}

function accountPicker(spec, uid, details) {
  const hint = details.params.login_hint;
  const options = spec.accounts.map((account, i) => `<label><input type="radio" name="sub" value="${esc(account.sub)}"${
    (hint ? hint === account.sub : i === 0) ? ' checked' : ''}> ${esc(account.label ?? account.sub)}</label>`).join('\n');
  return `<h1>Sign in to ${esc(spec.name)} (development identity provider)</h1>
<p>Signing in to client <code>${esc(details.params.client_id)}</code>. Choose who you are.</p>
<form method="post" action="/interaction/${esc(uid)}/login">
<fieldset><legend>Account</legend>
${options}
</fieldset>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit">Cancel</button></form>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

// Our own routes: GET /interaction/:uid, POST /interaction/:uid/login, POST /interaction/:uid/abort.
async function handleInteraction(built, spec, req, res, uid, action) {
  const { provider, accounts } = built;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch {
    return send(res, 400, 'Sign-in expired', '<h1>This sign-in has expired or is unknown</h1><p>Go back to the service and start again.</p>');
  }
  const finish = (result) => provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });

  if (req.method === 'GET' && !action) {
    if (details.prompt.name === 'login') return send(res, 200, `Sign in to ${spec.name}`, accountPicker(spec, uid, details));
    // Already signed in (sso): only consent is missing, which is given automatically.
    const grantId = await autoConsent(provider, details, details.session.accountId);
    return finish({ consent: { grantId } });
  }
  if (req.method === 'POST' && action === 'abort') {
    return finish({ error: 'access_denied', error_description: 'End-User cancelled the sign-in' });
  }
  if (req.method === 'POST' && action === 'login') {
    const sub = (await readForm(req)).get('sub') ?? '';
    const account = accounts.get(sub);
    if (!account) return send(res, 400, 'Unknown account', `<h1>Unknown account</h1><p>No account "${esc(sub)}" here.</p>`);
    const grantId = await autoConsent(provider, details, sub);
    console.log(`${spec.name} sign-in sub=${sub} client=${details.params.client_id}`);
    return finish({ login: { accountId: sub, acr: account.acr, amr: account.amr }, consent: { grantId } });
  }
  return send(res, 405, 'Not allowed', '<h1>Method not allowed</h1>');
}

async function start(spec) {
  const built = buildProvider(spec);
  // The library checks client metadata lazily; look each client up now to fail at start instead.
  for (const client of spec.clients) {
    await built.provider.Client.find(client.client_id).catch((err) => {
      throw new Error(`${spec.name} client ${client.client_id}: ${err.error_description ?? err.message}`);
    });
  }
  const callback = built.provider.callback(); // the provider's own (Koa) request handler
  const server = createServer((req, res) => {
    const match = /^\/interaction\/([\w-]+)(?:\/(login|abort))?$/.exec(req.url.split('?')[0]);
    if (!match) return callback(req, res);
    handleInteraction(built, spec, req, res, match[1], match[2]).catch((err) => {
      console.error(`${spec.name} interaction error:`, err);
      if (!res.headersSent) send(res, 500, 'Error', '<h1>Something went wrong</h1>');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(spec.port, '127.0.0.1', () => {
      console.log(`ready ${spec.name} ${built.issuer}`);
      resolve(server);
    });
  });
}

const servers = [];
// Started by the test harness: stop when the parent goes away (its end of stdin closes).
if (process.env.DEV_OIDC_WATCH_STDIN === '1') {
  process.stdin.on('end', () => shutdown('stdin closed')).resume();
}
try {
  for (const spec of config.providers) servers.push(await start(spec));
} catch (err) {
  fail(`could not start: ${err.message}`);
}
console.log('all-ready');

function shutdown(signal) {
  console.log(`dev-oidc: ${signal}, stopping`);
  for (const server of servers) {
    server.close();
    server.closeAllConnections();
  }
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
