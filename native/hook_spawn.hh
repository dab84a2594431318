// hook_spawn: starts a hook program with posix_spawn (vfork-style: no copy of the daemon's page
// tables, so far faster than fork), in its own session, with the event preloaded on stdin.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sys_error.hh"

namespace nlmon {

struct SpawnRequest {
  std::string file;               // absolute path of the program (no PATH search here)
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // "NAME=value"
  std::string stdin_data;         // written to the child's stdin, then EOF
  bool capture = false;           // stdout/stderr to pipes (else /dev/null)
  bool capture_stderr = false;    // stderr to a pipe even without capture (shown on failure)
  // Run as another identity (docs/hooks.md, "Identity"): then the child is started by clone and
  // sets groups, gid, uid, ambient capabilities and no_new_privs itself before exec.
  bool set_identity = false;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;
  uint64_t caps = 0;  // capability bits kept, raised as ambient capabilities
  bool no_new_privs = false;
};

struct SpawnResult {
  int pid = -1;
  int pidfd = -1;   // becomes readable when the child exits
  int out_fd = -1;  // read ends of the capture pipes, non-blocking, or -1
  int err_fd = -1;
  SysError error;
};

// Starts the program: new session (so the whole group can be killed), all signals default and
// unblocked, cwd /, stdin a pipe already holding stdin_data. Blocks only until the exec.
SpawnResult SpawnHook(const SpawnRequest& req);

}  // namespace nlmon
