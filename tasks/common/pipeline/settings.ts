/**
 * Which task input carries each setting the core may name in a SettingError. The core speaks of
 * settings (a store's credential, its container, the destination); each task's input reader knows
 * which input held each one in this run (connectionString, sasUrl or azureSubscription for the
 * same credential) and returns that table with the inputs; the task runner applies it to a
 * failure before it reports it.
 */
import { InputError, SettingError } from '../errors';

/** Setting name -> the input that carried it in this run. */
export type SettingInputs = Readonly<Record<string, string>>;

/** What every task's input reader returns besides its own values. */
export interface WithSettings {
  readonly settings: SettingInputs;
}

/** The message slot a SettingError's template keeps for the input's name. */
export const INPUT_SLOT = '{input}';

/** A SettingError as the InputError that names the input behind it; anything else as it is. */
export function asInputError(error: unknown, settings: SettingInputs): unknown {
  if (!(error instanceof SettingError)) return error;
  // A setting this task does not map is a bug of ours: name the setting rather than nothing.
  const input = settings[error.setting] ?? error.setting;
  return new InputError(input, error.key, error.args, { cause: error });
}
