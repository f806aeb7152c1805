import assert from 'node:assert/strict';
import { test } from 'node:test';

import { contentSecurityPolicy, escapeHtml, galleryHtml, galleryImages, isInside, type GalleryContext } from '../src/gallery';
import { parseSweepResult } from '../src/sweep';

const CONTEXT: GalleryContext = {
  cspSource: 'https://file.vscode-cdn.net',
  nonce: 'n0nce',
  toUri: (file) => `https://file.vscode-cdn.net${file}`,
};

function sweep(runs: unknown[], folder = '/ws/outputs/sweep-abc'): ReturnType<typeof parseSweepResult> {
  return parseSweepResult({ status: 'ok', name: 'tiny-sd', folder, total: runs.length, done: runs.length, runs });
}

const TWO = sweep([
  { index: 2, arguments: { prompt: 'an owl', steps: 4 }, status: 'ok', outputs: ['/ws/outputs/sweep-abc/run-002/a.png'] },
  { index: 1, arguments: { prompt: 'a fox', steps: 4 }, status: 'ok', outputs: ['/ws/outputs/sweep-abc/run-001/a.png', '/ws/outputs/sweep-abc/run-001/a.json'] },
]);

test('one card per run, in run order, with its images and its arguments', () => {
  const html = galleryHtml(TWO, 'Sweep finished: 2/2 runs ok.', CONTEXT);
  const images = [...html.matchAll(/<img src="([^"]+)"/g)].map((match) => match[1]);
  assert.deepEqual(images, [
    'https://file.vscode-cdn.net/ws/outputs/sweep-abc/run-001/a.png',
    'https://file.vscode-cdn.net/ws/outputs/sweep-abc/run-002/a.png',
  ]);
  assert.deepEqual([...html.matchAll(/data-run="(\d+)"/g)].map((match) => match[1]), ['1', '2']);
  assert.match(html, /<th>prompt<\/th><td>a fox<\/td><\/tr><tr><th>steps<\/th><td>4<\/td>/);
  assert.match(html, /Sweep of tiny-sd/);
  assert.match(html, /Sweep finished: 2\/2 runs ok\./);
});

test('the page runs no script and allows only the webview images and its own style', () => {
  const html = galleryHtml(TWO, 's', CONTEXT);
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1];
  assert.equal(csp, "default-src &#39;none&#39;; img-src https://file.vscode-cdn.net; style-src &#39;nonce-n0nce&#39;");
  assert.equal(contentSecurityPolicy(CONTEXT), "default-src 'none'; img-src https://file.vscode-cdn.net; style-src 'nonce-n0nce'");
  assert.doesNotMatch(html, /<script/i);
  assert.match(html, /<style nonce="n0nce">/);
  assert.equal((html.match(/<style/g) ?? []).length, 1);
});

test('text from the server is escaped, never markup', () => {
  const hostile = sweep([
    {
      index: 1,
      arguments: { 'x"><script>alert(1)</script>': '<img src=x onerror=alert(1)>' },
      status: 'error',
      error: { message: '</p><script>alert(2)</script>' },
      outputs: [],
    },
  ]);
  const html = galleryHtml({ ...hostile, name: '<b>n</b>' }, '<i>s</i>', CONTEXT);
  assert.doesNotMatch(html, /<script|<img src=x|<b>n|<i>s/);
  assert.match(html, /&#60;img src=x onerror=alert\(1\)&#62;/);
  assert.match(html, /class="problem">&#60;\/p&#62;&#60;script&#62;/);
  assert.equal(escapeHtml(`<a href="x" title='y'>&</a>`), '&#60;a href=&#34;x&#34; title=&#39;y&#39;&#62;&#38;&#60;/a&#62;');
});

test('only images inside the sweep folder are shown', () => {
  const run = sweep([
    {
      index: 1,
      arguments: {},
      status: 'ok',
      outputs: ['/ws/outputs/sweep-abc/run-001/a.png', '/ws/outputs/sweep-abc/../elsewhere.png', '/etc/x.png', '/ws/outputs/sweep-abc/run-001/b.txt'],
    },
  ]).runs[0];
  assert.ok(run !== undefined);
  assert.deepEqual(galleryImages(run, '/ws/outputs/sweep-abc'), ['/ws/outputs/sweep-abc/run-001/a.png']);
  assert.equal(isInside('/ws/outputs/sweep-abc', '/ws/outputs/sweep-abc'), false);
  assert.equal(isInside('/ws/outputs/sweep-abcd/x.png', '/ws/outputs/sweep-abc'), false);
});

test('failed and cancelled runs say so on their card', () => {
  const html = galleryHtml(
    sweep([
      { index: 1, arguments: { seed: 1 }, status: 'error', error: { message: 'out of memory' }, outputs: [] },
      { index: 2, arguments: { seed: 2 }, status: 'cancelled', outputs: [] },
      { index: 3, arguments: { seed: 3 }, status: 'ok', outputs: [] },
    ]),
    's',
    CONTEXT,
  );
  assert.match(html, /class="run error" data-run="1"><p class="problem">out of memory<\/p>/);
  assert.match(html, /class="run cancelled" data-run="2"><p class="problem">cancelled<\/p>/);
  assert.match(html, /class="run ok" data-run="3"><p class="note">no image<\/p>/);
  assert.match(galleryHtml(sweep([], ''), 's', CONTEXT), /The sweep has no output folder/);
});
