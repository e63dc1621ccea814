/**
 * The bundled Fetch against hostile stores, as the agent runs it: names that would inject agent
 * commands, start a line, collide on another file system or mean a device on Windows, served by
 * real servers (s3rver behind its SigV4 front, and Azurite). Each run must fail naming what it
 * refused, show no secret, send no agent command of the store's making, and leave nothing behind.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite, type Azurite } from '../support/azurite';
import { assertCleanFailure } from '../support/hostileChecks';
import { ModelPublisher } from '../support/modelStore';
import { S3Publisher, startS3, type S3Server } from '../support/s3';
import { runTask, type TaskRun } from '../support/taskRunner';

const taskDir = join(__dirname, '..', '..', 'dist', 'tasks', 'FetchLatestModelV1');

/** Each hostile model sits under its own prefix, where it is the latest version. */
const HOSTILE: readonly { prefix: string; names: string[]; refusal: RegExp }[] = [
  { prefix: 'inject/', names: ['inject/x ##vso[task.setvariable variable=INJECTED]pwned-9.9.9.onnx'], refusal: /Refusing the name 'inject\/x #\\#vso\[task\.setvariable variable=INJECTED\]pwned-9\.9\.9\.onnx' from the store: it holds an agent command prefix/ },
  { prefix: 'newline/', names: ['newline/model\n##vso[task.complete result=Succeeded]x-9.9.9.onnx'], refusal: /Refusing the name 'newline\/model\\n#\\#vso\[task\.complete result=Succeeded\]x-9\.9\.9\.onnx' from the store: it holds a control character/ },
  { prefix: 'twins/', names: ['twins/9.9.9/mod\u00e8le.bin', 'twins/9.9.9/mode\u0300le.bin'], refusal: /Names 'mode\u0300le\.bin' and 'mod\u00e8le\.bin' from the store would be written to the same file .*NFC\/NFD/ },
  { prefix: 'device/', names: ['device/9.9.9/weights.bin', 'device/9.9.9/CON.txt'], refusal: /Refusing the name 'device\/9\.9\.9\/CON\.txt' from the store: 'CON\.txt' is a reserved device name on Windows/ },
];

function assertRefused(run: TaskRun, refusal: RegExp, work: string, secrets: Record<string, string>): void {
  assertCleanFailure(run, { taskDir, names: refusal, secrets, absent: [join(work, 'model')], noLeftoversIn: [work] });
  assert.equal(run.variables.INJECTED, undefined, 'the store set no variable');
  assert.ok(!Object.keys(run.outputs).length, 'no output was set');
}

describe('FetchLatestModel e2e against hostile names in S3 (s3rver) and Blob Storage (Azurite)', function () {
  this.timeout(120_000);
  let s3: S3Server;
  let azurite: Azurite;
  let work: string;

  before(async () => {
    [s3, azurite] = await Promise.all([startS3(), startAzurite()]);
    const [bucket, container] = await Promise.all([new S3Publisher(s3, 'models').create(), new ModelPublisher(azurite.connectionString, 'models').create()]);
    for (const { names } of HOSTILE) {
      for (const name of names) await Promise.all([bucket.publish(name, Buffer.from('weights')), container.publish(name, Buffer.from('weights'))]);
    }
  });
  after(async () => Promise.all([s3?.stop(), azurite?.stop()]));
  beforeEach(() => (work = mkdtempSync(join(tmpdir(), 'fetch-hostile-e2e-'))));
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  for (const { prefix, refusal } of HOSTILE) {
    it(`S3: refuses the model under ${prefix} cleanly`, async () => {
      const inputs = { source: 's3', s3Bucket: 'models', s3Endpoint: s3.endpoint, s3ForcePathStyle: 'true', awsAccessKeyId: s3.accessKeyId, awsSecretAccessKey: s3.secretAccessKey, modelPrefix: prefix, destination: join(work, 'model') };
      const run = await runTask({ taskDir, inputs });
      assertRefused(run, refusal, work, { 'secret access key': s3.secretAccessKey });
    });

    it(`Blob Storage: refuses the model under ${prefix} cleanly`, async () => {
      const inputs = { connectionType: 'connectionString', connectionString: azurite.connectionString, container: 'models', modelPrefix: prefix, destination: join(work, 'model') };
      const run = await runTask({ taskDir, inputs });
      assertRefused(run, refusal, work, { 'account key': azurite.accountKey, 'connection string': azurite.connectionString });
    });
  }
});
