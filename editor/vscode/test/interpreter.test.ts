import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';

import {
  defaultPython,
  describeInterpreter,
  expandPath,
  pythonFromExtension,
  resolveInterpreter,
  type PythonExtensionApi,
} from '../src/interpreter';

function pythonApi(activePath: string | undefined, executable?: string): PythonExtensionApi & { calls: unknown[] } {
  const calls: unknown[] = [];
  return {
    calls,
    environments: {
      getActiveEnvironmentPath(resource?: unknown) {
        calls.push(resource);
        return activePath === undefined ? undefined : { id: 'env', path: activePath };
      },
      resolveEnvironment(environment) {
        assert.deepEqual(environment, { id: 'env', path: activePath });
        return Promise.resolve(executable === undefined ? undefined : { executable: { uri: { fsPath: executable } } });
      },
    },
  };
}

test('the setting wins over the Python extension and the default', () => {
  assert.deepEqual(resolveInterpreter({ setting: '/opt/py/bin/python', pythonExtension: '/env/python', platform: 'linux' }), {
    command: '/opt/py/bin/python',
    source: 'setting',
  });
});

test('the Python extension is used when the setting is empty', () => {
  assert.deepEqual(resolveInterpreter({ setting: '  ', pythonExtension: '/env/python', platform: 'linux' }), {
    command: '/env/python',
    source: 'pythonExtension',
  });
});

test('python3 is the default, python on Windows', () => {
  assert.deepEqual(resolveInterpreter({ platform: 'linux' }), { command: 'python3', source: 'default' });
  assert.deepEqual(resolveInterpreter({ setting: '', pythonExtension: '', platform: 'darwin' }), {
    command: 'python3',
    source: 'default',
  });
  assert.equal(defaultPython('win32'), 'python');
});

test('the setting expands ${workspaceFolder}, ${userHome} and ~', () => {
  const expand = { workspaceFolder: '/ws', home: '/home/me' };
  assert.equal(expandPath('${workspaceFolder}/.venv/bin/python', expand), '/ws/.venv/bin/python');
  assert.equal(expandPath('${userHome}/py', expand), '/home/me/py');
  assert.equal(expandPath('~/venv/bin/python', expand), path.join('/home/me', 'venv/bin/python'));
  assert.equal(expandPath('/a~b', expand), '/a~b');
  assert.equal(expandPath('${workspaceFolder}/x', {}), '${workspaceFolder}/x');
  assert.equal(
    resolveInterpreter({ setting: '${workspaceFolder}/.venv/bin/python', platform: 'linux', expand }).command,
    '/ws/.venv/bin/python',
  );
});

test('pythonFromExtension prefers the resolved executable', async () => {
  const api = pythonApi('/envs/conda-env', '/envs/conda-env/bin/python');
  assert.equal(await pythonFromExtension(api, 'folder-uri'), '/envs/conda-env/bin/python');
  assert.deepEqual(api.calls, ['folder-uri']);
});

test('pythonFromExtension falls back to the active path, and to nothing', async () => {
  assert.equal(await pythonFromExtension(pythonApi('/venv/bin/python')), '/venv/bin/python');
  assert.equal(await pythonFromExtension(pythonApi(undefined)), undefined);
  assert.equal(await pythonFromExtension(pythonApi('')), undefined);
  assert.equal(await pythonFromExtension({}), undefined);
  assert.equal(await pythonFromExtension(undefined), undefined);
  const withoutResolve: PythonExtensionApi = {
    environments: { getActiveEnvironmentPath: () => ({ id: 'x', path: '/usr/bin/python3.12' }) },
  };
  assert.equal(await pythonFromExtension(withoutResolve), '/usr/bin/python3.12');
});

test('describeInterpreter says where the interpreter came from', () => {
  assert.match(describeInterpreter({ command: 'p', source: 'setting' }), /dwLsp\.interpreter setting/);
  assert.match(describeInterpreter({ command: 'p', source: 'pythonExtension' }), /Python extension/);
  assert.match(describeInterpreter({ command: 'p', source: 'default' }), /default/);
});
