# Builds the pause image offline from this directory's source and tags it as the default
# --pod-infra-container-image, for hosts that cannot pull registry.k8s.io/pause:
#   sh /usr/share/docker-cri-shim/pause/build-image.sh   (needs gcc, make, libc6-dev, docker)
set -eu
src=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/rootfs"
make -s -C "$work/rootfs" -f "$src/Makefile" VPATH="$src" pause
tar -C "$work/rootfs" -cf "$work/pause.tar" pause
docker import --change 'ENTRYPOINT ["/pause"]' "$work/pause.tar" docker-cri-shim/pause:latest
docker tag docker-cri-shim/pause:latest registry.k8s.io/pause:3.10
