import { strict as assert } from 'node:assert';
import { formatReference, manifestReference, parseReference, parseRepository, ReferenceError } from '../../tasks/common/oci/reference';

const digest = `sha256:${'ab'.repeat(32)}`;

describe('image references', () => {
  const good: [string, { registry: string; repository: string; tag?: string; digest?: string }][] = [
    ['myacr.azurecr.io/churn-app:1.0', { registry: 'myacr.azurecr.io', repository: 'churn-app', tag: '1.0' }],
    ['127.0.0.1:5000/team/app', { registry: '127.0.0.1:5000', repository: 'team/app' }],
    ['localhost/app:latest', { registry: 'localhost', repository: 'app', tag: 'latest' }],
    ['python:3.12-slim', { registry: 'registry-1.docker.io', repository: 'library/python', tag: '3.12-slim' }],
    ['docker.io/bitnami/redis', { registry: 'registry-1.docker.io', repository: 'bitnami/redis' }],
    [`myacr.azurecr.io/app:v1@${digest}`, { registry: 'myacr.azurecr.io', repository: 'app', tag: 'v1', digest }],
    [`myacr.azurecr.io/app@${digest}`, { registry: 'myacr.azurecr.io', repository: 'app', digest }],
  ];
  for (const [text, expected] of good) {
    it(`parses ${text}`, () => assert.deepEqual({ ...parseReference(text) }, expected));
  }

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['myacr.azurecr.io/Churn-App:1', /'Churn-App' is not valid/],
    ['myacr.azurecr.io/app:-bad', /'-bad' is not a valid tag/],
    ['myacr.azurecr.io/app@sha256:1234', /not a sha256 digest/],
    ['my acr/app', /no spaces/],
    ['myacr.azurecr.io/app//x', /'' is not valid/],
    ['bad_host.io:99999999/app', /not a registry host/],
  ];
  for (const [text, message] of bad) {
    it(`rejects '${text}'`, () => assert.throws(() => parseReference(text), (error: Error) => error instanceof ReferenceError && message.test(error.message)));
  }

  it('formats pinned references by digest and others by tag, defaulting to latest', () => {
    assert.equal(formatReference(parseReference(`r.io/a:1@${digest}`)), `r.io/a@${digest}`);
    assert.equal(formatReference(parseReference('r.io/a')), 'r.io/a:latest');
    assert.equal(manifestReference(parseReference('r.io/a:7')), '7');
    assert.equal(manifestReference(parseReference(`r.io/a:7@${digest}`)), digest);
  });

  it('refuses a tag where a repository is expected', () => {
    assert.throws(() => parseRepository('r.io/a:1'), /without a tag or digest/);
    assert.equal(parseRepository('r.io/a').repository, 'a');
  });
});
