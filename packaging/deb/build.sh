#!/usr/bin/env bash
# Builds packaging/out/docker-cri-shim_<version>_amd64.deb with dpkg-deb from the single
# executable (npm run build:sea first; `npm run build:deb` does both), the systemd units, the
# default config and the pause image source. Runs lintian on the result when it is installed.
# Compressed with gzip: xz takes minutes on the 100 MB executable.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out="$top/packaging/out"
exe="$out/docker-cri-shim"
[ -x "$exe" ] || { echo "build.sh: $exe is missing; run npm run build:sea first" >&2; exit 1; }

version=$(node -p 'require(process.argv[1]).version' "$top/package.json")
pkg=docker-cri-shim
root="$out/deb/${pkg}_${version}_amd64"
rm -rf "$root"
# dpkg-deb keeps modes as found: build with a umask that gives 0755 dirs and 0644 files.
umask 022

install -D -m 0755 "$exe" "$root/usr/bin/docker-cri-shim"
install -D -m 0644 "$top/packaging/systemd/docker-cri-shim.service" "$root/lib/systemd/system/docker-cri-shim.service"
install -D -m 0644 "$top/packaging/systemd/docker-cri-shim.socket" "$root/lib/systemd/system/docker-cri-shim.socket"
install -D -m 0644 "$here/config.yaml" "$root/etc/docker-cri-shim/config.yaml"
for f in pause.c Makefile; do
  install -D -m 0644 "$top/packaging/pause/$f" "$root/usr/share/docker-cri-shim/pause/$f"
done
install -D -m 0644 "$here/build-pause-image.sh" "$root/usr/share/docker-cri-shim/pause/build-image.sh"

doc="$root/usr/share/doc/$pkg"
install -D -m 0644 "$here/copyright" "$doc/copyright"
install -D -m 0644 "$top/README.md" "$doc/README.md"
gzip -9n "$doc/README.md"
# Changelog: one entry per build, dated by the commit so rebuilds are byte-identical.
date=$(git -C "$top" log -1 --format=%aD 2>/dev/null || date -R)
# A native package (no Debian revision): its changelog is changelog.gz.
cat >"$doc/changelog" <<CHANGELOG
$pkg ($version) unstable; urgency=medium

  * Release $version (commit $("$exe" --version | sed -n 's/.*commit \([^)]*\).*/\1/p')).

 -- docker-cri-shim maintainers <maintainers@docker-cri-shim.example>  $date
CHANGELOG
gzip -9n "$doc/changelog"
install -D -m 0644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/$pkg"

# Man page: the flag list comes from the executable itself, so it never drifts.
usage=$("$exe" --help | sed -e 's/\\/\\\\/g' -e 's/^-/\\-/' -e 's/^\./\\\&./')
mkdir -p "$root/usr/share/man/man8"
awk -v version="$version" -v usage="$usage" '{ gsub(/@VERSION@/, version); if ($0 == "@USAGE@") print usage; else print }' \
  "$here/docker-cri-shim.8" | gzip -9n >"$root/usr/share/man/man8/docker-cri-shim.8.gz"

mkdir -p "$root/DEBIAN"
for s in postinst prerm postrm; do install -m 0755 "$here/$s" "$root/DEBIAN/$s"; done
echo /etc/docker-cri-shim/config.yaml >"$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
installed_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: $pkg
Version: $version
Architecture: amd64
Maintainer: docker-cri-shim maintainers <maintainers@docker-cri-shim.example>
Installed-Size: $installed_kb
Depends: libc6 (>= 2.28), libstdc++6 (>= 12), libgcc-s1, systemd, docker.io (>= 20.10) | docker-ce (>= 20.10)
Recommends: containernetworking-plugins
Suggests: cri-tools
Conflicts: cri-dockerd
Section: admin
Priority: optional
Description: Kubernetes CRI server on Docker Engine (cri-dockerd replacement)
 docker-cri-shim serves the Kubernetes Container Runtime Interface (runtime.v1)
 on a unix socket and runs pods on Docker Engine, one pause container per pod.
 It takes cri-dockerd's flags, container names and labels, so it replaces
 cri-dockerd in place.
 .
 The package installs a single executable (Node.js runtime included), the
 systemd socket and service units (socket activation), a default
 configuration file and the source of the pause image.
CONTROL

deb="$out/${pkg}_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zgzip -z6 --build "$root" "$deb" >/dev/null
echo "$deb"
if command -v lintian >/dev/null; then
  lintian --fail-on error,warning "$deb"
fi
