#!/usr/bin/env bash
# Builds the images the tests use, with no registry: a busybox image from Debian's
# busybox-static (applets as hard links, like the upstream image), a variant with a USER,
# and the pause image from packaging/pause. Idempotent; needs a running dockerd.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

BUSYBOX=${BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "busybox-static is not installed ($BUSYBOX)" >&2; exit 1; }
"$BUSYBOX" --list >/dev/null

root="$work/busybox"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root,home/app,var/www}
cp "$BUSYBOX" "$root/bin/busybox"
chroot "$root" /bin/busybox --install /bin 2>/dev/null || (cd "$root/bin" && for a in $("$BUSYBOX" --list); do [ -e "$a" ] || ln busybox "$a"; done)
chmod 1777 "$root/tmp"
cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$root/etc/group" <<'G'
root:x:0:
daemon:x:1:
app:x:1000:
extra:x:2000:app
nogroup:x:65534:
G
echo 'hello from busybox httpd' > "$root/var/www/index.html"
tar -C "$root" -cf "$work/busybox.tar" .

# docker import stamps each image with its creation time, so a rebuild makes new ids: the images
# these names held before are removed at the end once nothing names or runs them, or every run
# would leave four dangling images behind (seen: 70 after a few weeks of CI on one machine).
names="docker-cri-shim-test/busybox:latest docker-cri-shim-test/busybox-uid:latest docker-cri-shim-test/busybox-user:latest docker-cri-shim/pause:latest registry.k8s.io/pause:3.10"
before=$(for n in $names; do docker image inspect -f '{{.Id}}' "$n" 2>/dev/null || true; done | sort -u)

docker import --change 'CMD ["sh"]' "$work/busybox.tar" docker-cri-shim-test/busybox:latest >/dev/null
docker import --change 'CMD ["sh"]' --change 'USER 1000' "$work/busybox.tar" docker-cri-shim-test/busybox-uid:latest >/dev/null
docker import --change 'CMD ["sh"]' --change 'USER app' "$work/busybox.tar" docker-cri-shim-test/busybox-user:latest >/dev/null

make -s -C "$top/packaging/pause" pause
proot="$work/pause"
mkdir -p "$proot"
cp "$top/packaging/pause/pause" "$proot/pause"
tar -C "$proot" -cf "$work/pause.tar" .
docker import --change 'ENTRYPOINT ["/pause"]' "$work/pause.tar" docker-cri-shim/pause:latest >/dev/null
# Offline machines preload the default --pod-infra-container-image under its usual name.
docker tag docker-cri-shim/pause:latest registry.k8s.io/pause:3.10

for id in $before; do
  if [ "$(docker image inspect -f '{{len .RepoTags}}' "$id" 2>/dev/null || echo gone)" = 0 ]; then
    # A container of an earlier run may still use it: then it stays, and is said.
    docker rmi "$id" >/dev/null 2>&1 || echo "kept the previous build $id: a container still uses it" >&2
  fi
done

echo "test images built: docker-cri-shim-test/busybox{,-uid,-user}:latest, docker-cri-shim/pause:latest (also tagged registry.k8s.io/pause:3.10)"
