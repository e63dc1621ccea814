/**
 * Blue-green's colours, pure. Two Deployments serve one app in turn:
 *
 * - blue is the app's own Deployment, `<app>`, the one rolling and canary deploy. A first blue-green
 *   run adopts it as it is, serving, without touching it: the Service's selector is still the
 *   generated `app.kubernetes.io/name=<app>`, and a selector without a colour means blue.
 * - green is `<app>-green`, created by the first blue-green run.
 *
 * A colour's pods carry `ai-model-delivery-tasks/app=<app>` and `ai-model-delivery-tasks/color=<colour>`,
 * and the Service selects exactly those two labels of the serving colour; a switch replaces the
 * selector whole in one server-side apply. Green's own Deployment selector is those two labels. Blue
 * keeps its immutable selector (`app.kubernetes.io/name=<app>`) and gains the colour labels on its
 * pod template when a blue-green run rolls a new image into it (while it is not serving); green pods
 * carry no name label, so neither Deployment nor the unswitched Service ever selects the other's pods.
 *
 * The colour that stopped serving keeps running until the time in its keep-until annotation, so a
 * switch back is instant; any later run scales down a colour whose time has passed.
 */
import type { GeneratedApp } from '../deploy';
import { MANAGED_BY_LABEL, MANAGER, NAME_LABEL, generateManifests } from '../generate';
import type { KubeObject } from '../types';
import { TRACK_APP_LABEL } from './canary';

export type Colour = 'blue' | 'green';
export const COLOUR_LABEL = 'ai-model-delivery-tasks/color';
/** On the colour that stopped serving: an ISO 8601 time after which any run may scale it down. */
export const KEEP_UNTIL_ANNOTATION = 'ai-model-delivery-tasks/keep-until';
export const PREVIEW_SUFFIX = '-preview';

export function colourName(app: string, colour: Colour): string {
  return colour === 'blue' ? app : `${app}-green`;
}

export function otherColour(colour: Colour): Colour {
  return colour === 'blue' ? 'green' : 'blue';
}

/** The serving colour, by the Service's selector: no colour label (the generated selector, or no Service) is blue. */
export function servingColour(selector: Readonly<Record<string, string>> | undefined): Colour {
  return selector?.[COLOUR_LABEL] === 'green' ? 'green' : 'blue';
}

export function colourSelector(app: string, colour: Colour): Record<string, string> {
  return { [TRACK_APP_LABEL]: app, [COLOUR_LABEL]: colour };
}

/** When a colour that stops serving at `now` may be scaled down. */
export function keepUntil(now: Date, keepMinutes: number): string {
  return new Date(now.getTime() + keepMinutes * 60_000).toISOString();
}

/**
 * Whether a keep-until annotation's time has passed. A value that is not an ISO 8601 time (someone
 * edited it) is 'invalid': the caller keeps the colour running rather than take capacity on a guess.
 */
export function keepExpired(value: string | undefined, now: Date): 'expired' | 'kept' | 'invalid' | 'none' {
  if (value === undefined) return 'none';
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value.trim())) return 'invalid';
  const at = Date.parse(value.trim());
  if (Number.isNaN(at)) return 'invalid';
  return at <= now.getTime() ? 'expired' : 'kept';
}

type Editable = {
  metadata: { name: string; labels: Record<string, string> };
  spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> } }; [key: string]: unknown };
};

/** A colour's Deployment: the generated one, renamed for green, with the colour labels on it and its pods. */
export function colourDeployment(app: GeneratedApp & { imagePullSecret?: string }, namespace: string, image: string, colour: Colour): KubeObject {
  const { deployment } = generateManifests({ ...app, namespace, image });
  const copy = structuredClone(deployment) as Editable;
  const own = colourSelector(app.appName, colour);
  copy.metadata.name = colourName(app.appName, colour);
  copy.metadata.labels = { ...copy.metadata.labels, ...own };
  if (colour === 'green') {
    // Green's pods must not carry the name label: blue's selector and the generated Service select by it.
    copy.metadata.labels = { ...own, [MANAGED_BY_LABEL]: MANAGER };
    copy.spec.selector = { matchLabels: own };
    copy.spec.template.metadata.labels = own;
  } else {
    copy.spec.template.metadata.labels = { ...copy.spec.template.metadata.labels, ...own, [NAME_LABEL]: app.appName };
  }
  return copy as unknown as KubeObject;
}

/** The generated Service (or its preview) selecting `selector`: what one apply switches traffic with. */
export function colourService(app: GeneratedApp, namespace: string, image: string, selector: Readonly<Record<string, string>>, preview = false): KubeObject {
  const { service } = generateManifests({ ...app, namespace, image });
  const copy = structuredClone(service) as { metadata: { name: string; annotations?: Record<string, string> }; spec: { selector: Record<string, string> } };
  copy.spec.selector = { ...selector };
  if (preview) {
    copy.metadata.name = `${app.appName}${PREVIEW_SUFFIX}`;
    // The DNS label names the app's public address; the preview gets an address of its own.
    delete copy.metadata.annotations;
  }
  return copy as unknown as KubeObject;
}
