// An upstream OpenID Connect provider (oidc-provider) for Gatehouse's
// federation test. Environment:
//   OP_PORT          port to listen on (127.0.0.1)
//   OP_CLIENT_ID     the one client's id        (Gatehouse's oidc plugin)
//   OP_CLIENT_SECRET the one client's secret
//   OP_REDIRECT_URI  its redirect URI           (…/federation/oidc/callback)
// Accounts: any login is an account; its sub is the login, its e-mail the
// login itself when it contains "@" (else "<login>@upstream.test"), verified
// unless the login starts with "unverified". Passwords are not checked (dev
// interactions); logins starting with "admin" are in the "upstream-admins"
// group (claim `groups`, with the profile scope). Refresh tokens are issued
// at every code exchange. `POST /test/disable?login=<login>` disables an
// account: from then on its refresh tokens are refused (invalid_grant), as
// when an upstream account is deleted. Prints "op ready <issuer>" once
// listening.
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT);
if (!port) {
  console.error('OP_PORT is required');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const disabled = new Set();

const configuration = {
  clients: [
    {
      client_id: process.env.OP_CLIENT_ID ?? 'gatehouse',
      client_secret: process.env.OP_CLIENT_SECRET ?? 'secret',
      redirect_uris: [process.env.OP_REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  async findAccount(ctx, id) {
    if (disabled.has(id)) return undefined;
    const email = id.includes('@') ? id : `${id}@upstream.test`;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email,
          email_verified: !id.startsWith('unverified'),
          name: `Upstream ${id.split('@')[0]}`,
          // Logins starting with "admin" are in the upstream's admins group.
          groups: id.startsWith('admin') ? ['upstream-admins', 'everyone'] : ['everyone'],
        };
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'groups'],
  },
  features: { devInteractions: { enabled: true } },
  // Gatehouse keeps the upstream's refresh token to re-check members.
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  pkce: { required: () => true },
  cookies: { keys: ['gatehouse-federation-test-only'] },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/test/disable') {
    disabled.add(ctx.query.login);
    ctx.status = 204;
    return;
  }
  await next();
});
provider.listen(port, '127.0.0.1', () => console.log(`op ready ${issuer}`));
