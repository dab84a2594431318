// js_call: raw Node-API helpers for code that runs from libuv callbacks (the poll path, exit
// watches), where an environment being torn down makes any call fail and nothing may abort.
#pragma once

#include <node_api.h>

#include <string>

#include "sys_error.hh"

namespace nlmon {

// False while the environment is being torn down (a worker terminating): N-API calls that run
// JavaScript then fail. Checked before each call so a dying environment does no work; a
// termination that lands mid-call is absorbed by NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS.
bool CanCallJs(napi_env env);

// A Node-style error (message, code, errno, syscall, path); nullptr if the environment cannot
// create one (shutting down).
napi_value SystemError(napi_env env, const SysError& e, const std::string& path);
void ThrowSystemError(napi_env env, const SysError& e, const std::string& path);

// Calls fn(argv) through napi_make_callback; an exception it throws is routed to
// napi_fatal_exception, so it becomes an uncaught exception like any other event-loop
// callback's in Node.
void CallFromLoop(napi_env env, napi_async_context context, napi_value recv, napi_value fn,
                  size_t argc, const napi_value* argv);

}  // namespace nlmon
