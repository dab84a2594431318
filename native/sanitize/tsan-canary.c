/* The ThreadSanitizer run's proof that it reports (run.sh): a Node addon whose two threads write
 * one counter without a lock. Loaded into node as the tests load the addon, it must abort with
 * a data race report; if it does not, the run is not checking anything and fails. */
#include <node_api.h>
#include <pthread.h>

static long counter;

static void* bump(void* arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++) counter++;
  return NULL;
}

NAPI_MODULE_INIT() {
  pthread_t a, b;
  pthread_create(&a, NULL, bump, NULL);
  pthread_create(&b, NULL, bump, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  return exports;
}
