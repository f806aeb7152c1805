/**
 * Which `dwLsp.*` settings belong to the server and which to the extension alone, and how the
 * server's are handed over (`initializationOptions`, `workspace/configuration`,
 * `workspace/didChangeConfiguration`).
 *
 * The server's keys are read from this extension's own manifest (`contributes.configuration`),
 * which `tests/test_extension_manifest.py` checks against `dw_lsp.settings.KEYS`, so there is no
 * second list to keep in step. Execution settings (the programs and modules a run may execute:
 * `worker.command`, `worker.allowedModules`, ...) are the ones the manifest scopes `machine` or
 * `application`: they are read from the user's own settings only and sent in
 * `initializationOptions` only, never through `workspace/configuration`, where a repository's
 * `.vscode/settings.json` could set them. Pure: imports nothing from `vscode`.
 */

export const SECTION = 'dwLsp';

/** Settings only the extension reads; the server would report them as unknown. */
export const EXTENSION_ONLY_KEYS: readonly string[] = ['interpreter', 'openOutputAfterRun'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Manifest scopes whose values a workspace cannot set. */
const USER_ONLY_SCOPES: readonly string[] = ['machine', 'application'];

function manifestProperties(manifest: unknown): Record<string, unknown> {
  const contributes = isRecord(manifest) ? manifest.contributes : undefined;
  const configuration = isRecord(contributes) ? contributes.configuration : undefined;
  const properties = isRecord(configuration) ? configuration.properties : undefined;
  return isRecord(properties) ? properties : {};
}

/** The server's dotted setting keys (`worker.command`) named in a `package.json`. */
export function serverSettingKeys(manifest: unknown): string[] {
  const prefix = `${SECTION}.`;
  return Object.keys(manifestProperties(manifest))
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length))
    .filter((key) => !EXTENSION_ONLY_KEYS.includes(key));
}

/**
 * The server's execution settings: keys the manifest scopes `machine` or `application`, so that
 * VS Code takes them from the user's (or the remote machine's) settings, never a workspace's.
 */
export function executionSettingKeys(manifest: unknown): string[] {
  const properties = manifestProperties(manifest);
  return serverSettingKeys(manifest).filter((key) => {
    const property = properties[`${SECTION}.${key}`];
    return isRecord(property) && typeof property.scope === 'string' && USER_ONLY_SCOPES.includes(property.scope);
  });
}

/**
 * The server's settings as one nested object (`{worker: {command: [...]}}`), the shape VS Code
 * gives for a section. `null` and `undefined` values are left out so the server keeps its default.
 */
export function collectServerSettings(keys: readonly string[], get: (key: string) => unknown): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const key of keys) {
    const value = get(key);
    if (value === undefined || value === null) {
      continue;
    }
    const parts = key.split('.');
    let node = settings;
    for (const part of parts.slice(0, -1)) {
      const child = node[part];
      if (isRecord(child)) {
        node = child;
      } else {
        const created: Record<string, unknown> = {};
        node[part] = created;
        node = created;
      }
    }
    node[parts[parts.length - 1] ?? key] = value;
  }
  return settings;
}

/** A copy of the `dwLsp` section without the extension-only settings. */
export function withoutExtensionOnly(section: unknown): unknown {
  if (!isRecord(section)) {
    return section;
  }
  return Object.fromEntries(Object.entries(section).filter(([key]) => !EXTENSION_ONLY_KEYS.includes(key)));
}

/** A deep copy of a nested section without the dotted `keys` (`worker.command`). */
export function withoutKeys(section: unknown, keys: readonly string[]): unknown {
  if (!isRecord(section)) {
    return section;
  }
  const copy: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(section)) {
    if (keys.includes(name)) {
      continue;
    }
    const nested = keys.filter((key) => key.startsWith(`${name}.`)).map((key) => key.slice(name.length + 1));
    copy[name] = nested.length > 0 ? withoutKeys(value, nested) : value;
  }
  return copy;
}

/** A copy of a nested section with the dotted `key` set to `value`. */
export function withValue(section: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const [head, ...rest] = key.split('.');
  if (head === undefined) {
    return section;
  }
  if (rest.length === 0) {
    return { ...section, [head]: value };
  }
  const child = section[head];
  return { ...section, [head]: withValue(isRecord(child) ? child : {}, rest.join('.'), value) };
}

/** The setting that makes the server start its worker as soon as a workflow opens. */
export const PREWARM_KEY = 'worker.prewarm';

/**
 * What the server gets from the `dwLsp` section over `workspace/configuration` and
 * `didChangeConfiguration`: no extension-only keys, no execution settings (those come only in
 * `initializationOptions`), and, in an untrusted workspace, no pre-warming.
 */
export function configurationForServer(section: unknown, executionKeys: readonly string[], trusted: boolean): unknown {
  const filtered = withoutKeys(withoutExtensionOnly(section), executionKeys);
  if (trusted || !isRecord(filtered)) {
    return filtered;
  }
  return withValue(filtered, PREWARM_KEY, false);
}

/**
 * `initializationOptions`: the server's settings nested under `dwLsp`, and whether the user
 * trusts the workspace (`trusted: false`: the server runs nothing and starts no worker).
 */
export function initializationOptions(settings: Record<string, unknown>, trusted: boolean): Record<string, unknown> {
  return { [SECTION]: trusted ? settings : withValue(settings, PREWARM_KEY, false), trusted };
}
