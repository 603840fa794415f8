// dockerode's unused dependencies (src/docker/unused-deps.ts) stay unloaded in a real process,
// and their stand-ins fail with a message that says why.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { standInFor, UNUSED_DEPENDENCIES } from '../../src/docker/unused-deps.js';

/** Runs an ES module script in a fresh node (the built gateway: npm test builds first). */
function node(script: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: new URL('../..', import.meta.url), encoding: 'utf8' });
}

describe("dockerode's unused dependencies", () => {
  it('loading the Docker gateway loads neither ssh2 nor the BuildKit session\'s proto-loader, and dockerode still works', () => {
    const out = node(`
      import { createRequire } from 'node:module';
      const { DockerodeEngine } = await import('./dist/docker/dockerode-engine.js');
      const require = createRequire(import.meta.url);
      const loaded = Object.keys(require.cache);
      console.log(JSON.stringify({
        gateway: typeof DockerodeEngine,
        dockerode: loaded.some((k) => k.includes('/node_modules/dockerode/lib/docker.js')),
        ssh2: loaded.some((k) => k.includes('/node_modules/ssh2/')),
        sessionProtoLoader: loaded.some((k) => k.includes('/node_modules/dockerode/node_modules/@grpc/')),
      }));
    `);
    expect(JSON.parse(out)).toEqual({ gateway: 'function', dockerode: true, ssh2: false, sessionProtoLoader: false });
  });

  it('the stand-ins fail plainly if used: an ssh:// connection, a BuildKit session', () => {
    const out = node(`
      import { createRequire } from 'node:module';
      await import('./dist/docker/unused-deps.js');
      const fromModem = createRequire(new URL('./node_modules/docker-modem/lib/ssh.js', import.meta.url).href);
      const fromSession = createRequire(new URL('./node_modules/dockerode/lib/session.js', import.meta.url).href);
      const errors = [];
      try { new (fromModem('ssh2').Client)(); } catch (e) { errors.push(e.message); }
      try { fromSession('@grpc/grpc-js').loadPackageDefinition; } catch (e) { errors.push(e.message); }
      console.log(JSON.stringify(errors));
    `);
    const [ssh, session] = JSON.parse(out) as string[];
    expect(ssh).toMatch(/unix:\/\/ or tcp:\/\/ only, not ssh:\/\//);
    expect(session).toMatch(/does not build images .*loadPackageDefinition/);
  });

  it('only those imports from those modules get a stand-in', () => {
    expect(standInFor('ssh2', '/x/node_modules/docker-modem/lib/ssh.js')?.name).toBe('ssh2');
    expect(standInFor('ssh2', '/x/node_modules/other/index.js')).toBeUndefined();
    expect(standInFor('@grpc/grpc-js', 'file:///x/node_modules/dockerode/lib/session.js')?.name).toBe('buildkit-session');
    expect(standInFor('@grpc/grpc-js', 'file:///x/dist/handlers/grpc-server.js')).toBeUndefined();
    expect(new Set(UNUSED_DEPENDENCIES.map((d) => d.specifier))).toEqual(new Set(['ssh2', '@grpc/grpc-js', '@grpc/proto-loader']));
  });
});
