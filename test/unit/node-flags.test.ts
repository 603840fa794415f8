// The V8 flags are given once (src/node-flags.ts) and reach the program by its shebang too.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../../src/node-flags.js';

describe('node flags', () => {
  it("src/main.ts's shebang runs node with NODE_FLAGS", () => {
    const shebang = readFileSync(new URL('../../src/main.ts', import.meta.url), 'utf8').split('\n')[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
  });

  it('npm start runs node with NODE_FLAGS', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`node ${NODE_FLAGS.join(' ')} dist/main.js`);
  });
});
