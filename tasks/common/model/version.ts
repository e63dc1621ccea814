/**
 * Versions as data scientists write them: 1.10.0, v2, 1.0.0-rc.1, 2026-11-20, 20261120.3.
 * Release segments compare numerically; a pre-release sorts below its release (as in SemVer);
 * date stamps are just numeric segments, so they order naturally.
 */
export interface Version {
  /** The text as published, e.g. "v1.4.0". */
  readonly raw: string;
  readonly release: readonly number[];
  readonly prerelease: readonly string[];
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})((?:[._-]\d+)*)$/;
const DOTTED = /^(\d+(?:\.\d+)*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$/;

/** Parses a whole token as a version, or returns undefined. */
export function parseVersion(text: string): Version | undefined {
  const body = /^[vV]\d/.test(text) ? text.slice(1) : text;
  const date = DATE.exec(body);
  if (date) {
    const tail = date[4] ? date[4].slice(1).split(/[._-]/) : [];
    return freeze(text, [date[1], date[2], date[3], ...tail].map(Number), []);
  }
  const dotted = DOTTED.exec(body);
  if (!dotted) return undefined;
  const release = dotted[1].split('.').map(Number);
  if (release.some((n) => !Number.isSafeInteger(n))) return undefined;
  return freeze(text, release, dotted[2] ? dotted[2].split('.') : []);
}

function freeze(raw: string, release: number[], prerelease: string[]): Version {
  return Object.freeze({ raw, release: Object.freeze(release), prerelease: Object.freeze(prerelease) });
}

/**
 * Finds the version a name carries: a folder name ("1.4.0", "v2", "model-1.4.0") or a file name
 * whose extension is dropped first ("model-1.4.0.onnx", "churn_v3.pkl"). The version starts at the
 * beginning or right after '-', '_' or '@'.
 */
export function versionInName(name: string, options: { isFile: boolean }): Version | undefined {
  const stem = options.isFile ? name.replace(/(\.[A-Za-z][A-Za-z0-9]*)+$/, '') : name;
  const whole = parseVersion(stem);
  if (whole) return whole;
  for (const match of stem.matchAll(/[-_@](?=[vV]?\d)/g)) {
    const version = parseVersion(stem.slice(match.index + 1));
    if (version) return version;
  }
  return undefined;
}

/** The name with its version (and the separator before it) removed, e.g. "model-1.4.0.onnx" -> "model". */
export function nameWithoutVersion(name: string, version: Version): string {
  const at = name.lastIndexOf(version.raw);
  return at < 0 ? name : name.slice(0, at).replace(/[-_@]$/, '');
}

export function compareVersions(a: Version, b: Version): number {
  const length = Math.max(a.release.length, b.release.length);
  for (let i = 0; i < length; i++) {
    const difference = (a.release[i] ?? 0) - (b.release[i] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return comparePrerelease(a.prerelease, b.prerelease);
}

/** SemVer §11: no pre-release beats any pre-release; identifiers compare numerically when numeric. */
function comparePrerelease(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return Math.sign(b.length - a.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    const xNumeric = /^\d+$/.test(x);
    const yNumeric = /^\d+$/.test(y);
    if (xNumeric && yNumeric && Number(x) !== Number(y)) return Math.sign(Number(x) - Number(y));
    if (xNumeric !== yNumeric) return xNumeric ? -1 : 1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return Math.sign(a.length - b.length);
}

/** Whether two written versions name the same release: "v1.4.0" and "1.4.0" do; "1.4" and "1.4.0" do not. */
export function sameVersionText(a: string, b: string): boolean {
  const strip = (text: string) => text.trim().replace(/^[vV](?=\d)/, '');
  return strip(a) === strip(b);
}
