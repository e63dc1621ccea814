/**
 * What samples/flask-app/Dockerfile says about the image it builds, read from the file itself so
 * the test image (built from Debian's packages, without Docker Hub or PyPI) cannot drift from it:
 * ENV, WORKDIR, USER, EXPOSE and CMD, the files it COPYs, and its `useradd` line. Only the
 * instructions that file uses are understood; anything else is refused, so a new instruction
 * there fails this reader instead of being silently left out of the test image.
 */

export interface DockerfileImage {
  readonly env: Readonly<Record<string, string>>;
  readonly workdir: string;
  readonly user: string;
  readonly exposedPorts: readonly string[];
  readonly cmd: readonly string[];
  /** Files copied from the build context into WORKDIR, in order (requirements.txt excluded: Debian's packages replace pip). */
  readonly appFiles: readonly string[];
  /** The `useradd` command line a RUN holds, to run in the rootfs. */
  readonly useradd?: readonly string[];
}

/** Instructions joined across backslash-continued lines, comments and blank lines dropped. */
function instructions(text: string): { keyword: string; rest: string }[] {
  const joined = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
  return joined.map((line) => {
    const [keyword, ...rest] = line.split(/\s+/);
    return { keyword: keyword.toUpperCase(), rest: rest.join(' ') };
  });
}

/** ENV KEY=VALUE KEY2=VALUE2 (values without spaces, optionally double-quoted). */
function envPairs(rest: string): [string, string][] {
  return [...rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)].map((match) => [match[1], match[3] ?? match[2]]);
}

export function readDockerfile(text: string): DockerfileImage {
  const env: Record<string, string> = {};
  let workdir = '/';
  let user = '';
  let cmd: string[] = [];
  let useradd: string[] | undefined;
  const exposedPorts: string[] = [];
  const appFiles: string[] = [];
  for (const { keyword, rest } of instructions(text)) {
    switch (keyword) {
      case 'FROM':
        break;
      case 'ENV':
        for (const [key, value] of envPairs(rest)) env[key] = value;
        break;
      case 'WORKDIR':
        workdir = rest;
        break;
      case 'USER':
        user = rest;
        break;
      case 'EXPOSE':
        exposedPorts.push(...rest.split(/\s+/).map((port) => (port.includes('/') ? port : `${port}/tcp`)));
        break;
      case 'CMD':
        cmd = JSON.parse(rest) as string[];
        break;
      case 'COPY': {
        const parts = rest.split(/\s+/);
        appFiles.push(...parts.slice(0, -1).filter((file) => file !== 'requirements.txt'));
        break;
      }
      case 'RUN':
        if (/^useradd\b/.test(rest)) useradd = rest.split(/\s+/);
        else if (!/^pip install\b/.test(rest)) throw new Error(`the test image cannot follow 'RUN ${rest}' from the Dockerfile`);
        break;
      default:
        throw new Error(`the test image does not understand the Dockerfile instruction ${keyword}`);
    }
  }
  return { env, workdir, user, exposedPorts, cmd, appFiles, ...(useradd ? { useradd } : {}) };
}
