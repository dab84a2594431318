// sys_error: a failed system call as the native modules report it (errno and the call's name),
// shared by the netlink socket and the hook spawner. No Node-API here.
#pragma once

#include <string>

namespace nlmon {

struct SysError {
  int code = 0;          // errno, 0 if none
  std::string syscall;   // which call failed
};

}  // namespace nlmon
