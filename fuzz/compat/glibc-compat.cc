// Jazzer.js 4.0.0 ships its libFuzzer addon only as a prebuild linked against glibc 2.38 and
// libstdc++ 13 (GCC 13). Debian 12 has glibc 2.36 and libstdc++ 12. The prebuild needs exactly
// three newer symbols; this library provides them with the old libraries' equivalents, and
// fuzz/setup.sh points the prebuild at it (patchelf). Nothing else of the prebuild changes.
#include <cstdlib>
#include <ios>

extern "C" long __isoc23_strtol(const char* s, char** end, int base) { return std::strtol(s, end, base); }

extern "C" unsigned long __isoc23_strtoul(const char* s, char** end, int base) {
  return std::strtoul(s, end, base);
}

namespace std {
// GCC 13 moved the static ios_base::Init object out of <iostream> into this call; older
// libstdc++ constructs it itself, one more Init is reference-counted and harmless.
void ios_base_library_init() { static ios_base::Init init; }
}  // namespace std
