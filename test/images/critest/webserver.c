/* The web server of critest's httpd, nginx and hostnet-nginx images: answers every HTTP request
 * with 200 and a page naming the image, on $PORT (default 80), and logs its name on start.
 * Installed as .../nginx it behaves as nginx does where critest looks: the process (pid 1 in its
 * own PID namespace) is called nginx, its command line reads "nginx: master process ...", and
 * it writes /var/run/nginx.pid. No threads, no fork: one connection at a time, each with a read
 * deadline, is all critest's checks need. */
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void on_term(int sig) {
  (void)sig;
  _exit(0);
}

int main(int argc, char **argv) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    perror("readlink /proc/self/exe");
    return 1;
  }
  exe[n] = '\0';
  char exe_copy[4096];
  strcpy(exe_copy, exe);
  const char *name = basename(exe_copy);
  int nginx = strcmp(name, "nginx") == 0;
  const char *title = "nginx: master process nginx -g daemon off;";
  if (nginx && (argc < 1 || strcmp(argv[0], title) != 0)) {
    /* Re-exec under the title nginx shows in /proc/PID/cmdline; comm stays "nginx". */
    char *args[] = {(char *)title, NULL};
    execv(exe, args);
    perror("execv");
    return 1;
  }

  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  signal(SIGPIPE, SIG_IGN);

  const char *port_env = getenv("PORT");
  int port = port_env ? atoi(port_env) : 80;
  int srv = socket(AF_INET6, SOCK_STREAM, 0);
  int v6 = srv >= 0;
  if (!v6) srv = socket(AF_INET, SOCK_STREAM, 0);
  if (srv < 0) {
    perror("socket");
    return 1;
  }
  int one = 1, zero = 0;
  setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (v6) {
    setsockopt(srv, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_any};
    rc = bind(srv, (struct sockaddr *)&a6, sizeof a6);
  } else {
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    rc = bind(srv, (struct sockaddr *)&a4, sizeof a4);
  }
  if (rc < 0 || listen(srv, 64) < 0) {
    fprintf(stderr, "%s: cannot listen on :%d: %s\n", name, port, strerror(errno));
    return 1;
  }
  if (nginx) {
    FILE *pid = fopen("/var/run/nginx.pid", "w");
    if (pid) {
      fprintf(pid, "%d\n", (int)getpid());
      fclose(pid);
    }
  }
  printf("%s: listening on :%d\n", name, port);
  fflush(stdout);

  char body[256];
  int body_len = snprintf(body, sizeof body, "<html><body><h1>Welcome to %s!</h1></body></html>\n", name);
  char head[256];
  int head_len = snprintf(head, sizeof head,
                          "HTTP/1.1 200 OK\r\nServer: %s\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
                          name, body_len);
  for (;;) {
    int c = accept(srv, NULL, NULL);
    if (c < 0) continue;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    /* Read the request head (up to its blank line, capped) before answering. */
    char req[8192];
    size_t got = 0;
    while (got < sizeof req - 1) {
      ssize_t r = read(c, req + got, sizeof req - 1 - got);
      if (r <= 0) break;
      got += (size_t)r;
      req[got] = '\0';
      if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
    }
    if (got > 0) {
      if (write(c, head, head_len) == head_len) (void)!write(c, body, body_len);
    }
    close(c);
  }
}
