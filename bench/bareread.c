/* nlmon-bareread: the floor for the intake bench. Joins RTMGRP_LINK in a namespace with a 32 MiB
 * receive buffer, reads with recvmmsg, and prints one short line per netlink message (type and
 * ifindex), without decoding attributes. What any rtnetlink reader must at least do.
 *
 * usage: nlmon-bareread NETNS_PATH
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define SIZE 32768

static char bufs[BATCH][SIZE];

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: nlmon-bareread NETNS_PATH\n");
    return 2;
  }
  int nsfd = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
    perror(argv[1]);
    return 1;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  int rcv = 16 * 1024 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
  struct sockaddr_nl addr = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    perror("netlink");
    return 1;
  }
  fprintf(stderr, "reading\n");
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  static char out[1 << 16];
  setvbuf(stdout, out, _IOFBF, sizeof out);
  for (;;) {
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = SIZE;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (n < 0) {
      perror("recvmmsg");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      int len = (int)msgs[i].msg_len;
      for (struct nlmsghdr *h = (struct nlmsghdr *)bufs[i]; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
        const struct ifinfomsg *ifi = NLMSG_DATA(h);
        printf("%u %d\n", h->nlmsg_type, ifi->ifi_index);
      }
    }
    fflush(stdout);
  }
}
