/**
 * The parts of a credential that must be masked on their own: the whole value, and the pieces a
 * log line could still carry after the rest is cut away (an account key, a SAS signature, the query
 * string of a SAS URL). Multi-line values (PEM, kubeconfig) are masked line by line, because the
 * agent refuses multi-line secrets.
 */
export function secretPartsOf(value: string | undefined): string[] {
  if (!value) return [];
  const parts = new Set<string>();
  const add = (part: string | undefined) => {
    const trimmed = part?.trim();
    if (trimmed && trimmed.length >= 4) parts.add(trimmed);
  };
  const lines = value.split(/\r?\n/);
  if (lines.length > 1) {
    lines.forEach((line) => add(line.length >= 16 && !/^-----/.test(line.trim()) ? line : undefined));
  } else {
    add(value);
  }
  for (const match of value.matchAll(/(?:AccountKey|SharedAccessSignature|SharedAccessKey)=([^;]+)/gi)) {
    add(match[1]);
    add(decodeSafely(match[1]));
  }
  for (const match of value.matchAll(/[?&]sig=([^&;\s]+)/gi)) {
    add(match[1]);
    add(decodeSafely(match[1]));
  }
  const query = /\?([^#\s]*sig=[^#\s]*)/i.exec(value);
  if (query) add(query[1]);
  return [...parts];
}

function decodeSafely(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
