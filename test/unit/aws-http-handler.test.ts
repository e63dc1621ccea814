import { strict as assert } from 'node:assert';
import type { HttpRequest } from '@smithy/types';
import { queryStringOf, urlOf } from '../../tasks/common/net/adapters/awsHttpHandler';

const request = (overrides: Partial<HttpRequest>): HttpRequest => ({ method: 'GET', protocol: 'https:', hostname: 'models.s3.eu-central-1.amazonaws.com', path: '/', query: {}, headers: {}, ...overrides });

describe('the AWS request handler sends the URL the SDK signed', () => {
  it('escapes the query as the SDK signs it (RFC 3986, sorted keys, valueless keys)', () => {
    assert.equal(queryStringOf({ 'list-type': '2', prefix: "churn/a b!'()*", tagging: null, 'continuation-token': '1/2+3=' }), "continuation-token=1%2F2%2B3%3D&list-type=2&prefix=churn%2Fa%20b%21%27%28%29%2A&tagging");
    assert.equal(queryStringOf({ id: ['b', 'a'] }), 'id=b&id=a');
  });

  it('keeps host, port, path and query', () => {
    const url = urlOf(request({ protocol: 'http:', hostname: '127.0.0.1', port: 9000, path: '/models/churn/1.0.0/model%20x.bin', query: { tagging: null } }));
    assert.equal(url.href, 'http://127.0.0.1:9000/models/churn/1.0.0/model%20x.bin?tagging');
  });

  it('brackets an IPv6 host', () => {
    assert.equal(urlOf(request({ hostname: '::1', port: 9000, path: '/b/k' })).host, '[::1]:9000');
  });

  it('refuses a path a URL would rewrite (dot segments), instead of reading another key than the one signed', () => {
    for (const path of ['/models/churn/../secret', '/models/./x', '/models/%2e%2e/x']) {
      assert.throws(() => urlOf(request({ path })), /cannot be sent without changing it/, path);
    }
  });
});
