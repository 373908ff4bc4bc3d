/* nft_deletes.c — `nft-deletes`: counts what nftables is told to delete and add in the
 * current network namespace, for bench/node_restart.sh. `nft monitor` would do, but it
 * first reads the whole ruleset and misses what comes meanwhile (over three minutes for a
 * table of 10,000 policies on the busy 2-core machine); this listens at once.
 *
 *   nft-deletes        prints "listening" once subscribed to the nftables group; on SIGTERM
 *                      or SIGINT, one line:
 *   deleted tables=N chains=N rules=N sets=N element_messages=N added chains=N rules=N
 *   sets=N element_messages=N lost=N
 *
 * lost > 0: the socket overflowed and the counts are a lower bound. Needs CAP_NET_ADMIN
 * in the namespace; changes nothing.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

struct counts {
    unsigned long del[NFT_MSG_MAX], add[NFT_MSG_MAX], lost;
};

static int on_message(const struct nlmsghdr *nlh, void *data)
{
    struct counts *c = data;
    unsigned type = NFNL_MSG_TYPE(nlh->nlmsg_type);

    if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES || type >= NFT_MSG_MAX)
        return MNL_CB_OK;
    switch (type) {
    case NFT_MSG_DELTABLE: case NFT_MSG_DELCHAIN: case NFT_MSG_DELRULE: case NFT_MSG_DELSET:
    case NFT_MSG_DELSETELEM:
        c->del[type]++;
        break;
    default:
        c->add[type]++;
    }
    return MNL_CB_OK;
}

static int listen_until_signal(struct mnl_socket *s, struct counts *c)
{
    char buf[MNL_SOCKET_BUFFER_SIZE * 4];
    struct pollfd p = { .fd = mnl_socket_get_fd(s), .events = POLLIN };

    while (!stop) {
        ssize_t n;

        if (poll(&p, 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        n = mnl_socket_recvfrom(s, buf, sizeof(buf));
        if (n < 0 && errno == ENOBUFS) {
            c->lost++;
            continue;
        }
        if (n < 0)
            return errno == EINTR ? 0 : -1;
        mnl_cb_run(buf, (size_t)n, 0, 0, on_message, c);
    }
    return 0;
}

int main(void)
{
    struct sigaction sa = { .sa_handler = on_signal };
    struct counts c = { 0 };
    struct mnl_socket *s = mnl_socket_open(NETLINK_NETFILTER);
    int size = 64 << 20;

    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (!s || mnl_socket_bind(s, 1u << (NFNLGRP_NFTABLES - 1), MNL_SOCKET_AUTOPID) < 0) {
        perror("nft-deletes: netlink");
        return 1;
    }
    if (setsockopt(mnl_socket_get_fd(s), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
        setsockopt(mnl_socket_get_fd(s), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    printf("listening\n");
    fflush(stdout);
    if (listen_until_signal(s, &c) < 0) {
        perror("nft-deletes: receive");
        mnl_socket_close(s);
        return 1;
    }
    mnl_socket_close(s);
    printf("deleted tables=%lu chains=%lu rules=%lu sets=%lu element_messages=%lu added "
           "chains=%lu rules=%lu sets=%lu element_messages=%lu lost=%lu\n",
           c.del[NFT_MSG_DELTABLE], c.del[NFT_MSG_DELCHAIN], c.del[NFT_MSG_DELRULE],
           c.del[NFT_MSG_DELSET], c.del[NFT_MSG_DELSETELEM], c.add[NFT_MSG_NEWCHAIN],
           c.add[NFT_MSG_NEWRULE], c.add[NFT_MSG_NEWSET], c.add[NFT_MSG_NEWSETELEM], c.lost);
    return 0;
}
