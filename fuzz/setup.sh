#!/usr/bin/env bash
# Makes the Jazzer.js libFuzzer addon load on this machine. Idempotent; run after `npm ci`.
#
# @jazzer.js/fuzzer 4.0.0 carries its native addon as a prebuild inside the npm package
# (no install script, no download). That prebuild is linked against glibc 2.38 / libstdc++ 13;
# Debian 12 has glibc 2.36 / libstdc++ 12, so dlopen fails on three symbols
# (__isoc23_strtol, __isoc23_strtoul, std::ios_base_library_init). The addon's C++ sources are
# not in the npm package and GitHub is out of reach, so building it from source is not an option;
# instead compat/glibc-compat.cc provides those three symbols, patchelf makes the prebuild
# take them from there, and compat/weaken-verneed.mjs marks its two too-new version requirements
# weak so the loader accepts it. Needs g++ and patchelf (Debian packages).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/node_modules/@jazzer.js/fuzzer/prebuilds"
addon="$dir/fuzzer-linux-x64.node"
loads() { npx --no-install node -e "require(process.argv[1])" "$addon" 2>/dev/null; }

[ "$(uname -sm)" = "Linux x86_64" ] || exit 0
[ -f "$addon" ] || { echo "fuzz/setup.sh: $addon missing (run npm ci)" >&2; exit 1; }
loads && exit 0
for tool in g++ patchelf; do
  command -v "$tool" >/dev/null || { echo "fuzz/setup.sh: $tool is needed (apt-get install $tool)" >&2; exit 1; }
done
g++ -shared -fPIC -O2 -o "$dir/libjazzer-glibc-compat.so" "$root/fuzz/compat/glibc-compat.cc"
# One change per patchelf run: 0.14 mixes up combined edits.
for sym in __isoc23_strtol __isoc23_strtoul _ZSt21ios_base_library_initv; do
  patchelf --clear-symbol-version "$sym" "$addon"
done
patchelf --add-needed libjazzer-glibc-compat.so "$addon"
patchelf --set-rpath '$ORIGIN' "$addon"
npx --no-install node "$root/fuzz/compat/weaken-verneed.mjs" "$addon" GLIBC_2.38 GLIBCXX_3.4.32
loads || { npx --no-install node -e "require(process.argv[1])" "$addon"; exit 1; }
echo "fuzz/setup.sh: Jazzer.js addon patched to load with this glibc/libstdc++"
