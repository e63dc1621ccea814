/**
 * A task input has a value we cannot use. Always names the input, the value and what is accepted.
 * Only pipeline/ knows inputs: the core reports a SettingError, which pipeline/settings.ts turns
 * into this error with the name of the input that carried the setting.
 */
import { TaskError } from '../errors';
import { type MessageKey, formatTemplate, messages } from '../messages';

export class InputError extends TaskError {
  constructor(
    readonly input: string,
    key: MessageKey,
    args: readonly unknown[],
    options?: { cause?: unknown },
  ) {
    super(key, args, options);
    this.message = formatTemplate(messages[key], args, input);
  }
}
