#!/usr/bin/env bash
# Builds every image critest v1.36 pulls, locally and under critest's own upstream names
# (registry.k8s.io/..., gcr.io/k8s-staging-cri-tools/..., k8s.gcr.io/...), from Debian's
# busybox and small static C programs: nothing is pulled from an image registry. test/real-clients/critest.ts
# pushes them to its local registry and removes these local tags again, so critest's pulls
# really fetch. Prints the names built, one a line. Needs a running dockerd, gcc and libc6-dev.
#
# What each must hold (what critest checks):
#   busybox:1.29-2        hard-linked applets, a passwd with root, www-data (33), nobody; pgrep
#                         and ipcs, which Debian's busybox lacks, as small scripts
#   httpd / nginx          answer HTTP 200 on :80 and log their name; nginx is a process named
#                         nginx whose cmdline says "master process" and writes /var/run/nginx.pid
#   hostnet-nginx-amd64   the same nginx on :12003 (run with host networking)
#   nonewprivs:1.3        a static setuid-root binary printing "Effective uid: N"
#   pause:3.9             the project's pause, under registry.k8s.io and k8s.gcr.io: one image
#   test-image-*          busybox plus a marker file named after the image; tag:test / tag:all
#                         two images; tags:1/2/3 one image; the user-* and predefined-group
#                         images with the USER their name says
# Not built: test-image-digest@sha256:9700f9a2..., which pins an upstream manifest digest no
# local build can reproduce (see test/real-clients/critest-known-limits.txt).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The busybox of these images is Debian's dynamic one (package busybox, fetched with apt-get
# download and unpacked, not installed: it conflicts with busybox-static). busybox-static's sh
# runs applets in-process (FEATURE_SH_STANDALONE), so a masked /bin/ls would never be executed
# and critest's MaskedPaths spec could not see it; upstream's busybox image execs /bin/ls too.
debs="${DOCKER_CRI_SHIM_CACHE:-/var/cache/docker-cri-shim}/debs"
mkdir -p "$debs"
deb=$(ls "$debs"/busybox_*.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then
  (cd "$debs" && apt-get download busybox >&2)
  deb=$(ls "$debs"/busybox_*.deb | head -1)
fi
dpkg-deb -x "$deb" "$work/busybox-deb"
BUSYBOX="$work/busybox-deb/bin/busybox"
"$BUSYBOX" --list >/dev/null
E2E=registry.k8s.io/e2e-test-images
CRI=gcr.io/k8s-staging-cri-tools
CC=${CC:-gcc}
CFLAGS="-O2 -Wall -Wextra -Werror -static"

"$CC" $CFLAGS -o "$work/webserver" "$here/critest/webserver.c"
"$CC" $CFLAGS -o "$work/nnp" "$here/critest/nnp.c"
strip "$work/webserver" "$work/nnp"
make -s -C "$top/packaging/pause" pause

# The busybox root every image but pause and nonewprivs starts from, as upstream's busybox image.
root="$work/busybox"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,tmp,proc,sys,dev,root,home,var/www,var/run}
cp "$BUSYBOX" "$root/bin/busybox"
# Its shared libraries (libc, libresolv, the loader) at their own paths.
for lib in $(ldd "$BUSYBOX" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
(cd "$root/bin" && for a in $("$BUSYBOX" --list); do [ -e "$a" ] || ln busybox "$a"; done)
install -m 0755 "$here/critest/pgrep" "$root/bin/pgrep"
install -m 0755 "$here/critest/ipcs" "$root/bin/ipcs"
chmod 1777 "$root/tmp"
cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
P
cat > "$root/etc/group" <<'G'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
wheel:x:10:root
www-data:x:33:
staff:x:50:
users:x:100:
nogroup:x:65534:
G

built=()
# import NAME TAR [docker import --change ...]: one image from a root tarball.
import() {
  local name=$1 tar=$2
  shift 2
  local changes=()
  for c in "$@"; do changes+=(--change "$c"); done
  docker import "${changes[@]}" "$tar" "$name" >/dev/null
  built+=("$name")
}
# variant NAME: a copy of the busybox root for one image, in $work/NAME.
variant() {
  rm -rf "$work/v"
  cp -a "$root" "$work/v"
}
pack() { tar -C "$work/v" -cf "$work/$1.tar" .; echo "$work/$1.tar"; }

# The default test image.
variant && import "$E2E/busybox:1.29-2" "$(pack busybox)" 'CMD ["sh"]'

# Web servers: httpd and nginx on :80, hostnet-nginx on :12003.
variant
install -m 0755 "$work/webserver" "$work/v/usr/local/bin/httpd"
import "$E2E/httpd:2.4.39-4" "$(pack httpd)" 'ENV PORT=80' 'EXPOSE 80' 'ENTRYPOINT ["/usr/local/bin/httpd"]'
variant
install -m 0755 "$work/webserver" "$work/v/usr/sbin/nginx"
tar=$(pack nginx)
import "$E2E/nginx:1.14-2" "$tar" 'ENV PORT=80' 'EXPOSE 80' 'ENTRYPOINT ["/usr/sbin/nginx"]'
import "$CRI/hostnet-nginx-amd64:latest" "$tar" 'ENV PORT=12003' 'EXPOSE 12003' 'ENTRYPOINT ["/usr/sbin/nginx"]'

# nonewprivs: only the setuid-root binary (the tar keeps owner root and the setuid bit).
mkdir -p "$work/nnp-root/usr/local/bin" "$work/nnp-root/tmp"
install -o 0 -g 0 -m 4755 "$work/nnp" "$work/nnp-root/usr/local/bin/nnp"
tar -C "$work/nnp-root" --numeric-owner -cf "$work/nnp.tar" .
import "$E2E/nonewprivs:1.3" "$work/nnp.tar" 'ENTRYPOINT ["/usr/local/bin/nnp"]'

# pause:3.9 under two registries, one image; a label keeps it apart from the pod infra image
# registry.k8s.io/pause:3.10 (test/images/build.sh), which critest's RemoveImage must not take.
mkdir -p "$work/pause-root"
cp "$top/packaging/pause/pause" "$work/pause-root/pause"
tar -C "$work/pause-root" -cf "$work/pause.tar" .
import registry.k8s.io/pause:3.9 "$work/pause.tar" 'ENTRYPOINT ["/pause"]' 'LABEL docker-cri-shim.critest=pause-3.9'
docker tag registry.k8s.io/pause:3.9 k8s.gcr.io/pause:3.9
built+=(k8s.gcr.io/pause:3.9)

# Marker images: different images for test-image-{1,2,3,latest} and tag:test / tag:all.
for m in test-image-1 test-image-2 test-image-3 test-image-latest; do
  variant && : > "$work/v/$m" && import "$CRI/$m:latest" "$(pack "$m")" 'CMD ["sh"]'
done
for t in test all; do
  variant && : > "$work/v/$t" && import "$CRI/test-image-tag:$t" "$(pack "tag-$t")" 'CMD ["sh"]'
done
# One image under three tags.
variant && : > "$work/v/same-image" && import "$CRI/test-image-tags:1" "$(pack tags)" 'CMD ["sh"]'
for t in 2 3; do docker tag "$CRI/test-image-tags:1" "$CRI/test-image-tags:$t"; built+=("$CRI/test-image-tags:$t"); done

# USER images.
variant && tar=$(pack user)
import "$CRI/test-image-user-uid:latest" "$tar" 'CMD ["sh"]' 'USER 1002'
import "$CRI/test-image-user-username:latest" "$tar" 'CMD ["sh"]' 'USER www-data'
import "$CRI/test-image-user-uid-group:latest" "$tar" 'CMD ["sh"]' 'USER 1003:1004'
import "$CRI/test-image-user-username-group:latest" "$tar" 'CMD ["sh"]' 'USER www-data:1004'
# default-user (1000) belongs to group-defined-in-image (50000) in the image's /etc/group.
variant
echo 'default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh' >> "$work/v/etc/passwd"
printf 'default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n' >> "$work/v/etc/group"
mkdir -p "$work/v/home/default-user" && chown 1000:1000 "$work/v/home/default-user"
import "$CRI/test-image-predefined-group:latest" "$(pack predefined)" 'CMD ["sh"]' 'USER 1000'

printf '%s\n' "${built[@]}"
