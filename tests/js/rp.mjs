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
  const params = {
    redirect_uri: redirectUri, scope: 'openid profile email', code_challenge: challenge,
    code_challenge_method: 'S256', state, nonce,
  };
  // Step-up: ask for a second factor (OpenID Connect Core §3.1.2.1 acr_values).
  if (process.env.RP_ACR_VALUES) params.acr_values = process.env.RP_ACR_VALUES;
  const url = client.buildAuthorizationUrl(config, params);
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
  console.log(JSON.stringify({
    alg: protectedHeader.alg, kid: protectedHeader.kid, sub: payload.sub, nonce: payload.nonce,
    acr: payload.acr, amr: payload.amr, userinfo,
  }));
}
