// A relying party's back-channel logout endpoint (OpenID Connect
// Back-Channel Logout 1.0 §2.6), verified with `jose`: it listens on
// 127.0.0.1:<port>, takes `logout_token` from POST /backchannel, checks the
// signature against the issuer's JWKS and the claims the specification
// requires, answers 200 (or 400 on a bad token), and prints one JSON line
// per request. `POST /reject` always answers 400 (a client that refuses).
import http from 'node:http';
import * as jose from 'jose';

const [issuer, clientId, port] = process.argv.slice(2);
const meta = await (await fetch(new URL('/.well-known/openid-configuration', issuer))).json();
const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

async function verify(token) {
  const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
    issuer, audience: clientId, typ: 'logout+jwt', requiredClaims: ['iat', 'jti'],
  });
  if (!payload.events || typeof payload.events[EVENT] !== 'object') throw new Error('no back-channel logout event');
  if ('nonce' in payload) throw new Error('a logout token must not carry a nonce');
  if (!payload.sid && !payload.sub) throw new Error('neither sid nor sub');
  return { header: protectedHeader, claims: payload };
}

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', async () => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (req.method === 'POST' && url.pathname === '/reject') {
      console.log(JSON.stringify({ path: url.pathname, rejected: true }));
      res.writeHead(400).end();
      return;
    }
    const type = req.headers['content-type'] || '';
    const token = new URLSearchParams(body).get('logout_token');
    try {
      if (req.method !== 'POST' || !type.startsWith('application/x-www-form-urlencoded') || !token) {
        throw new Error(`not a back-channel logout request: ${req.method} ${type}`);
      }
      const v = await verify(token);
      console.log(JSON.stringify({ ok: true, path: url.pathname, ...v }));
      res.writeHead(200, { 'Cache-Control': 'no-store' }).end();
    } catch (e) {
      console.log(JSON.stringify({ ok: false, path: url.pathname, error: String(e) }));
      res.writeHead(400, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: 'invalid_request' }));
    }
  });
});
server.listen(Number(port), '127.0.0.1', () => console.log(JSON.stringify({ listening: Number(port) })));
