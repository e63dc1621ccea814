/**
 * Sigstore bundle v0.3 in cosign's key-based layout: the DSSE envelope, and as verification
 * material only the hint of the public key (no certificate, no transparency log entry). Anyone
 * holding the public key checks it: `cosign verify-attestation --key`, or @sigstore/verify with a
 * key-based trust root.
 */
import type { DsseEnvelope } from './dsse';

export const SIGSTORE_BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';

export interface SigstoreBundle {
  readonly mediaType: typeof SIGSTORE_BUNDLE_V03;
  readonly verificationMaterial: {
    readonly publicKey: { readonly hint: string };
    readonly tlogEntries: readonly unknown[];
    readonly timestampVerificationData: { readonly rfc3161Timestamps: readonly unknown[] };
  };
  readonly dsseEnvelope: DsseEnvelope;
}

export function sigstoreBundle(envelope: DsseEnvelope, hint: string): SigstoreBundle {
  return {
    mediaType: SIGSTORE_BUNDLE_V03,
    verificationMaterial: { publicKey: { hint }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
    dsseEnvelope: envelope,
  };
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

/** The DSSE envelope of a bundle a registry sent, or undefined when it is not one we can check. */
export function envelopeOf(value: unknown): DsseEnvelope | undefined {
  const bundle = value as Partial<SigstoreBundle> | null;
  if (!bundle || typeof bundle !== 'object' || bundle.mediaType !== SIGSTORE_BUNDLE_V03) return undefined;
  const envelope = bundle.dsseEnvelope as Partial<DsseEnvelope> | undefined;
  if (!envelope || !isString(envelope.payload) || !isString(envelope.payloadType) || !Array.isArray(envelope.signatures)) return undefined;
  const signatures = envelope.signatures.filter((entry): entry is { keyid: string; sig: string } => !!entry && isString(entry.sig));
  return { payload: envelope.payload, payloadType: envelope.payloadType, signatures: signatures.map(({ keyid, sig }) => ({ keyid: isString(keyid) ? keyid : '', sig })) };
}
