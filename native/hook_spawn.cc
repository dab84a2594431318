// hook_spawn: pipes, file actions and attributes for posix_spawn, and a pidfd for the exit; a
// clone-based child for a hook that runs as another user, group or with capabilities.
// No Node-API here: spawn_binding.cc runs this on spawn threads of its own and watches the pidfd.
#include "hook_spawn.hh"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
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


// What the identity child needs, prepared by the parent: the child only makes system calls.
struct IdentityChild {
  const SpawnRequest* req;
  char* const* argv;
  char* const* envp;
  int in, out, err, err_pipe;
  sigset_t none;
};

// The child of clone(CLONE_VM | CLONE_VFORK): it shares the daemon's memory until it execs, so
// it makes raw system calls only (glibc's setuid family would signal the daemon's threads to
// change their ids too), and reports a failure on err_pipe as {errno, step}.
int IdentityMain(void* arg) {
  const IdentityChild* c = static_cast<const IdentityChild*>(arg);
  const SpawnRequest& r = *c->req;
  int step = 0;
  auto fail = [&](int s) {
    const int report[2] = {errno, s};
    (void)!write(c->err_pipe, report, sizeof report);
    _exit(127);
  };
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, nullptr);
  if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &c->none, nullptr, _NSIG / 8) < 0) fail(step);
  step = 1;
  if (setsid() < 0) fail(step);
  step = 2;
  if (dup2(c->in, 0) < 0 || dup2(c->out, 1) < 0 || dup2(c->err, 2) < 0 || chdir("/") < 0) fail(step);
  step = 3;
  if (syscall(SYS_close_range, 3, c->err_pipe - 1, 0) < 0 || syscall(SYS_close_range, c->err_pipe + 1, ~0U, 0) < 0) fail(step);
  step = 4;
  if (syscall(SYS_setgroups, r.groups.size(), r.groups.data()) < 0) fail(step);
  step = 5;
  if (syscall(SYS_setresgid, r.gid, r.gid, r.gid) < 0) fail(step);
  step = 6;
  if (r.caps && syscall(SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail(step);
  step = 7;
  if (syscall(SYS_setresuid, r.uid, r.uid, r.uid) < 0) fail(step);
  step = 8;
  if (r.caps) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    for (int i = 0; i < 2; i++) {
      const uint32_t bits = static_cast<uint32_t>(r.caps >> (32 * i));
      data[i].effective = data[i].permitted = data[i].inheritable = bits;
    }
    if (syscall(SYS_capset, &hdr, data) < 0) fail(step);
    step = 9;
    for (int cap = 0; cap < 64; cap++) {
      if ((r.caps >> cap) & 1 && syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) fail(step);
    }
  }
  step = 10;
  if (r.no_new_privs && syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(step);
  step = 11;
  execve(r.file.c_str(), c->argv, c->envp);
  fail(step);
  return 127;
}

const char* const kIdentitySteps[] = {"sigprocmask", "setsid", "dup2", "close_range", "setgroups", "setresgid",
                                      "prctl(PR_SET_KEEPCAPS)", "setresuid", "capset", "prctl(PR_CAP_AMBIENT_RAISE)",
                                      "prctl(PR_SET_NO_NEW_PRIVS)", "execve"};

// Starts the child as req's identity; the pid, or -1 with *err set.
pid_t SpawnAs(const SpawnRequest& req, char* const* argv, char* const* envp, int in, int out, int err, SysError* e) {
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) < 0) {
    *e = Fail("pipe2");
    return -1;
  }
  constexpr size_t kStack = 256 * 1024;
  void* stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    *e = Fail("mmap");
    close(ep[0]);
    close(ep[1]);
    return -1;
  }
  IdentityChild c{&req, argv, envp, in, out, err, ep[1], {}};
  sigemptyset(&c.none);
  // No handler of the daemon's may run in the child before it has reset them.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = clone(IdentityMain, static_cast<char*>(stack) + kStack, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
  const int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  munmap(stack, kStack);
  close(ep[1]);
  if (pid < 0) {
    close(ep[0]);
    *e = SysError{clone_errno, "clone"};
    return -1;
  }
  int report[2];
  ssize_t n;
  while ((n = read(ep[0], report, sizeof report)) < 0 && errno == EINTR) {
  }
  close(ep[0]);
  if (n == static_cast<ssize_t>(sizeof report)) {
    waitpid(pid, nullptr, 0);
    const int step = report[1] >= 0 && report[1] < 12 ? report[1] : 11;
    *e = SysError{report[0], kIdentitySteps[step]};
    return -1;
  }
  return pid;
}

}  // namespace

SpawnResult SpawnHook(const SpawnRequest& req) {
  SpawnResult r;
  int in = -1, out[2] = {-1, -1}, err[2] = {-1, -1}, devnull = -1;
  if (PreloadedPipe(req.stdin_data, &in, &r.error) < 0) return r;
  if ((req.capture && pipe2(out, O_CLOEXEC) < 0) || ((req.capture || req.capture_stderr) && pipe2(err, O_CLOEXEC) < 0)) {
    r.error = Fail("pipe2");
    CloseAll({&in, &out[0], &out[1], &err[0], &err[1]});
    return r;
  }
  if (!req.capture && (devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
    r.error = Fail("open");
    CloseAll({&in});
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in, 0);
  posix_spawn_file_actions_adddup2(&fa, req.capture ? out[1] : devnull, 1);
  posix_spawn_file_actions_adddup2(&fa, err[1] >= 0 ? err[1] : devnull, 2);
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
  int e = 0;
  if (req.set_identity) {
    SysError se;
    pid = SpawnAs(req, argv.data(), envp.data(), in, req.capture ? out[1] : devnull, err[1] >= 0 ? err[1] : devnull, &se);
    if (pid < 0) {
      posix_spawn_file_actions_destroy(&fa);
      posix_spawnattr_destroy(&attr);
      CloseAll({&in, &out[1], &err[1], &devnull, &out[0], &err[0]});
      r.error = se;
      return r;
    }
  } else {
    e = posix_spawn(&pid, req.file.c_str(), &fa, &attr, argv.data(), envp.data());
  }
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
