// panva's oidc-provider, configured for the client-credentials grant only, as a user would to
// compare it with Gatehouse's token endpoint. Opaque access tokens (its fastest kind).
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 18300);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret-that-is-long-enough-0123456789',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'SuperSIM',
  }],
  scopes: ['SuperSIM'],
  features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
});
provider.listen(port, '127.0.0.1', () => console.log(`peer listening on ${port}`));
