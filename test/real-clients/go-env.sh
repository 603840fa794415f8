# Sourced by the real-client scripts: one cache directory for Go modules, Go builds and the
# binaries built from them (crictl, critest, kubelet), kept between runs on one machine so a
# second run is fast; a fresh machine fills it from the Go module proxy.
: "${DOCKER_CRI_SHIM_CACHE:=/var/cache/docker-cri-shim}"
export DOCKER_CRI_SHIM_CACHE
export GOMODCACHE="$DOCKER_CRI_SHIM_CACHE/gomod"
export GOCACHE="$DOCKER_CRI_SHIM_CACHE/gobuild"
export GOPATH="$DOCKER_CRI_SHIM_CACHE/gopath"
# Module cache files writable, so a copied module tree can be built and the cache removed.
export GOFLAGS=-modcacherw
# The machine's Go is new enough for cri-tools and Kubernetes 1.36; never download another.
export GOTOOLCHAIN=local
REAL_CLIENTS_BIN="$DOCKER_CRI_SHIM_CACHE/bin"
mkdir -p "$GOMODCACHE" "$GOCACHE" "$GOPATH" "$REAL_CLIENTS_BIN"

# The machine's own Go (/usr/local/go) before Debian's golang-go, which is too old for these
# modules (cri-tools 1.36 asks for go 1.26) and is installed only for the SPDY test client.
[ -x /usr/local/go/bin/go ] && PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null 2>&1 || { echo "go is not installed (expected /usr/local/go)" >&2; exit 1; }
