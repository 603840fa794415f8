#!/usr/bin/env bash
# The kubelet-like relist of issue 12, as one command: 50 pods held running for 60 s (after 40 s of
# the same polling as warm-up, untimed and not in the cost figures), ListPodSandbox
# and ListContainers every second, a status sweep of every pod (PodSandboxStatus, ContainerStatus,
# ListImages, ImageStatus) every 10 s, ListContainerStats every 10 s; against a shim started here
# on its own socket and root, and beside containerd's CRI (bench/containerd/containerd.sh) unless
# RELIST_CONTAINERD=0.
#
#   bench/relist.sh [OUT.json]      # as root, from a built clone (npm run build)
#
# Environment: RELIST_PODS (50), RELIST_DURATION (60), RELIST_WARMUP (40), RELIST_ROUNDS (1), RELIST_CONTAINERD (1),
# RELIST_CPU_PROF=DIR (run the shim with node's --cpu-prof, profile written to DIR on exit),
# SHIM_MAIN (dist/main.js of the shim to measure; the bench client is always this clone's),
# RELIST_SHIM_FLAGS (node flags for the shim after its shebang's, to try one: later flags win).
# The load average is printed before and after: absolute times mean little on a shared machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
out="${1:-relist.json}"
main="${SHIM_MAIN:-$repo/dist/main.js}"
image=docker-cri-shim-test/busybox:latest
sock=/run/cri-bench-shim-relist.sock
root=/var/lib/cri-bench-shim-relist
netd=/etc/cri-bench-containerd/net.d
node="$repo/node_modules/.bin/node"
[ -x "$node" ] || node=node

endpoints=(--endpoint "shim=unix://$sock")
if [ "${RELIST_CONTAINERD:-1}" != 0 ]; then
  "$here/containerd/containerd.sh" start
  "$here/containerd/containerd.sh" import registry.k8s.io/pause:3.10 "$image"
  endpoints+=(--endpoint containerd=unix:///run/cri-bench-containerd/containerd.sock)
fi
[ -d "$netd" ] || { mkdir -p "$netd"; install -m 0644 "$here"/containerd/net.d/*.conflist "$netd/"; }

prof=()
if [ -n "${RELIST_CPU_PROF:-}" ]; then mkdir -p "$RELIST_CPU_PROF"; prof=(--cpu-prof --cpu-prof-dir "$RELIST_CPU_PROF"); fi
# The node flags the shim's shebang gives it (src/node-flags.ts), as when it is run as a program.
read -r -a flags <<<"$(sed -n '1s/^#!.*[ /]node *//p' "$main") ${RELIST_SHIM_FLAGS:-}"
rm -f "$sock"
"$node" "${flags[@]}" "${prof[@]}" "$main" --container-runtime-endpoint "unix://$sock" --root-directory "$root" \
  --network-plugin=cni --cni-bin-dir /usr/lib/cni --cni-conf-dir "$netd" >/tmp/relist-shim.log 2>&1 &
shim_pid=$!
# SIGINT, not SIGKILL: node writes the --cpu-prof profile on a clean exit only.
trap 'kill -INT $shim_pid 2>/dev/null; wait $shim_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { echo "shim did not start; see /tmp/relist-shim.log" >&2; exit 1; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
watch=(--watch "shim=$shim_pid")
[ "${RELIST_CONTAINERD:-1}" != 0 ] && watch+=(--watch containerd=containerd~cri-bench-containerd)
"$node" "$repo/dist/main.js" bench --image "$image" --allow-existing --workloads steady \
  --steady-pods "${RELIST_PODS:-50}" --duration "${RELIST_DURATION:-60}" --warmup "${RELIST_WARMUP:-40}" --status-period 10 --stats-period 10 \
  --rounds "${RELIST_ROUNDS:-1}" "${endpoints[@]}" "${watch[@]}" --output "$out"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
