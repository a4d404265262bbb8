// The peer for bench/run.sh: npm oidc-provider 9 (the certified reference
// OpenID Provider) with its default in-memory adapter, configured for the
// endpoints the harness measures and nothing else.
//
//   node bench/op-bench.mjs PORT CLIENT_ID CLIENT_SECRET
//
// One confidential client (client_secret_basic) with the client_credentials
// grant; introspection and client credentials enabled; opaque access tokens
// (no resource indicator, so no JWT access tokens); a fresh RS256 signing
// key. oidc-provider's notices and warnings (development adapter, Node.js
// version, default policies) are silenced so the harness output stays
// readable. Prints "op ready <issuer>" once listening.
//
// oidc-provider is loaded from tests/js-op/node_modules (run
// `npm ci --prefix tests/js-op` first; bench/run.sh does).
import { generateKeyPairSync } from 'node:crypto';

const [port, clientId, clientSecret] = process.argv.slice(2).map((a, i) => (i === 0 ? Number(a) : a));
if (!port || !clientId || !clientSecret) {
  console.error('usage: node bench/op-bench.mjs PORT CLIENT_ID CLIENT_SECRET');
  process.exit(2);
}

// Quiet before the module loads: it warns at import time on some runtimes.
console.info = () => {};
console.warn = () => {};

const { default: Provider } = await import(
  new URL('../tests/js-op/node_modules/oidc-provider/lib/index.js', import.meta.url)
);

const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'bench' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // The default policy only logs a notice; this is the same rule.
      allowedPolicy: async (ctx, client, token) =>
        client.clientAuthMethod !== 'none' || token.clientId === ctx.oidc.client.clientId,
    },
    // No resource indicators: client credentials tokens stay opaque.
    resourceIndicators: { enabled: false },
  },
  ttl: { ClientCredentials: 3600 },
  cookies: { keys: ['gatehouse-bench-only'] },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.listen(port, '127.0.0.1', () => console.log(`op ready ${issuer}`));
