import { describe, expect, it } from 'vitest';
import { containerName, parseName, sandboxName } from '../../src/docker/naming.js';
import { fromDockerLabels, LABEL_TYPE, matchesSelector, toDockerLabels } from '../../src/docker/labels.js';

describe('k8s_ names', () => {
  const pod = { name: 'web', namespace: 'default', uid: 'u-1', attempt: 2 };
  it('makes and parses sandbox and container names', () => {
    expect(sandboxName(pod)).toBe('k8s_POD_web_default_u-1_2');
    expect(containerName({ name: 'nginx', attempt: 0 }, pod)).toBe('k8s_nginx_web_default_u-1_0');
    expect(parseName('/k8s_nginx_web_default_u-1_0')).toEqual({
      containerName: 'nginx', podName: 'web', podNamespace: 'default', podUid: 'u-1', attempt: 0,
    });
  });
  it('ignores names that are not ours', () => {
    expect(parseName('/k8s_a_b_c')).toBeUndefined();
    expect(parseName('/foo_a_b_c_d_1')).toBeUndefined();
    expect(parseName('/k8s_a_b_c_d_x')).toBeUndefined();
  });
});

describe('labels', () => {
  it('round-trips CRI labels and annotations exactly', () => {
    const labels = { app: 'web', 'io.kubernetes.pod.name': 'web' };
    const annotations = { 'kubernetes.io/config.seen': 'now', empty: '' };
    const docker = toDockerLabels(labels, annotations, { [LABEL_TYPE]: 'container' });
    expect(fromDockerLabels(docker)).toEqual({ labels, annotations });
  });
  it('matches selectors', () => {
    expect(matchesSelector({ a: '1', b: '2' }, { a: '1' })).toBe(true);
    expect(matchesSelector({ a: '1' }, { a: '2' })).toBe(false);
    expect(matchesSelector({ a: '1' }, {})).toBe(true);
  });
});
