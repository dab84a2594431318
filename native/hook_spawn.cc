// hook_spawn: pipes, file actions and attributes for posix_spawn, and a pidfd for the exit.
// No Node-API here: spawn_binding.cc runs this on spawn threads of its own and watches the pidfd.
#include "hook_spawn.hh"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace nlmon {
namespace {

SysError Fail(const char* syscall) { return SysError{errno, syscall}; }

void CloseAll(std::initializer_list<int*> fds) {
  for (int* fd : fds) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

// Fills a fresh pipe with data and closes its write end; the child reads data, then EOF.
int PreloadedPipe(const std::string& data, int* read_end, SysError* err) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) {
    *err = Fail("pipe2");
    return -1;
  }
  if (data.size() > 65536 && fcntl(p[1], F_SETPIPE_SZ, static_cast<int>(data.size())) < 0) {
    *err = Fail("fcntl(F_SETPIPE_SZ)");
    close(p[0]);
    close(p[1]);
    return -1;
  }
  fcntl(p[1], F_SETFL, O_NONBLOCK);  // the pipe is empty and large enough: never waits
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = write(p[1], data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *err = Fail("write");
      close(p[0]);
      close(p[1]);
      return -1;
    }
    off += static_cast<size_t>(n);
  }
  close(p[1]);
  *read_end = p[0];
  return 0;
}

#if !(defined(__GLIBC__) && __GLIBC_PREREQ(2, 34))
// Without posix_spawn_file_actions_addclosefrom_np: every descriptor above 2 that is not
// close-on-exec (only inherited ones are: Node and this file open theirs with O_CLOEXEC) is made so.
void MarkInheritedCloseOnExec() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return;
  const int own = dirfd(d);
  while (struct dirent* e = readdir(d)) {
    const int fd = atoi(e->d_name);
    if (fd <= 2 || fd == own) continue;
    const int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
  closedir(d);
}
#endif

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

SpawnResult SpawnHook(const SpawnRequest& req) {
  SpawnResult r;
  int in = -1, out[2] = {-1, -1}, err[2] = {-1, -1}, devnull = -1;
  if (PreloadedPipe(req.stdin_data, &in, &r.error) < 0) return r;
  if (req.capture) {
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
      r.error = Fail("pipe2");
      CloseAll({&in, &out[0], &out[1], &err[0], &err[1]});
      return r;
    }
  } else if ((devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
    r.error = Fail("open");
    CloseAll({&in});
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in, 0);
  posix_spawn_file_actions_adddup2(&fa, req.capture ? out[1] : devnull, 1);
  posix_spawn_file_actions_adddup2(&fa, req.capture ? err[1] : devnull, 2);
  posix_spawn_file_actions_addchdir_np(&fa, "/");
  // Nothing above stderr reaches the hook: a descriptor nlmon inherited without close-on-exec
  // (a pipe from the shell that started it) would otherwise go to every root hook.
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#else
  MarkInheritedCloseOnExec();
#endif
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);     // Node blocks none, but be explicit
  posix_spawnattr_setsigdefault(&attr, &all);   // Node ignores SIGPIPE: hooks must not inherit it
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv = CStrings(req.argv), envp = CStrings(req.env);
  pid_t pid = -1;
  const int e = posix_spawn(&pid, req.file.c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  CloseAll({&in, &out[1], &err[1], &devnull});
  if (e != 0) {
    r.error = SysError{e, "posix_spawn"};
    CloseAll({&out[0], &err[0]});
    return r;
  }
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    r.error = Fail("pidfd_open");
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    CloseAll({&out[0], &err[0]});
    return r;
  }
  fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  for (int fd : {out[0], err[0]}) {
    if (fd >= 0) fcntl(fd, F_SETFL, O_NONBLOCK);
  }
  r.pid = pid;
  r.pidfd = pidfd;
  r.out_fd = out[0];
  r.err_fd = err[0];
  return r;
}

}  // namespace nlmon
