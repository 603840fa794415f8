import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The single-executable build (packaging/sea) defines this with esbuild: the bundle has no
// package.json or .git beside it to read.
declare const __DOCKER_CRI_SHIM_BUILD__: { version: string; commit: string } | undefined;

const embedded = typeof __DOCKER_CRI_SHIM_BUILD__ === 'undefined' ? undefined : __DOCKER_CRI_SHIM_BUILD__;

export const VERSION: string =
  embedded?.version ?? (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let commit: string | undefined = embedded?.commit;

/** The git commit this build came from ("unknown" outside a checkout). */
export function gitCommit(): string {
  if (commit === undefined) {
    try {
      const top = fileURLToPath(new URL('..', import.meta.url));
      commit = execFileSync('git', ['-C', top, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      commit = 'unknown';
    }
  }
  return commit;
}
