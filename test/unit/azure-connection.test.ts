import * as assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { armScope, readAzureRmConnection } from '../../tasks/common/azure/connection';
import { SettingError } from '../../tasks/common/errors';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { asInputError } from '../../tasks/common/pipeline/settings';
import { type EndpointSpec, fakeEndpoint } from '../support/fakeAzureEndpoint';

const secret = 'k3y~Value.that-is-secret';
const pem = [
  '-----BEGIN PRIVATE KEY-----', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC', '-----END PRIVATE KEY-----',
  '-----BEGIN CERTIFICATE-----', 'MIIDazCCAlOgAwIBAgIUZ', '-----END CERTIFICATE-----', '',
].join('\n');

const servicePrincipal: EndpointSpec = {
  id: 'conn-1',
  url: 'https://management.usgovcloudapi.net',
  scheme: 'ServicePrincipal',
  auth: { tenantid: 'tenant-1', serviceprincipalid: 'client-1', authenticationType: 'spnKey', serviceprincipalkey: secret },
  data: { subscriptionId: 'sub-1', environment: 'AzureUSGovernment', environmentAuthorityUrl: 'https://login.microsoftonline.us' },
};

function read(spec: EndpointSpec | undefined) {
  return readAzureRmConnection(spec && fakeEndpoint(spec), 'storeConnection', 'My ARM connection');
}

function with_(spec: EndpointSpec, changes: { scheme?: string; url?: string; auth?: Record<string, string>; data?: Record<string, string> }): EndpointSpec {
  return { ...spec, ...changes, auth: { ...spec.auth, ...changes.auth }, data: { ...spec.data, ...changes.data } };
}

function without(spec: EndpointSpec, part: 'auth' | 'data', key: string): EndpointSpec {
  const copy = { ...spec[part] };
  delete copy[key];
  return { ...spec, [part]: copy };
}

/** Fails as setting 'storeConnection', which the task reports as the input that named the connection. */
function rejects(spec: EndpointSpec | undefined, key: string, pattern: RegExp, input = 'azureSubscription'): void {
  assert.throws(() => read(spec), (failure: unknown) => {
    assert.ok(failure instanceof SettingError, String(failure));
    assert.equal(failure.setting, 'storeConnection');
    assert.equal(failure.key, key);
    const error = asInputError(failure, { storeConnection: input });
    assert.ok(error instanceof InputError);
    assert.equal(error.input, input);
    assert.match(error.message, new RegExp(`^Input '${input}' `));
    assert.match(error.message, pattern);
    return true;
  });
}

describe('readAzureRmConnection', function () {
  it('reads a service principal with a secret, normalizing URLs', function () {
    const connection = read(servicePrincipal);
    assert.deepEqual({ ...connection }, {
      id: 'conn-1',
      name: 'My ARM connection',
      scheme: 'ServicePrincipal',
      tenantId: 'tenant-1',
      clientId: 'client-1',
      subscriptionId: 'sub-1',
      armUrl: 'https://management.usgovcloudapi.net/',
      authorityHost: 'https://login.microsoftonline.us/',
      environment: 'AzureUSGovernment',
    });
    assert.equal(connection.clientSecret, secret);
    assert.ok(Object.isFrozen(connection));
  });

  it('keeps the secret out of JSON and inspect output', function () {
    const connection = read(servicePrincipal);
    assert.ok(!JSON.stringify(connection).includes(secret));
    assert.ok(!inspect(connection).includes(secret));
  });

  it('defaults the Resource Manager URL, authority and environment to the public cloud', function () {
    const spec: EndpointSpec = { ...servicePrincipal, url: undefined, data: { subscriptionId: 'sub-1' } };
    const connection = read(spec);
    assert.equal(connection.armUrl, 'https://management.azure.com/');
    assert.equal(connection.authorityHost, 'https://login.microsoftonline.com/');
    assert.equal(connection.environment, 'AzureCloud');
    assert.equal(connection.resourceManagerAudience, undefined);
  });

  it('prefers activeDirectoryAuthority (what MSAL-era tasks read) and keeps the ARM audience', function () {
    const connection = read(with_(servicePrincipal, {
      data: { activeDirectoryAuthority: 'https://login.chinacloudapi.cn/', activeDirectoryServiceEndpointResourceId: 'https://management.core.chinacloudapi.cn/' },
    }));
    assert.equal(connection.authorityHost, 'https://login.chinacloudapi.cn/');
    assert.equal(connection.resourceManagerAudience, 'https://management.core.chinacloudapi.cn/');
  });

  it('treats a missing scheme as a service principal and matches schemes in any case', function () {
    assert.equal(read({ ...servicePrincipal, scheme: undefined }).scheme, 'ServicePrincipal');
    const federated = read(with_(servicePrincipal, { scheme: 'workloadidentityfederation' }));
    assert.equal(federated.scheme, 'WorkloadIdentityFederation');
  });

  it('reads a certificate service principal', function () {
    const spec = with_(without(servicePrincipal, 'auth', 'serviceprincipalkey'), { auth: { authenticationType: 'spnCertificate', servicePrincipalCertificate: pem } });
    const connection = read(spec);
    assert.equal(connection.certificatePem, pem.trim());
    assert.equal(connection.clientSecret, undefined);
    assert.ok(!JSON.stringify(connection).includes('PRIVATE KEY'));
  });

  it('reads workload identity federation without touching any secret parameter', function () {
    const endpoint = fakeEndpoint(with_(servicePrincipal, { scheme: 'WorkloadIdentityFederation' }));
    const connection = readAzureRmConnection(endpoint, 'storeConnection', 'wif');
    assert.equal(connection.clientId, 'client-1');
    assert.equal(connection.clientSecret, undefined);
    assert.deepEqual(endpoint.authReads.filter((key) => /key|certificate/i.test(key)), []);
  });

  it('reads a managed identity, with and without a user-assigned client id', function () {
    const system: EndpointSpec = { id: 'mi', scheme: 'ManagedServiceIdentity', auth: { tenantid: 't' }, data: { subscriptionId: 's' } };
    assert.equal(read(system).clientId, undefined);
    assert.equal(read(with_(system, { data: { msiclientId: 'user-mi' } })).clientId, 'user-mi');
  });

  describe('refuses, naming the setting (reported as its input) and the connection', function () {
    it('a connection the job cannot see', function () {
      rejects(undefined, 'EndpointMissing', /Input 'azureSubscription' names service connection 'My ARM connection'.*authorized/);
    });

    it('a scheme it does not support', function () {
      rejects(with_(servicePrincipal, { scheme: 'PublishProfile' }), 'AzureRmSchemeUnsupported', /'PublishProfile'.*ServicePrincipal, WorkloadIdentityFederation, ManagedServiceIdentity/);
    });

    it('a missing tenant id', function () {
      rejects(without(servicePrincipal, 'auth', 'tenantid'), 'AzureRmTenantMissing', /'My ARM connection'.*tenant ID/, 'connectedServiceNameARM');
    });

    it('a missing client id', function () {
      rejects(without(servicePrincipal, 'auth', 'serviceprincipalid'), 'AzureRmClientIdMissing', /client ID/);
      rejects(without(with_(servicePrincipal, { scheme: 'WorkloadIdentityFederation' }), 'auth', 'serviceprincipalid'), 'AzureRmClientIdMissing', /client ID/);
    });

    it('a missing secret, with a hint about secret value vs id', function () {
      rejects(without(servicePrincipal, 'auth', 'serviceprincipalkey'), 'AzureRmSecretMissing', /secret value \(not the secret ID\)/);
    });

    it('a missing or incomplete certificate', function () {
      const certificate = with_(servicePrincipal, { auth: { authenticationType: 'spnCertificate' } });
      rejects(certificate, 'AzureRmCertificateMissing', /no certificate/);
      const certificateOnly = pem.split('-----BEGIN CERTIFICATE-----')[1];
      rejects(with_(certificate, { auth: { servicePrincipalCertificate: `-----BEGIN CERTIFICATE-----${certificateOnly}` } }), 'AzureRmCertificateInvalid', /PRIVATE KEY/);
    });

    it('an unknown service principal authentication type', function () {
      rejects(with_(servicePrincipal, { auth: { authenticationType: 'spnPassword' } }), 'AzureRmAuthTypeUnsupported', /'spnpassword'.*spnKey, spnCertificate/);
    });

    it('a connection without a subscription', function () {
      rejects(without(servicePrincipal, 'data', 'subscriptionId'), 'AzureRmSubscriptionMissing', /subscription ID/);
    });

    it('a Resource Manager or authority URL that is not https', function () {
      rejects({ ...servicePrincipal, url: 'http://management.local/' }, 'AzureRmUrlInvalid', /Resource Manager URL 'http:\/\/management\.local\/'/);
      rejects(with_(servicePrincipal, { data: { environmentAuthorityUrl: 'not a url' } }), 'AzureRmUrlInvalid', /authority URL 'not a url'/);
    });
  });
});

describe('armScope: one Resource Manager token scope for every caller', function () {
  const stackAudience = 'https://management.adfs.azurestack.local/4de154de-f8a8-4017-af41-df619da68155';
  /** Connections as the agent gives them: the endpoint URL, and the environment's data when the connection carries it. */
  const cases: { name: string; url?: string; audience?: string; scope: string }[] = [
    { name: 'public cloud, no URL (an ACR connection)', scope: 'https://management.azure.com/.default' },
    { name: 'public cloud URL', url: 'https://management.azure.com/', scope: 'https://management.azure.com/.default' },
    { name: 'public cloud with its declared audience', url: 'https://management.azure.com/', audience: 'https://management.core.windows.net/', scope: 'https://management.core.windows.net/.default' },
    { name: 'AzureChinaCloud URL only', url: 'https://management.chinacloudapi.cn', scope: 'https://management.chinacloudapi.cn/.default' },
    { name: 'AzureChinaCloud with its declared audience', url: 'https://management.chinacloudapi.cn/', audience: 'https://management.core.chinacloudapi.cn/', scope: 'https://management.core.chinacloudapi.cn/.default' },
    { name: 'AzureUSGovernment URL only', url: 'https://management.usgovcloudapi.net/', scope: 'https://management.usgovcloudapi.net/.default' },
    { name: 'AzureUSGovernment audience without a trailing slash', url: 'https://management.usgovcloudapi.net/', audience: 'https://management.core.usgovcloudapi.net', scope: 'https://management.core.usgovcloudapi.net/.default' },
    { name: 'Azure Stack: its audience, unrelated to its URL, wins', url: 'https://management.local.azurestack.external:30005/', audience: stackAudience, scope: `${stackAudience}/.default` },
    { name: 'Azure Stack audience with trailing slashes', url: 'https://management.local.azurestack.external/', audience: `${stackAudience}//`, scope: `${stackAudience}/.default` },
    { name: 'a custom URL with a port and a path: its origin', url: 'https://arm.contoso.example:8443/arm/', scope: 'https://arm.contoso.example:8443/.default' },
  ];
  for (const { name, url, audience, scope } of cases) {
    it(name, function () {
      const data = { ...servicePrincipal.data, ...(audience ? { activeDirectoryServiceEndpointResourceId: audience } : {}) };
      assert.equal(armScope(read({ ...servicePrincipal, url, data })), scope);
    });
  }

  it('a blank declared audience falls back to the URL\'s origin', function () {
    assert.equal(armScope({ armUrl: 'https://management.chinacloudapi.cn/', resourceManagerAudience: ' / ' }), 'https://management.chinacloudapi.cn/.default');
  });
});
