import assert from 'node:assert/strict';
import { test } from 'node:test';

import { diagnoseProbe, installCommand, probeInterpreter, shellQuote, type ProbeResult } from '../src/startup';

function probe(fields: Partial<ProbeResult>): ProbeResult {
  return { exitCode: 0, timedOut: false, stdout: '', stderr: '', ...fields };
}

test('a passing probe is no problem', () => {
  assert.equal(diagnoseProbe('python3', probe({ stdout: '3.12\n' })), undefined);
});

test('a missing program means Python is missing', () => {
  const problem = diagnoseProbe('python3', probe({ errorCode: 'ENOENT', exitCode: null }));
  assert.equal(problem?.kind, 'pythonMissing');
  assert.match(problem?.message ?? '', /dwLsp\.interpreter/);
});

test('a missing module means dw-lsp is not installed, with the command to fix it', () => {
  const stderr = "Traceback (most recent call last):\n  File \"<string>\", line 1\nModuleNotFoundError: No module named 'dw_lsp'\n";
  const problem = diagnoseProbe('/opt/my env/bin/python', probe({ exitCode: 1, stdout: '3.12\n', stderr }));
  assert.equal(problem?.kind, 'dwLspMissing');
  assert.equal(problem?.fix, '"/opt/my env/bin/python" -m pip install dw-lsp');
  assert.match(problem?.message ?? '', /pip install -e \./);
});

test('an old Python is reported as such', () => {
  const problem = diagnoseProbe('python3', probe({ exitCode: 1, stdout: '3.8\n', stderr: 'SyntaxError' }));
  assert.equal(problem?.kind, 'pythonTooOld');
  assert.match(problem?.message ?? '', /3\.11/);
});

test('other failures keep the last line of stderr', () => {
  const problem = diagnoseProbe('python3', probe({ exitCode: 1, stdout: '3.12\n', stderr: 'x\nImportError: broken thing\n' }));
  assert.equal(problem?.kind, 'failed');
  assert.match(problem?.message ?? '', /ImportError: broken thing/);
  const notPython = diagnoseProbe('/bin/false', probe({ exitCode: 1 }));
  assert.match(notPython?.message ?? '', /does not look like a Python interpreter/);
  assert.equal(diagnoseProbe('python3', probe({ exitCode: null, timedOut: true }))?.kind, 'failed');
  assert.equal(diagnoseProbe('/etc/passwd', probe({ errorCode: 'EACCES', exitCode: null }))?.kind, 'notExecutable');
});

test('probeInterpreter reports a program that does not exist', async () => {
  const result = await probeInterpreter('/nonexistent/dw-lsp-test/python3');
  assert.equal(result.errorCode, 'ENOENT');
  assert.equal(diagnoseProbe('/nonexistent/dw-lsp-test/python3', result)?.kind, 'pythonMissing');
});

test('shellQuote leaves plain paths alone and quotes the rest', () => {
  assert.equal(shellQuote('/usr/bin/python3'), '/usr/bin/python3');
  assert.equal(shellQuote('C:\\Python312\\python.exe'), 'C:\\Python312\\python.exe');
  assert.equal(shellQuote('/a b/python'), '"/a b/python"');
  assert.equal(installCommand('python3'), 'python3 -m pip install dw-lsp');
});
