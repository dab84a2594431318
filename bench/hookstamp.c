/* nlmon-hookstamp: a hook for the end-to-end latency bench. Its first act is to read
 * CLOCK_MONOTONIC (the clock of Node's process.hrtime); it appends "SEQUENCE NANOSECONDS" to the
 * file named by argv[1], with SEQUENCE from NLMON_SEQUENCE.
 * usage (as a hook's script): nlmon-hookstamp FILE */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  if (argc < 2) return 2;
  const char* seq = getenv("NLMON_SEQUENCE");
  char line[64];
  int n = snprintf(line, sizeof line, "%s %lld\n", seq ? seq : "0", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
  int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return 1;
  int ok = write(fd, line, (size_t)n) == n;
  close(fd);
  return ok ? 0 : 1;
}
