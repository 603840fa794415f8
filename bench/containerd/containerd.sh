#!/usr/bin/env bash
# Runs a second containerd with its CRI plugin beside Docker's, for `docker-cri-shim bench`.
# Its own root (/var/lib/cri-bench-containerd), state and socket (/run/cri-bench-containerd),
# config and CNI config (/etc/cri-bench-containerd); Docker's containerd is not touched.
#
#   bench/containerd/containerd.sh start            # start it (no-op when it already answers)
#   bench/containerd/containerd.sh import IMAGE...  # copy images from dockerd into its k8s.io namespace
#   bench/containerd/containerd.sh stop             # stop it (its pods must be gone first)
#
# CRI endpoint: unix:///run/cri-bench-containerd/containerd.sock
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
etc=/etc/cri-bench-containerd
state=/run/cri-bench-containerd
sock=$state/containerd.sock
log=/var/log/cri-bench-containerd.log
pidfile=$state/containerd.pid

answers() { ctr -a "$sock" version >/dev/null 2>&1; }

case "${1:-}" in
  start)
    if answers; then echo "containerd (CRI) already answers on $sock"; exit 0; fi
    mkdir -p "$etc/net.d" "$state" /var/lib/cri-bench-containerd
    install -m 0644 "$here/config.toml" "$etc/config.toml"
    install -m 0644 "$here"/net.d/*.conflist "$etc/net.d/"
    # setsid: the daemon must outlive the shell (and the test run) that started it.
    setsid containerd --config "$etc/config.toml" >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do answers && break; sleep 0.1; done
    answers || { echo "containerd did not start; see $log" >&2; tail -20 "$log" >&2; exit 1; }
    echo "containerd (CRI) answers on unix://$sock (pid $(cat "$pidfile"), log $log)"
    ;;
  import)
    shift
    [ $# -gt 0 ] || { echo "usage: $0 import IMAGE..." >&2; exit 2; }
    # No registry: images come from dockerd. The CRI plugin only sees the k8s.io namespace.
    docker save "$@" | ctr -a "$sock" -n k8s.io images import - >/dev/null
    echo "imported into k8s.io: $*"
    ;;
  stop)
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      pid=$(cat "$pidfile")
      kill "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
    ;;
  *)
    echo "usage: $0 start | import IMAGE... | stop" >&2
    exit 2
    ;;
esac
