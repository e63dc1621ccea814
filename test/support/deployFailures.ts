/**
 * A Deploy core failure as the task reports it: the SettingError's setting and key are checked, then
 * it becomes the InputError the user sees, through the task's own table (pipeline/deployInputs.ts).
 */
import { strict as assert } from 'node:assert';
import { SettingError } from '../../tasks/common/errors';
import { InputError } from '../../tasks/common/pipeline/inputError';
import { deploySettings } from '../../tasks/common/pipeline/deployInputs';
import type { ConnectionType } from '../../tasks/common/pipeline/kubeConnection';
import { asInputError } from '../../tasks/common/pipeline/settings';

export function reportedByDeploy(error: unknown, expected: { setting: string; key?: string }, connectionType: ConnectionType = 'kubernetesServiceConnection'): InputError {
  assert.ok(error instanceof SettingError, `expected a SettingError, got ${String(error)}`);
  assert.equal(error.setting, expected.setting, error.message);
  if (expected.key !== undefined) assert.equal(error.key, expected.key, error.message);
  const reported = asInputError(error, deploySettings(connectionType));
  assert.ok(reported instanceof InputError);
  return reported;
}
