/* nlmon-linkburst: makes link changes as fast as the kernel takes them, for tests and benches.
 * Raw RTM_NEWLINK requests (IFF_UP toggles) batched in one send, no acks awaited.
 *
 * usage: nlmon-linkburst NETNS_PATH|- COUNT RATE IFINDEX...
 *   COUNT changes in all, spread round-robin over the IFINDEXes, each set up then down in
 *   turn (they must start down). RATE is changes per second, 0 for as fast as possible.
 *   Prints "sent N errors E" and exits 0 when every request was sent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 512

struct req {
  struct nlmsghdr nh;
  struct ifinfomsg ifi;
};

static long drain_errors(int fd) {
  static char buf[65536];
  long errors = 0;
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return errors;
    for (struct nlmsghdr* h = (struct nlmsghdr*)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr* e = NLMSG_DATA(h);
        if (e->error != 0) errors++;
      }
    }
  }
}

static void sleep_until(const struct timespec* start, double seconds) {
  struct timespec t = *start;
  t.tv_sec += (time_t)seconds;
  t.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {
  }
}

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s NETNS_PATH|- COUNT RATE IFINDEX...\n", argv[0]);
    return 2;
  }
  if (strcmp(argv[1], "-") != 0) {
    int nsfd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
      perror(argv[1]);
      return 1;
    }
    close(nsfd);
  }
  const long count = atol(argv[2]);
  const double rate = atof(argv[3]);
  const int nifs = argc - 4;
  int* ifs = calloc((size_t)nifs, sizeof *ifs);
  for (int i = 0; i < nifs; i++) {
    ifs[i] = atoi(argv[4 + i]);
    if (ifs[i] <= 0) ifs[i] = (int)if_nametoindex(argv[4 + i]);
    if (ifs[i] <= 0) {
      fprintf(stderr, "no such interface: %s\n", argv[4 + i]);
      return 1;
    }
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    perror("socket");
    return 1;
  }
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  static struct req reqs[BATCH];
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long sent = 0, errors = 0;
  while (sent < count) {
    long n = count - sent;
    if (n > BATCH) n = BATCH;
    if (rate > 0) n = 1;
    for (long i = 0; i < n; i++) {
      long k = sent + i;
      struct req* r = &reqs[i];
      memset(r, 0, sizeof *r);
      r->nh.nlmsg_len = sizeof *r;
      r->nh.nlmsg_type = RTM_NEWLINK;
      r->nh.nlmsg_flags = NLM_F_REQUEST;
      r->nh.nlmsg_seq = (unsigned)k + 1;
      r->ifi.ifi_family = AF_UNSPEC;
      r->ifi.ifi_index = ifs[k % nifs];
      r->ifi.ifi_change = IFF_UP;
      r->ifi.ifi_flags = ((k / nifs) % 2 == 0) ? IFF_UP : 0;
    }
    if (rate > 0) sleep_until(&start, (double)sent / rate);
    ssize_t w = sendto(fd, reqs, (size_t)n * sizeof reqs[0], 0, (struct sockaddr*)&kernel,
                       sizeof kernel);
    if (w < 0) {
      if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) continue;
      perror("sendto");
      return 1;
    }
    sent += n;
    errors += drain_errors(fd);
  }
  errors += drain_errors(fd);
  printf("sent %ld errors %ld\n", sent, errors);
  return errors ? 1 : 0;
}
