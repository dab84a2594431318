{
  "targets": [
    {
      "target_name": "nlmon",
      "sources": ["native/addon.cc", "native/link_watcher_binding.cc", "native/decode_binding.cc", "native/spawn_binding.cc",
                  "native/js_call.cc", "native/record_pack.cc", "native/netlink_socket.cc", "native/read_ahead.cc", "native/link_decoder.cc",
                  "native/hook_spawn.cc", "native/process_binding.cc", "native/crc32.cc", "native/crc_binding.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-fstack-protector-strong", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
