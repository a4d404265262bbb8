// A relying party built on openid-client: `start` prints an authorization
// URL (with PKCE, state and nonce); `finish` redeems the callback, verifies
// the ID token signature against the JWKS and fetches userinfo.
import * as client from 'openid-client';
import * as jose from 'jose';

const [mode, issuer, clientId, clientSecret, redirectUri, ...rest] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined, {
  execute: [client.allowInsecureRequests],
});

if (mode === 'start') {
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: 'openid profile email', code_challenge: challenge,
    code_challenge_method: 'S256', state, nonce,
  });
  console.log(JSON.stringify({ url: url.href, verifier, state, nonce }));
} else {
  const [callback, verifier, state, nonce] = rest;
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  });
  const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
  const { payload, protectedHeader } = await jose.jwtVerify(tokens.id_token, jwks, { issuer, audience: clientId });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  console.log(JSON.stringify({ alg: protectedHeader.alg, kid: protectedHeader.kid, sub: payload.sub, nonce: payload.nonce, userinfo }));
}
