import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readDockerfile } from '../support/appImage/dockerfile';

describe('the sample Dockerfile, as the test app image reads it', () => {
  const text = readFileSync(join(__dirname, '..', '..', 'samples', 'flask-app', 'Dockerfile'), 'utf8');

  it('gives the ENV, WORKDIR, USER, EXPOSE and CMD that the file sets', () => {
    const image = readDockerfile(text);
    // Each value is looked up in the file's own text, so the test follows the file, not a copy of it.
    for (const [key, value] of Object.entries(image.env)) assert.match(text, new RegExp(`${key}=${value}\\b`));
    assert.equal(image.env.MODEL_PATH, '/models');
    assert.match(text, new RegExp(`^WORKDIR ${image.workdir}$`, 'm'));
    assert.match(text, new RegExp(`^USER ${image.user}$`, 'm'));
    assert.deepEqual(image.cmd, JSON.parse(/^CMD (.*)$/m.exec(text)![1]));
    assert.deepEqual(image.exposedPorts, [`${/^EXPOSE (\d+)$/m.exec(text)![1]}/tcp`]);
    assert.deepEqual(image.appFiles, ['app.py', 'scoring.py']);
    assert.equal(image.useradd?.[0], 'useradd');
    assert.ok(image.useradd?.includes(image.user), 'the USER is the uid that useradd creates');
  });

  it('refuses an instruction it cannot reproduce, rather than leave it out of the test image', () => {
    assert.throws(() => readDockerfile(`${text}\nHEALTHCHECK CMD curl -f http://localhost/`), /HEALTHCHECK/);
    assert.throws(() => readDockerfile(`${text}\nRUN apt-get install -y curl`), /apt-get/);
  });

  it('joins continued lines and reads quoted ENV values', () => {
    const image = readDockerfile('FROM x\nENV A=1 \\\n    B="two words"\nCMD ["run"]\n');
    assert.deepEqual(image.env, { A: '1', B: 'two words' });
  });
});
