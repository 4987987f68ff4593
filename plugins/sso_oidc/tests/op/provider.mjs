// A real OpenID provider for the sso_oidc tests: panva/oidc-provider (OpenID Certified),
// configured from the environment by tests/conftest.py. Its development login form accepts
// any login name; the account's claims come from OP_ACCOUNTS.
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.OP_ACCOUNTS || '{}');
const client = JSON.parse(process.env.OP_CLIENT);

const provider = new Provider(issuer, {
  clients: [client],
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  cookies: { keys: ['sso-oidc-test-cookie-key'] },
  // Every client must use PKCE, as the portal always does.
  pkce: { required: () => true },
});
provider.proxy = false;

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
