/* Preloaded after libtsan into every process of the ThreadSanitizer run (run.sh), node and the
 * programs the tests start (sh, ip, hooks): starts ThreadSanitizer's runtime before the
 * program's own code. A program not built with it starts the runtime on its first intercepted
 * call, and when that call is setjmp (dash and bash make it first) it jumps through a null
 * pointer and the program dies of SIGSEGV. */
void __tsan_init(void);

__attribute__((constructor)) static void start_tsan(void) { __tsan_init(); }
