/* nlmon-linkburst: makes link changes as fast as the kernel takes them, for tests and benches.
 * Raw RTM_NEWLINK requests (IFF_UP toggles) batched in one send, no acks awaited.
 *
 * usage: nlmon-linkburst [--addr] NETNS_PATH|- COUNT RATE IFINDEX...
 *   COUNT changes in all, spread round-robin over the IFINDEXes, each set up then down in
 *   turn (they must start down). RATE is changes per second, 0 for as fast as possible.
 *   With --addr, each change adds then deletes an IPv4 address (10.200.<ifindex>.1/32) on the
 *   link instead (RTM_NEWADDR / RTM_DELADDR): an even COUNT leaves none behind.
 *   Prints "sent N errors E" and exits 0 when every request was sent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
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

struct addr_req {
  struct nlmsghdr nh;
  struct ifaddrmsg ifa;
  struct rtattr local_attr;
  uint32_t local;
  struct rtattr address_attr;
  uint32_t address;
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
  const int addr_mode = argc > 1 && strcmp(argv[1], "--addr") == 0;
  if (addr_mode) {
    argv++;
    argc--;
  }
  if (argc < 5) {
    fprintf(stderr, "usage: %s [--addr] NETNS_PATH|- COUNT RATE IFINDEX...\n", argv[0]);
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
  static struct addr_req areqs[BATCH];
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long sent = 0, errors = 0;
  while (sent < count) {
    long n = count - sent;
    if (n > BATCH) n = BATCH;
    if (rate > 0) n = 1;
    for (long i = 0; addr_mode && i < n; i++) {
      long k = sent + i;
      struct addr_req* r = &areqs[i];
      const int add = (k / nifs) % 2 == 0;
      memset(r, 0, sizeof *r);
      r->nh.nlmsg_len = sizeof *r;
      r->nh.nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
      r->nh.nlmsg_flags = NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
      r->nh.nlmsg_seq = (unsigned)k + 1;
      r->ifa.ifa_family = AF_INET;
      r->ifa.ifa_prefixlen = 32;
      r->ifa.ifa_index = (unsigned)ifs[k % nifs];
      r->local_attr.rta_len = RTA_LENGTH(4);
      r->local_attr.rta_type = IFA_LOCAL;
      r->local = htonl(0x0ac80001u | ((uint32_t)(ifs[k % nifs] & 0xff) << 8));
      r->address_attr = r->local_attr;
      r->address_attr.rta_type = IFA_ADDRESS;
      r->address = r->local;
    }
    for (long i = 0; !addr_mode && i < n; i++) {
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
    ssize_t w = addr_mode
        ? sendto(fd, areqs, (size_t)n * sizeof areqs[0], 0, (struct sockaddr*)&kernel, sizeof kernel)
        : sendto(fd, reqs, (size_t)n * sizeof reqs[0], 0, (struct sockaddr*)&kernel, sizeof kernel);
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
