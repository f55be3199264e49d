// panva's oidc-provider, configured for the client-credentials grant only, as a user would to
// compare it with Gatehouse's token endpoint.
//
//     node server.mjs [PORT] [jwt|opaque]
//
// jwt:    access tokens are JWTs signed with EdDSA (Ed25519), as Gatehouse issues them: the
//         like-for-like comparison.
// opaque: opaque access tokens (its fastest kind; the default, as before).
//
// Both modes share one configuration (the resource-indicator path, one Ed25519 signing key);
// only the resource server's accessTokenFormat differs.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 18300);
const format = process.argv[3] || 'opaque';
if (!['jwt', 'opaque'].includes(format)) {
  console.error(`usage: node server.mjs [PORT] [jwt|opaque] (got format ${format})`);
  process.exit(2);
}

const RESOURCE = 'urn:gatehouse:bench';
const signingKey = {
  ...generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  alg: 'EdDSA',
  use: 'sig',
};

const resourceServer = format === 'jwt'
  ? { scope: 'SuperSIM', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'EdDSA' } } }
  : { scope: 'SuperSIM', accessTokenFormat: 'opaque' };

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret-that-is-long-enough-0123456789',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'SuperSIM',
    // its only key is Ed25519, so ID tokens (never issued here) must name EdDSA too
    id_token_signed_response_alg: 'EdDSA',
  }],
  scopes: ['SuperSIM'],
  jwks: { keys: [signingKey] },
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      getResourceServerInfo: async (_ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
        return resourceServer;
      },
    },
  },
});
provider.listen(port, '127.0.0.1', () => console.log(`peer listening on ${port} (${format} access tokens)`));
