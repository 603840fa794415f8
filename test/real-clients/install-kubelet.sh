#!/usr/bin/env bash
# Builds the kubelet from k8s.io/kubernetes (the Go module proxy) into the cache, or reuses it.
# Prints the path of the binary. KUBERNETES_VERSION picks another release (v1.X.Y).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/go-env.sh"
# v1.36.3: Kubernetes 1.36, the CRI our proto is (cri-api 0.36).
VERSION="${KUBERNETES_VERSION:-v1.36.3}"
OUT="$REAL_CLIENTS_BIN/kubelet-$VERSION"
if [ -x "$OUT/kubelet" ]; then echo "$OUT/kubelet"; exit 0; fi
mkdir -p "$OUT"

SRC="$(go mod download -json "k8s.io/kubernetes@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$SRC" ] || { echo "k8s.io/kubernetes $VERSION is not served by the Go module proxy" >&2; exit 1; }
# k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0
# and replaces them with ./staging/src/..., which only holds inside its own tree. A module that
# depends on it must replace each one with the published release: Kubernetes v1.X.Y -> v0.X.Y.
STAGING_VERSION="v0.${VERSION#v1.}"
STAGING="$(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/src/.*#\1#p' "$SRC/go.mod")"
[ -n "$STAGING" ] || { echo "no staging replaces found in $SRC/go.mod" >&2; exit 1; }
GO_DIRECTIVE="$(sed -n 's/^go \(.*\)/\1/p' "$SRC/go.mod")"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
{
  echo "module kubelet-build"
  echo
  echo "go $GO_DIRECTIVE"
  echo
  echo "require k8s.io/kubernetes $VERSION"
  echo
  echo "replace ("
  for m in $STAGING; do echo "	$m => $m $STAGING_VERSION"; done
  echo ")"
} >go.mod
# Version stamped the way Kubernetes' own build does (hack/lib/version.sh), so the kubelet
# reports its real version to the runtime (Version RPC) and in its logs.
LDFLAGS="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS="$LDFLAGS -X $p.gitVersion=$VERSION -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
echo "building kubelet $VERSION (several minutes on 2 cores the first time; cached in $DOCKER_CRI_SHIM_CACHE)" >&2
start=$(date +%s)
# -mod=mod: resolve and record the module graph (go.sum) from the proxy in this throwaway module.
go build -mod=mod -trimpath -ldflags "$LDFLAGS" -o "$OUT/kubelet.tmp" k8s.io/kubernetes/cmd/kubelet >&2
mv "$OUT/kubelet.tmp" "$OUT/kubelet"
echo "built kubelet $VERSION in $(( $(date +%s) - start ))s" >&2
echo "$OUT/kubelet"
