// LD_PRELOAD library for the fault-injection tests (tests/faults/fault_cases.py): a full disk. Writes by which a
// process changes files under $CTFLOW_ENOSPC_DIR (write, pwrite, writev, pwritev, fwrite) succeed until
// $CTFLOW_ENOSPC_AFTER bytes have been written there, and then fail with ENOSPC, as on a full file system. With
// $CTFLOW_ENOSPC_RANK set, only that MPI rank (OMPI_COMM_WORLD_RANK) sees a full disk: a fault of one rank alone.
// Only processes named ctflow are affected (not the MPI launcher that inherits the variables).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long long written, budget = -1;  // budget < 0: never full
static char dir[PATH_MAX];              // $CTFLOW_ENOSPC_DIR with a trailing '/'
static size_t dir_length;

__attribute__((constructor)) static void Init(void) {
  const char *d = getenv("CTFLOW_ENOSPC_DIR"), *after = getenv("CTFLOW_ENOSPC_AFTER"), *rank = getenv("CTFLOW_ENOSPC_RANK");
  const char *mine = getenv("OMPI_COMM_WORLD_RANK");
  if (strcmp(program_invocation_short_name, "ctflow") != 0) return;
  if (rank && (!mine || strcmp(rank, mine) != 0)) return;
  if (d && realpath(d, dir)) {
    strcat(dir, "/");
    dir_length = strlen(dir);
  }
  if (after) budget = atoll(after);
}

static int FdInDir(int fd) {
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof(path) - 1);
  if (!dir_length || n <= 0) return 0;
  path[n] = '\0';
  return strncmp(path, dir, dir_length) == 0;
}

// Whether a write of n bytes to fd must fail; counts it otherwise.
static int Full(int fd, size_t n) {
  if (budget < 0 || !FdInDir(fd)) return 0;
  if (written + (long long)n > budget) return 1;
  written += (long long)n;
  return 0;
}

static size_t Total(const struct iovec *iov, int count) {
  size_t n = 0;
  for (int i = 0; i < count; ++i) n += iov[i].iov_len;
  return n;
}

#define REAL(name)                      \
  static __typeof__(name) *real_##name; \
  if (!real_##name) real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n) {
  REAL(write);
  if (Full(fd, n)) return errno = ENOSPC, -1;
  return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset) {
  REAL(pwrite);
  if (Full(fd, n)) return errno = ENOSPC, -1;
  return real_pwrite(fd, buf, n, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t offset) {
  REAL(pwrite64);
  if (Full(fd, n)) return errno = ENOSPC, -1;
  return real_pwrite64(fd, buf, n, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int count) {
  REAL(writev);
  if (Full(fd, Total(iov, count))) return errno = ENOSPC, -1;
  return real_writev(fd, iov, count);
}

ssize_t pwritev(int fd, const struct iovec *iov, int count, off_t offset) {
  REAL(pwritev);
  if (Full(fd, Total(iov, count))) return errno = ENOSPC, -1;
  return real_pwritev(fd, iov, count, offset);
}

size_t fwrite(const void *buf, size_t size, size_t n, FILE *f) {
  REAL(fwrite);
  if (Full(fileno(f), size * n)) return errno = ENOSPC, 0;
  return real_fwrite(buf, size, n, f);
}
