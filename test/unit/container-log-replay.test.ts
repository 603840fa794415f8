// The CRI log writer against the shapes of Docker 20.10's follow stream after a json-file
// rotation: its follower takes the new, smaller file for a truncated one and reads it again from
// its start, so messages already sent come again in the same stream (log-docker-rotation.test.ts
// has the real dockerd doing it). Each message must land in the file once.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { ContainerRecord, Engine } from '../../src/docker/engine.js';
import type { Logger } from '../../src/logger.js';
import { ContainerLog } from '../../src/logs/container-log.js';

type Msg = [stream: 'stdout' | 'stderr', time: string, text: string];

const at = (ms: number) => `2026-12-02T10:00:00.${String(ms).padStart(9, '0')}Z`;

/** Docker's multiplexed frames of messages read with timestamps=1. */
function frames(msgs: Msg[]): Buffer {
  return Buffer.concat(
    msgs.map(([stream, time, text]) => {
      const payload = Buffer.from(`${time} ${text}`);
      const header = Buffer.alloc(8);
      header[0] = stream === 'stderr' ? 2 : 1;
      header.writeUInt32BE(payload.length, 4);
      return Buffer.concat([header, payload]);
    }),
  );
}

/** An Engine whose follow stream is `follow` and whose container has stopped by then, all of it kept in `all`. */
function engine(follow: Msg[], all: Msg[]): Engine {
  const stopped = { State: { Running: false } } as ContainerRecord;
  let reads = 0;
  return {
    // Split at odd places: a message may span reads.
    logs: async () => {
      const bytes = frames(reads++ === 0 ? follow : all);
      return Readable.from([bytes.subarray(0, 37), bytes.subarray(37, 500), bytes.subarray(500)].filter((b) => b.length > 0));
    },
    inspect: async () => stopped,
  } as unknown as Engine;
}

const quiet = { warn: () => {}, info: () => {}, debug: () => {} } as unknown as Logger;

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function written(follow: Msg[], all: Msg[]): Promise<string[]> {
  dir = mkdtempSync(join(tmpdir(), 'crilog-'));
  const path = join(dir, '0.log');
  await new ContainerLog({ docker: engine(follow, all), containerId: 'c1', path, tty: false, logger: quiet }).done;
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(' ').slice(1).join(' '));
}

describe('CRI log file across Docker\'s rereads of its own log', () => {
  const lines: Msg[] = Array.from({ length: 6 }, (_, i) => ['stdout', at(i + 1), `line-${i}\n`]);

  it('a reread of just the newest message (the follower had read one message of the new file) is skipped', async () => {
    // What `docker logs -f` on dockerd 20.10 shows after each rotation of a slow writer's log.
    const follow = [...lines.slice(0, 3), lines[2]!, ...lines.slice(3)];
    expect(await written(follow, lines)).toEqual(lines.map(([s, , t]) => `${s} F ${t.trim()}`));
  });

  it('a second reread in the same stream is skipped too, down to its newest message', async () => {
    // Two rotations, each followed by a reread from the new file's start.
    const follow = [...lines.slice(0, 3), lines[1]!, lines[2]!, lines[3]!, lines[4]!, lines[3]!, lines[4]!, lines[5]!];
    expect(await written(follow, lines)).toEqual(lines.map(([s, , t]) => `${s} F ${t.trim()}`));
  });

  it('a reread covering both streams skips each stream\'s own messages, and new ones after it are kept', async () => {
    const mixed: Msg[] = [
      ['stdout', at(1), 'out-1\n'],
      ['stderr', at(2), 'err-1\n'],
      ['stdout', at(3), 'out-2\n'],
      ['stderr', at(4), 'err-2\n'],
      ['stdout', at(5), 'out-3\n'],
    ];
    const follow = [...mixed.slice(0, 4), mixed[1]!, mixed[2]!, mixed[3]!, mixed[4]!];
    expect(await written(follow, mixed)).toEqual(['stdout F out-1', 'stderr F err-1', 'stdout F out-2', 'stderr F err-2', 'stdout F out-3']);
  });

  it('keeps the pieces of a line Docker cut at 16 KiB, which share one time, even when they are alike', async () => {
    const piece = 'x'.repeat(16 * 1024);
    const cut: Msg[] = [
      ['stdout', at(1), piece],
      ['stdout', at(1), piece],
      ['stdout', at(1), 'end\n'],
      ['stdout', at(2), 'next\n'],
    ];
    const got = await written(cut, cut);
    expect(got).toEqual([`stdout P ${piece}`, `stdout P ${piece}`, 'stdout F end', 'stdout F next']);
  });

  it('a reread that starts within a cut line skips the pieces already written and keeps the rest', async () => {
    const piece = (c: string) => c.repeat(16 * 1024);
    const cut: Msg[] = [
      ['stdout', at(1), 'before\n'],
      ['stdout', at(2), piece('a')],
      ['stdout', at(2), piece('b')],
      ['stdout', at(2), 'end\n'],
    ];
    // Reread from the start after the second piece, then the line goes on.
    const follow = [...cut.slice(0, 3), ...cut.slice(0, 3), cut[3]!];
    expect(await written(follow, cut)).toEqual(['stdout F before', `stdout P ${piece('a')}`, `stdout P ${piece('b')}`, 'stdout F end']);
  });
});
