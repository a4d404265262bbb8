// A plain OAuth 2.0 upstream (npm oauth2-mock-server, no OpenID Connect)
// for Gatehouse's generic OAuth 2.0 upstream test. Environment:
//   OP_PORT  port to listen on (127.0.0.1)
// Its metadata is at the RFC 8414 address
// (/.well-known/oauth-authorization-server); ID tokens are stripped from
// token answers. Its userinfo has a shape of its own:
//   { "data": { "account": { "id": <number>, "mail": …, "mail_ok": 1,
//     "display": …, "teams": [...] } } }
// The mock signs anyone in at once; who is decided beforehand with
// `POST /test/next?login=<login>`. Refresh tokens rotate and are single-use
// (a second use is refused, so a double spend shows); `POST
// /test/disable?login=…` makes that account's refresh tokens refused
// (invalid_grant). `GET /test/stats` answers {"refreshes": n}.
// Prints "op ready <issuer>" once listening.
import { OAuth2Server } from 'oauth2-mock-server';

const port = Number(process.env.OP_PORT);
if (!port) {
  console.error('OP_PORT is required');
  process.exit(2);
}

const server = new OAuth2Server(undefined, undefined, {
  endpoints: { wellKnownDocument: '/.well-known/oauth-authorization-server' },
});
await server.issuer.keys.generate('RS256');

let next = 'member@upstream.test';
const disabled = new Set();
const codes = new Map(); // code → login
const accessTokens = new Map(); // access token → login
const refreshTokens = new Map(); // live refresh token → login
let refreshes = 0;
const ids = new Map(); // login → numeric id
const idOf = (login) => {
  if (!ids.has(login)) ids.set(login, 4000 + ids.size);
  return ids.get(login);
};

const app = server.service.requestHandler;
app.post('/test/next', (req, res) => {
  next = String(req.query.login);
  res.status(204).end();
});
app.post('/test/disable', (req, res) => {
  disabled.add(String(req.query.login));
  res.status(204).end();
});
app.get('/test/stats', (req, res) => res.json({ refreshes }));

server.service.on('beforeAuthorizeRedirect', ({ url }) => {
  const code = url.searchParams.get('code');
  if (code) codes.set(code, next);
});

server.service.on('beforeResponse', (response, req) => {
  const body = response.body;
  delete body.id_token;
  let login;
  if (req.body.grant_type === 'authorization_code') {
    login = codes.get(req.body.code);
    codes.delete(req.body.code);
  } else if (req.body.grant_type === 'refresh_token') {
    refreshes += 1;
    login = refreshTokens.get(req.body.refresh_token);
    refreshTokens.delete(req.body.refresh_token);
    if (login === undefined || disabled.has(login)) {
      response.statusCode = 400;
      response.body = { error: 'invalid_grant', error_description: 'the grant is not valid (account disabled?)' };
      return;
    }
  }
  if (login === undefined) {
    response.statusCode = 400;
    response.body = { error: 'invalid_grant' };
    return;
  }
  accessTokens.set(body.access_token, login);
  if (body.refresh_token) refreshTokens.set(body.refresh_token, login);
});

server.service.on('beforeUserinfo', (response, req) => {
  const bearer = (req.headers.authorization || '').replace(/^Bearer /, '');
  const login = accessTokens.get(bearer);
  if (login === undefined || disabled.has(login)) {
    response.statusCode = 401;
    response.body = { error: 'invalid_token' };
    return;
  }
  response.body = {
    data: {
      account: {
        id: idOf(login),
        mail: login,
        mail_ok: 1,
        display: `Upstream ${login.split('@')[0]}`,
        teams: login.startsWith('admin') ? ['ops', 'everyone'] : ['everyone'],
      },
    },
  };
});

server.issuer.url = `http://127.0.0.1:${port}`;
await server.start(port, '127.0.0.1');
console.log(`op ready ${server.issuer.url}`);
