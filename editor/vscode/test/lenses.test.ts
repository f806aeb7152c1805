import assert from 'node:assert/strict';
import { test } from 'node:test';

import { argumentUri, throughExtension } from '../src/lenses';
import { COMMANDS_NEEDING_TRUST, DW, extensionCommandFor, SMOKE_RUN } from '../src/serverCommands';

const URI = 'file:///ws/workflows/a.json';

test("each server lens runs the extension's command with the workflow as its resource", () => {
  const toResource = (uri: string) => ({ resource: uri });
  for (const [server, extension] of [
    [DW.run, 'dwLsp.run'],
    [DW.memory, 'dwLsp.showMemory'],
    [DW.clear, 'dwLsp.clearMemory'],
  ] as const) {
    const lens = throughExtension({ title: 'T', command: server, arguments: [{ uri: URI }] }, 'file:///other.json', toResource);
    assert.deepEqual(lens, { title: 'T', command: extension, tooltip: undefined, arguments: [{ resource: URI }] });
  }
});

test('the Smoke run lens (dw.run with standIn: true) runs the smoke-run command', () => {
  const smoke = { title: 'Smoke run', command: DW.run, arguments: [{ uri: URI, standIn: true }] };
  assert.deepEqual(throughExtension(smoke, URI, (uri) => uri), {
    title: 'Smoke run',
    command: SMOKE_RUN,
    tooltip: undefined,
    arguments: [URI],
  });
  assert.equal(extensionCommandFor(DW.run, { uri: URI, standIn: false }), 'dwLsp.run');
});

test("a lens without a uri argument takes the document's; an unknown command is kept", () => {
  const lens = throughExtension({ title: 'Run', command: DW.run }, URI, (uri) => uri);
  assert.deepEqual(lens.arguments, [URI]);
  const other = { title: 'X', command: 'somebody.else', arguments: [1] };
  assert.equal(throughExtension(other, URI, (uri) => uri), other);
});

test('argumentUri reads only a string uri of the first argument object', () => {
  assert.equal(argumentUri([{ uri: URI }]), URI);
  assert.equal(argumentUri([{ uri: 3 }]), undefined);
  assert.equal(argumentUri(['x']), undefined);
  assert.equal(argumentUri(undefined), undefined);
});

test('the commands that run a workflow or start the worker need trust; the others do not', () => {
  assert.deepEqual([...COMMANDS_NEEDING_TRUST].sort(), ['dwLsp.restartWorker', 'dwLsp.run', 'dwLsp.runSweep', 'dwLsp.runWithArguments', 'dwLsp.showMemory', 'dwLsp.smokeRun']);
  assert.equal(extensionCommandFor(DW.run), 'dwLsp.run');
  assert.equal(extensionCommandFor('dw.nothing'), undefined);
});
