#!/usr/bin/env bash
# Builds crictl and critest from sigs.k8s.io/cri-tools (the Go module proxy) into the cache, or
# reuses them. Prints the directory holding both, and ginkgo: critest -parallel N runs its specs
# through the ginkgo CLI found on PATH (the version cri-tools' go.mod names). CRI_TOOLS_VERSION
# picks another version.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/go-env.sh"
# v1.36.0: the release matching our proto (cri-api 0.36); the proxy serves it (v1.36.1 and v1.35.x not).
VERSION="${CRI_TOOLS_VERSION:-v1.36.0}"
OUT="$REAL_CLIENTS_BIN/cri-tools-$VERSION"
if [ -x "$OUT/crictl" ] && [ -x "$OUT/critest" ] && [ -x "$OUT/ginkgo" ]; then echo "$OUT"; exit 0; fi
mkdir -p "$OUT"

SRC="$(go mod download -json "sigs.k8s.io/cri-tools@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$SRC" ] || { echo "cri-tools $VERSION is not served by the Go module proxy" >&2; exit 1; }
# critest is a test binary (go test -c), so it must be built as the main module: in a copy of
# the module's own tree, where its go.mod and go.sum apply; -mod=mod because module zips carry
# no vendor directory.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp -a "$SRC/." "$WORK/"
chmod -R u+w "$WORK"
cd "$WORK"
LDFLAGS="-X sigs.k8s.io/cri-tools/pkg/version.Version=$VERSION"
echo "building crictl $VERSION" >&2
go build -mod=mod -trimpath -ldflags "$LDFLAGS" -o "$OUT/crictl.tmp" ./cmd/crictl >&2
echo "building critest $VERSION" >&2
go test -mod=mod -c -trimpath -ldflags "$LDFLAGS" -o "$OUT/critest.tmp" ./cmd/critest >&2
echo "building ginkgo (cri-tools' own version)" >&2
go build -mod=mod -trimpath -o "$OUT/ginkgo.tmp" github.com/onsi/ginkgo/v2/ginkgo >&2
mv "$OUT/crictl.tmp" "$OUT/crictl"
mv "$OUT/critest.tmp" "$OUT/critest"
mv "$OUT/ginkgo.tmp" "$OUT/ginkgo"
echo "$OUT"
