/* Checks each mode of the fault proxy with plain TCP sockets, so that the scenarios can rely on
 * the effects that faultproxy.h describes.
 *
 * Checks that something does not happen (no byte, no FIN) wait QUIET_MS for it; they cannot
 * prove more than that. */
#include "scenario.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#define QUIET_MS 300
#define STEP_MS  5000

typedef struct rig {
    faultproxy_t *proxy;
    int listener; /* the upstream's listening socket */
    int client;   /* the client's socket, connected to the proxy */
    int server;   /* the upstream's accepted socket */
} rig_t;

static int listen_loopback(char *endpoint, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
        listen(fd, 16) != 0 || getsockname(fd, (struct sockaddr *)&address, &length) != 0) {
        return -1;
    }
    snprintf(endpoint, size, "tcp://127.0.0.1:%d", ntohs(address.sin_port));
    return fd;
}

static int connect_to(const char *endpoint)
{
    int port = atoi(strrchr(endpoint, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        return -1;
    }
    return fd;
}

/* Returns the poll events of fd within timeout_ms, 0 for none. */
static short wait_events(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    return poll(&pfd, 1, timeout_ms) > 0 ? pfd.revents : 0;
}

static int accept_within(int listener, int timeout_ms)
{
    if (!(wait_events(listener, POLLIN, timeout_ms) & POLLIN)) {
        return -1;
    }
    return accept(listener, NULL, NULL);
}

static bool rig_start(rig_t *rig)
{
    char upstream[64];
    char front[64];
    memset(rig, 0, sizeof(*rig));
    rig->client = rig->server = -1;
    rig->listener = listen_loopback(upstream, sizeof(upstream));
    rig->proxy = rig->listener >= 0 ? faultproxy_start(upstream) : NULL;
    if (rig->proxy == NULL) {
        return false;
    }
    faultproxy_endpoint(rig->proxy, front, sizeof(front));
    rig->client = connect_to(front);
    rig->server = rig->client >= 0 ? accept_within(rig->listener, STEP_MS) : -1;
    return rig->server >= 0;
}

static void rig_stop(rig_t *rig)
{
    faultproxy_stop(&rig->proxy);
    if (rig->client >= 0) {
        close(rig->client);
    }
    if (rig->server >= 0) {
        close(rig->server);
    }
    if (rig->listener >= 0) {
        close(rig->listener);
    }
}

/* Reads exactly size bytes within timeout_ms. */
static bool read_exactly(int fd, void *buffer, size_t size, int timeout_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    size_t done = 0;
    while (done < size) {
        int64_t left = deadline - harness_now_ms();
        if (left <= 0 || !(wait_events(fd, POLLIN, (int)left) & (POLLIN | POLLHUP))) {
            return false;
        }
        ssize_t n = read(fd, (char *)buffer + done, size - done);
        if (n <= 0) {
            return false;
        }
        done += (size_t)n;
    }
    return true;
}

/* Returns the errno of a read that fails within timeout_ms, 0 for end of file, -1 for none. */
static int read_error(int fd, int timeout_ms)
{
    if (!(wait_events(fd, POLLIN, timeout_ms) & (POLLIN | POLLHUP | POLLERR))) {
        return -1;
    }
    char byte;
    ssize_t n = read(fd, &byte, 1);
    if (n < 0) {
        return errno;
    }
    if (n == 0) {
        return 0;
    }
    return -2; /* a byte arrived */
}

TEST(pass_forwards_bytes_and_fin)
{
    rig_t rig;
    REQUIRE(rig_start(&rig));
    CHECK(write(rig.client, "ping", 4) == 4);
    char buffer[4];
    CHECK(read_exactly(rig.server, buffer, 4, STEP_MS));
    CHECK(memcmp(buffer, "ping", 4) == 0);
    CHECK(write(rig.server, "pong", 4) == 4);
    CHECK(read_exactly(rig.client, buffer, 4, STEP_MS));
    CHECK(memcmp(buffer, "pong", 4) == 0);
    shutdown(rig.client, SHUT_WR);
    CHECK_EQ_U64(read_error(rig.server, STEP_MS), 0); /* the FIN arrives as end of file */
    rig_stop(&rig);
}

TEST(blackhole_drops_bytes_without_fin)
{
    rig_t rig;
    REQUIRE(rig_start(&rig));
    faultproxy_set_mode(rig.proxy, FAULTPROXY_BLACKHOLE);
    CHECK(write(rig.client, "lost", 4) == 4);
    CHECK(wait_events(rig.server, POLLIN, QUIET_MS) == 0);
    close(rig.server);
    rig.server = -1;
    CHECK(wait_events(rig.client, POLLIN, QUIET_MS) == 0); /* no FIN, no RST */

    /* A connection made during the blackhole waits in the accept queue and then passes. */
    char front[64];
    faultproxy_endpoint(rig.proxy, front, sizeof(front));
    int late = connect_to(front);
    CHECK(late >= 0);
    CHECK(write(late, "late", 4) == 4);
    CHECK(wait_events(rig.listener, POLLIN, QUIET_MS) == 0);
    faultproxy_set_mode(rig.proxy, FAULTPROXY_PASS);
    int late_server = accept_within(rig.listener, STEP_MS);
    char buffer[4] = {0};
    CHECK(late_server >= 0);
    CHECK(read_exactly(late_server, buffer, 4, STEP_MS));
    CHECK(memcmp(buffer, "late", 4) == 0);

    /* The old connection lost bytes, so it stays silent even in pass mode. */
    CHECK(write(rig.client, "more", 4) == 4);
    CHECK(wait_events(rig.client, POLLIN, QUIET_MS) == 0);
    CHECK(faultproxy_stats(rig.proxy).bytes_discarded >= 8);
    close(late);
    if (late_server >= 0) {
        close(late_server);
    }
    rig_stop(&rig);
}

TEST(reset_sends_rst_both_ways)
{
    rig_t rig;
    REQUIRE(rig_start(&rig));
    faultproxy_set_mode(rig.proxy, FAULTPROXY_RESET);
    CHECK_EQ_U64(read_error(rig.client, STEP_MS), ECONNRESET);
    CHECK_EQ_U64(read_error(rig.server, STEP_MS), ECONNRESET);

    /* While the mode lasts, new connections are reset at once. */
    char front[64];
    faultproxy_endpoint(rig.proxy, front, sizeof(front));
    int late = connect_to(front);
    CHECK(late >= 0);
    CHECK_EQ_U64(read_error(late, STEP_MS), ECONNRESET);
    close(late);
    rig_stop(&rig);
}

TEST(pause_holds_bytes_and_resumes_intact)
{
    rig_t rig;
    REQUIRE(rig_start(&rig));
    faultproxy_set_mode(rig.proxy, FAULTPROXY_PAUSE);
    fcntl(rig.client, F_SETFL, O_NONBLOCK);
    static uint8_t chunk[65536];
    size_t written = 0;
    for (int64_t deadline = harness_now_ms() + STEP_MS; harness_now_ms() < deadline;) {
        for (size_t i = 0; i < sizeof(chunk); i++) {
            chunk[i] = (uint8_t)((written + i) % 251);
        }
        ssize_t n = write(rig.client, chunk, sizeof(chunk));
        if (n < 0 && errno == EAGAIN) {
            break; /* the kernel buffers are full */
        }
        written += n > 0 ? (size_t)n : 0;
    }
    printf("# %zu bytes written before the client's writes blocked\n", written);
    CHECK(written > 0);
    CHECK(wait_events(rig.server, POLLIN, QUIET_MS) == 0);

    faultproxy_set_mode(rig.proxy, FAULTPROXY_PASS);
    size_t received = 0;
    bool intact = true;
    while (received < written) {
        size_t want = written - received < sizeof(chunk) ? written - received : sizeof(chunk);
        if (!(wait_events(rig.server, POLLIN, STEP_MS) & POLLIN)) {
            break;
        }
        ssize_t n = read(rig.server, chunk, want);
        if (n <= 0) {
            break;
        }
        for (ssize_t i = 0; i < n; i++) {
            intact = intact && chunk[i] == (uint8_t)((received + (size_t)i) % 251);
        }
        received += (size_t)n;
    }
    CHECK_EQ_U64(received, written);
    CHECK(intact);
    rig_stop(&rig);
}

TEST(kill_drops_connection_silently)
{
    rig_t rig;
    REQUIRE(rig_start(&rig));
    faultproxy_set_mode(rig.proxy, FAULTPROXY_KILL);
    faultproxy_stats_t stats = faultproxy_stats(rig.proxy);
    CHECK_EQ_U64(stats.kills, 1);
    if (!stats.kill_silent) {
        printf("# no CAP_NET_ADMIN: the client side was reset instead\n");
        CHECK_EQ_U64(read_error(rig.client, STEP_MS), ECONNRESET);
        rig_stop(&rig);
        return;
    }
    CHECK(wait_events(rig.client, POLLIN, QUIET_MS) == 0);
    CHECK(wait_events(rig.server, POLLIN, QUIET_MS) == 0);
    /* Each side learns of it only when it sends, because the kernel replies with an RST. */
    CHECK(write(rig.client, "anyone", 6) == 6);
    CHECK_EQ_U64(read_error(rig.client, STEP_MS), ECONNRESET);
    CHECK(write(rig.server, "there", 5) == 5);
    CHECK_EQ_U64(read_error(rig.server, STEP_MS), ECONNRESET);
    rig_stop(&rig);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(pass_forwards_bytes_and_fin);
    RUN(blackhole_drops_bytes_without_fin);
    RUN(reset_sends_rst_both_ways);
    RUN(pause_holds_bytes_and_resumes_intact);
    RUN(kill_drops_connection_silently);
    return harness_done();
}
