/**
 * Blue-green's pure parts: which colour serves by the Service's selector, the other colour, the
 * colours' Deployments and Services, and the keep-until time written and read back.
 */
import * as assert from 'node:assert/strict';
import type { GeneratedApp } from '../../tasks/common/kube/deploy';
import { DNS_LABEL_ANNOTATION, NAME_LABEL } from '../../tasks/common/kube/generate';
import { TRACK_APP_LABEL } from '../../tasks/common/kube/strategy/canary';
import {
  COLOUR_LABEL, colourDeployment, colourName, colourSelector, colourService, keepExpired, keepUntil, otherColour, servingColour,
} from '../../tasks/common/kube/strategy/colours';

const app: GeneratedApp = {
  appName: 'churn', replicas: 3, containerPort: 8080, servicePort: 80, serviceType: 'LoadBalancer', dnsLabel: 'churn-prod', readinessPath: '/healthz', env: {}, annotations: {},
};
type View = {
  metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> };
  spec: { replicas: number; selector: Record<string, string> & { matchLabels?: Record<string, string> }; type?: string; template: { metadata: { labels: Record<string, string> }; spec: { containers: { image: string }[] } } };
};

describe('blue-green colours', () => {
  it('reads the serving colour from the selector: no colour label (the generated selector, no Service) is blue', () => {
    assert.equal(servingColour({ [NAME_LABEL]: 'churn' }), 'blue');
    assert.equal(servingColour(undefined), 'blue');
    assert.equal(servingColour(colourSelector('churn', 'green')), 'green');
    assert.equal(servingColour(colourSelector('churn', 'blue')), 'blue');
    assert.deepEqual([otherColour('blue'), otherColour('green')], ['green', 'blue']);
  });

  it("names blue after the app's own Deployment, so a first run adopts it, and green after it", () => {
    assert.deepEqual([colourName('churn', 'blue'), colourName('churn', 'green')], ['churn', 'churn-green']);
  });

  it("keeps blue's immutable selector and adds the colour labels to its pods", () => {
    const blue = colourDeployment(app, 'ml', 'registry.example/churn:v1', 'blue') as unknown as View;
    assert.equal(blue.metadata.name, 'churn');
    assert.deepEqual(blue.spec.selector.matchLabels, { [NAME_LABEL]: 'churn' });
    assert.deepEqual(blue.spec.template.metadata.labels, { [NAME_LABEL]: 'churn', [TRACK_APP_LABEL]: 'churn', [COLOUR_LABEL]: 'blue' });
    assert.equal(blue.spec.replicas, 3);
  });

  it("gives green pods no name label, so neither blue's selector nor the generated Service picks them", () => {
    const green = colourDeployment(app, 'ml', 'registry.example/churn:v2', 'green') as unknown as View;
    assert.equal(green.metadata.name, 'churn-green');
    assert.deepEqual(green.spec.selector.matchLabels, colourSelector('churn', 'green'));
    assert.deepEqual(green.spec.template.metadata.labels, colourSelector('churn', 'green'));
    assert.equal(green.spec.template.spec.containers[0]!.image, 'registry.example/churn:v2');
  });

  it('switches the Service by its whole selector; the preview has its own name and no DNS label', () => {
    const main = colourService(app, 'ml', 'img', colourSelector('churn', 'green')) as unknown as View;
    assert.equal(main.metadata.name, 'churn');
    assert.deepEqual(main.spec.selector, colourSelector('churn', 'green'));
    assert.equal(main.metadata.annotations?.[DNS_LABEL_ANNOTATION], 'churn-prod');
    const preview = colourService(app, 'ml', 'img', colourSelector('churn', 'blue'), true) as unknown as View;
    assert.equal(preview.metadata.name, 'churn-preview');
    assert.equal(preview.spec.type, 'LoadBalancer');
    assert.equal(preview.metadata.annotations, undefined);
  });

  it('writes keep-until as an ISO time and reads it back as kept, expired, invalid or none', () => {
    const now = new Date('2026-12-07T03:00:00.000Z');
    assert.equal(keepUntil(now, 30), '2026-12-07T03:30:00.000Z');
    assert.equal(keepExpired(keepUntil(now, 30), now), 'kept');
    assert.equal(keepExpired(keepUntil(now, 30), new Date('2026-12-07T03:30:00.000Z')), 'expired');
    assert.equal(keepExpired('2020-01-01T00:00:00Z', now), 'expired');
    assert.equal(keepExpired('2026-12-07T04:00:00+01:00', now), 'expired');
    assert.equal(keepExpired('2026-12-07T04:00:00-01:00', now), 'kept');
    for (const value of ['tomorrow', '', '1765076400', '2026-12-07', '2026-13-45T99:00:00Z']) assert.equal(keepExpired(value, now), 'invalid', value);
    assert.equal(keepExpired(undefined, now), 'none');
  });
});
