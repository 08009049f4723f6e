// A real OpenID Connect provider (panva/oidc-provider) for the portal's sign-in tests.
//
//   node provider.mjs CONFIG.json
//
// CONFIG.json: {"port": 1234, "clients": [{client_id, client_secret, redirect_uris}],
//               "accounts": "ACCOUNTS.json"}
// ACCOUNTS.json maps a login name to its claims ({"sub", "email", "preferred_username",
// "groups"}); it is read at every sign-in, so a test can change a user's groups between two.
// The login page asks only for the login name: this provider stands in for a facility's, whose
// password check is not what the tests are about. Prints "ready <issuer>" when it listens.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;

function accounts() {
  return JSON.parse(readFileSync(config.accounts, 'utf8'));
}

function signingKeys() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' }] };
}

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: signingKeys(),
  cookies: { keys: [randomUUID()] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const claims = accounts()[id];
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ ...claims, sub: claims.sub ?? id }) };
  },
  // First-party clients only: every requested scope is granted without a consent page.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
    await grant.save();
    return grant;
  },
});

function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><title>Test provider</title>${body}`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function interaction(req, res, uid, submitted) {
  const details = await provider.interactionDetails(req, res);
  if (!submitted) {
    page(res, 200, `<form method="post" action="/interaction/${uid}/login">
      <label>Login <input name="login"></label> <button type="submit">Sign in</button></form>`);
    return;
  }
  const login = (await readForm(req)).get('login') ?? '';
  if (!(login in accounts()) || details.prompt.name !== 'login') {
    page(res, 403, `<p>No account ${login} here.</p>`);
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
}

const handle = provider.callback();
http.createServer((req, res) => {
  const match = req.url.match(/^\/interaction\/([^/?]+)(\/login)?/);
  if (!match) return handle(req, res);
  interaction(req, res, match[1], req.method === 'POST' && Boolean(match[2])).catch((err) => {
    page(res, 500, `<pre>${String(err)}</pre>`);
  });
}).listen(config.port, '127.0.0.1', () => console.log(`ready ${issuer}`));
