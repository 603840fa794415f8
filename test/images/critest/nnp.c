/* critest's nonewprivs image: installed setuid root, it prints the effective uid it runs with,
 * so a container started as uid 1000 shows 0 unless no_new_privs stopped the setuid bit. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
  printf("Effective uid: %d\n", (int)geteuid());
  return 0;
}
