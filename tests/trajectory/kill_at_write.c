// LD_PRELOAD library for the crash-safety sweep (trajectory_e2e.py kill-sweep). It counts the calls by which a
// process changes files under $CTFLOW_KILL_DIR (write, pwrite, writev, pwritev, fwrite, fclose, ftruncate,
// rename, unlink, remove) and kills the process with SIGKILL just before the $CTFLOW_KILL_AT-th one, so the
// sweep can stop a run between any two of its file changes. With $CTFLOW_KILL_COUNT set instead, the process
// appends its count to that file when it exits. Only processes named $CTFLOW_KILL_PROGRAM (default ctflow)
// count: the MPI launcher that inherits the variables does not.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long counted, kill_at = -1;
static char dir[PATH_MAX];  // $CTFLOW_KILL_DIR with a trailing '/'
static size_t dir_length;

__attribute__((constructor)) static void Init(void) {
  const char *d = getenv("CTFLOW_KILL_DIR"), *at = getenv("CTFLOW_KILL_AT"), *program = getenv("CTFLOW_KILL_PROGRAM");
  if (strcmp(program_invocation_short_name, program ? program : "ctflow") != 0) return;
  if (d && realpath(d, dir)) {
    strcat(dir, "/");
    dir_length = strlen(dir);
  }
  if (at) kill_at = atol(at);
}

__attribute__((destructor)) static void Report(void) {
  const char *path = getenv("CTFLOW_KILL_COUNT");
  FILE *f = path && counted ? fopen(path, "a") : NULL;
  if (f) {
    fprintf(f, "%ld\n", counted);
    fclose(f);
  }
}

static int InDir(const char *path) {
  char resolved[PATH_MAX];
  if (!dir_length || !path) return 0;
  if (path[0] != '/') {  // relative: to the working directory (the file itself may not exist yet)
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)) || snprintf(resolved, sizeof(resolved), "%s/%s", cwd, path) >= (int)sizeof(resolved)) return 0;
    path = resolved;
  }
  return strncmp(path, dir, dir_length) == 0;
}

static int FdInDir(int fd) {
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof(path) - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  return path[0] == '/' && InDir(path);  // not sockets, pipes or eventfds ("socket:[…]"): MPI's threads write those
}

// One more change of a file under the directory: the process dies if it is the kill_at-th.
static void Change(void) {
  if (++counted == kill_at) kill(getpid(), SIGKILL);
}

#define REAL(name)                      \
  static __typeof__(name) *real_##name; \
  if (!real_##name) real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n) {
  REAL(write);
  if (FdInDir(fd)) Change();
  return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset) {
  REAL(pwrite);
  if (FdInDir(fd)) Change();
  return real_pwrite(fd, buf, n, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t offset) {
  REAL(pwrite64);
  if (FdInDir(fd)) Change();
  return real_pwrite64(fd, buf, n, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int count) {
  REAL(writev);
  if (FdInDir(fd)) Change();
  return real_writev(fd, iov, count);
}

ssize_t pwritev(int fd, const struct iovec *iov, int count, off_t offset) {
  REAL(pwritev);
  if (FdInDir(fd)) Change();
  return real_pwritev(fd, iov, count, offset);
}

size_t fwrite(const void *buf, size_t size, size_t n, FILE *f) {
  REAL(fwrite);
  if (FdInDir(fileno(f))) Change();
  return real_fwrite(buf, size, n, f);
}

int fclose(FILE *f) {
  REAL(fclose);
  if (FdInDir(fileno(f))) Change();
  return real_fclose(f);
}

int ftruncate(int fd, off_t length) {
  REAL(ftruncate);
  if (FdInDir(fd)) Change();
  return real_ftruncate(fd, length);
}

int ftruncate64(int fd, off64_t length) {
  REAL(ftruncate64);
  if (FdInDir(fd)) Change();
  return real_ftruncate64(fd, length);
}

int rename(const char *from, const char *to) {
  REAL(rename);
  if (InDir(to)) Change();
  return real_rename(from, to);
}

int unlink(const char *path) {
  REAL(unlink);
  if (InDir(path)) Change();
  return real_unlink(path);
}

int remove(const char *path) {
  REAL(remove);
  if (InDir(path)) Change();
  return real_remove(path);
}
