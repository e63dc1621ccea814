/**
 * The sample app's image built from Debian's packages (test/support/appImage): pushed to the real
 * registry, judged by skopeo and umoci, and its Python and user checked inside the unpacked rootfs.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pushAppImage, rootfsBuilds } from '../support/appImage/appImage';
import { skopeoInspectConfig, unpackImage } from '../support/registry/imageTools';
import { startRegistry, type TestRegistry } from '../support/registry/registry';

describe('the sample app image built from Debian packages', function () {
  this.timeout(300_000);
  let registry: TestRegistry;

  before(async () => {
    registry = await startRegistry();
  });
  after(async () => registry?.stop());

  it('carries what the Dockerfile sets, the app files and a user that can run Python with Flask', async () => {
    const image = await pushAppImage(registry, 'churn-app', 'app-1');
    const config = await skopeoInspectConfig(registry, image.pinned);
    assert.deepEqual(config.config.Cmd, image.dockerfile.cmd);
    assert.equal(config.config.User, image.dockerfile.user);
    assert.equal(config.config.WorkingDir, image.dockerfile.workdir);
    for (const [key, value] of Object.entries(image.dockerfile.env)) assert.ok(config.config.Env?.includes(`${key}=${value}`), `${key} missing`);
    const unpacked = await unpackImage(registry, image.pinned);
    try {
      for (const file of image.dockerfile.appFiles) {
        assert.equal(fs.readFileSync(path.join(unpacked.rootfs, image.dockerfile.workdir, file), 'utf8'), fs.readFileSync(path.join(__dirname, '..', '..', 'samples', 'flask-app', file), 'utf8'));
      }
      assert.match(fs.readFileSync(path.join(unpacked.rootfs, 'etc', 'passwd'), 'utf8'), new RegExp(`^app:x:${image.dockerfile.user}:`, 'm'));
      // The image's CMD runs `python`; as its user, it must import what app.py imports.
      const versions = execFileSync('chroot', [`--userspec=${image.dockerfile.user}:${image.dockerfile.user}`, unpacked.rootfs, 'python', '-c', 'import flask, waitress; print(flask.__version__)'], { encoding: 'utf8' });
      assert.match(versions, /^\d+\.\d+/);
    } finally {
      await unpacked.cleanup();
    }
  });

  it('builds the rootfs once: a second push reuses the cached layer', async () => {
    const first = await pushAppImage(registry, 'churn-app', 'app-2');
    const builds = rootfsBuilds();
    const second = await pushAppImage(registry, 'churn-app', 'app-3');
    assert.equal(second.digest, first.digest, 'the same inputs give the same image');
    assert.equal(rootfsBuilds(), builds, 'the second push ran mmdebstrap again: the rootfs was built again');
  });
});
