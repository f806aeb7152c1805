/**
 * Which `dwLsp.*` settings belong to the server and which to the extension alone, and how the
 * server's are handed over (`initializationOptions`, `workspace/configuration`,
 * `workspace/didChangeConfiguration`).
 *
 * The server's keys are read from this extension's own manifest (`contributes.configuration`),
 * which `tests/test_extension_manifest.py` checks against `dw_lsp.settings.KEYS`, so there is no
 * second list to keep in step. Pure: imports nothing from `vscode`.
 */

export const SECTION = 'dwLsp';

/** Settings only the extension reads; the server would report them as unknown. */
export const EXTENSION_ONLY_KEYS: readonly string[] = ['interpreter', 'openOutputAfterRun'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The server's dotted setting keys (`worker.command`) named in a `package.json`. */
export function serverSettingKeys(manifest: unknown): string[] {
  const contributes = isRecord(manifest) ? manifest.contributes : undefined;
  const configuration = isRecord(contributes) ? contributes.configuration : undefined;
  const properties = isRecord(configuration) ? configuration.properties : undefined;
  if (!isRecord(properties)) {
    return [];
  }
  const prefix = `${SECTION}.`;
  return Object.keys(properties)
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length))
    .filter((key) => !EXTENSION_ONLY_KEYS.includes(key));
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
