/**
 * What a failure of the model core may ask the user to change (a SettingError's `setting`), named
 * in the core's own terms. Which task input carries each one differs by store and connection
 * type: the store credential is a connection string, a SAS URL, an AzureRM or AWS service
 * connection or a secret key. Fetch's input reader says which, per run (pipeline/settings.ts).
 */
export type ModelSetting =
  /** What proves the store's identity: the secret, key or service connection that signs requests. */
  | 'storeCredential'
  /** What proves the caller to a tracking server (MLflow), apart from the artifact store's credential. */
  | 'trackingCredential'
  /** The id half of an access key pair, where it is set apart from its secret. */
  | 'storeAccessKeyId'
  | 'storeSessionToken'
  /** The blob container or bucket the models live in. */
  | 'storeContainer'
  | 'storeRegion'
  | 'storeEndpoint'
  /** How the version is chosen: highest, newest, by tags or pinned. */
  | 'modelSelection'
  /** The pinned version. */
  | 'modelVersion'
  | 'tagQuery'
  /** Whether pre-releases may be chosen. */
  | 'includePrereleases'
  | 'modelLabel'
  /** For an ordinary image in a registry: the folder in the image that holds the model. */
  | 'modelPathInImage'
  | 'destination';
