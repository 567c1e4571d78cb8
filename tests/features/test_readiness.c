/* Feature tests of channel readiness descriptors (netchan_chan_fd): a receiving channel's
 * descriptor is readable exactly while a receive would not block, a sending channel's exactly
 * while a send would not block, and one thread can serve several channels with poll(). */
#include "feature_support.h"

/* A receiving channel's descriptor is readable while a value waits, not once the last one was
 * taken, and again for good when the sender closed the channel. */
TEST(readiness_recv_fd_tracks_values)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, 16) : NULL;
    ENSURE(out != NULL);
    ENSURE(in != NULL);
    int fd = netchan_chan_fd(in);
    ENSURE(fd >= 0);
    CHECK(netchan_chan_fd(in) == fd);
    CHECK(!fd_readable(fd, 0));

    CHECK_ERR(send_points(out, 1, 1, 0), NETCHAN_OK);
    CHECK(fd_readable(fd, 5000));
    CHECK(fd_readable(fd, 0)); /* stays readable until the value is taken */
    int x = 0;
    CHECK_ERR(recv_point(in, NETCHAN_NOWAIT, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 1);
    CHECK(!fd_readable(fd, 0));

    CHECK_ERR(send_points(out, 2, 3, 0), NETCHAN_OK);
    CHECK(WAIT_UNTIL(netchan_pending(in) == 2, 5000));
    CHECK(fd_readable(fd, 0));
    CHECK_ERR(recv_point(in, NETCHAN_NOWAIT, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 2);
    CHECK(fd_readable(fd, 0));
    CHECK_ERR(recv_point(in, NETCHAN_NOWAIT, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 3);
    CHECK(!fd_readable(fd, 0));
    CHECK_ERR(recv_point(in, NETCHAN_NOWAIT, &x, NULL), NETCHAN_EAGAIN);

    /* End of stream: readable, and a receive returns at once with NETCHAN_ECLOSED. */
    CHECK_ERR(netchan_close(out), NETCHAN_OK);
    CHECK(fd_readable(fd, 5000));
    CHECK_ERR(recv_point(in, NETCHAN_NOWAIT, &x, NULL), NETCHAN_ECLOSED);
    CHECK(fd_readable(fd, 0));
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* On an explicit-acknowledgement channel the descriptor follows the values waiting to be
 * taken, not those taken and unacknowledged. */
TEST(readiness_recv_fd_explicit_ack)
{
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_msg_t *msg = NULL;
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, 64);
    netchan_importer_t *importer = start_importer(endpoint);
    netchan_chan_t *in =
        importer != NULL ? import_points_with(importer, "jobs", NETCHAN_RECV, 16, true) : NULL;
    ENSURE(out != NULL);
    ENSURE(in != NULL);
    int fd = netchan_chan_fd(in);
    ENSURE(fd >= 0);
    CHECK_ERR(send_points(out, 1, 1, 0), NETCHAN_OK);
    CHECK(fd_readable(fd, 5000));
    CHECK_ERR(netchan_recv_msg(in, NETCHAN_NOWAIT, &msg), NETCHAN_OK);
    CHECK(!fd_readable(fd, 0));
    /* A released value comes back and makes the descriptor readable again. */
    CHECK_ERR(netchan_msg_release(msg), NETCHAN_OK);
    netchan_msg_destroy(&msg);
    CHECK(fd_readable(fd, 5000));
    CHECK_ERR(netchan_recv_msg(in, NETCHAN_NOWAIT, &msg), NETCHAN_OK);
    CHECK_ERR(netchan_msg_ack(msg), NETCHAN_OK);
    CHECK(!fd_readable(fd, 0));
out:
    netchan_msg_destroy(&msg);
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

/* A sending channel's descriptor is readable while it holds fewer unacknowledged values than
 * its capacity, so that a send would not block. With no receiver it fills up; once a receiver
 * takes a value it is readable again. */
TEST(readiness_send_fd_tracks_capacity)
{
    enum { CAPACITY = 4 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = NULL;
    netchan_chan_t *out = export_points(exporter, "jobs", NETCHAN_SEND, CAPACITY);
    ENSURE(out != NULL);
    int fd = netchan_chan_fd(out);
    ENSURE(fd >= 0);
    CHECK(fd_readable(fd, 0));
    for (int x = 1; x <= CAPACITY; x++) {
        CHECK(fd_readable(fd, 0));
        CHECK_ERR(send_point(out, x, 0, NETCHAN_NOWAIT), NETCHAN_OK);
    }
    CHECK(!fd_readable(fd, 0));
    CHECK_ERR(send_point(out, CAPACITY + 1, 0, NETCHAN_NOWAIT), NETCHAN_EAGAIN);

    importer = start_importer(endpoint);
    netchan_chan_t *in = importer != NULL ? import_points(importer, "jobs", NETCHAN_RECV, 1) : NULL;
    ENSURE(in != NULL);
    /* The importer's credit of one value lets one value out; taking it acknowledges it. */
    CHECK(WAIT_UNTIL(netchan_pending(in) == 1, 5000));
    CHECK(!fd_readable(fd, 0));
    int x = 0;
    CHECK_ERR(recv_point(in, NETCHAN_NOWAIT, &x, NULL), NETCHAN_OK);
    CHECK_EQ_U64(x, 1);
    CHECK(fd_readable(fd, 5000));
    CHECK_ERR(send_point(out, CAPACITY + 1, 0, NETCHAN_NOWAIT), NETCHAN_OK);
    CHECK(!fd_readable(fd, 0));

    /* A closed channel never blocks a send: it fails at once. */
    CHECK_ERR(netchan_close(out), NETCHAN_OK);
    CHECK(fd_readable(fd, 0));
    CHECK_ERR(send_point(out, CAPACITY + 2, 0, NETCHAN_NOWAIT), NETCHAN_ECLOSED);
out:
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

typedef struct sender_thread {
    netchan_chan_t *chan;
    int count;
    netchan_err result;
} sender_thread_t;

static void *sender_thread_main(void *arg)
{
    sender_thread_t *sender = arg;
    sender->result = send_points(sender->chan, 1, sender->count, 0);
    if (sender->result == NETCHAN_OK) {
        sender->result = netchan_close(sender->chan);
    }
    return NULL;
}

/* One thread serves two receiving channels with poll() alone. It receives with NETCHAN_NOWAIT
 * only when a descriptor is readable, which must then never return NETCHAN_EAGAIN, and gets
 * both streams complete and in order up to their ends. The senders run on their own
 * threads with a small capacity, so that the channels fill and empty many times. */
TEST(readiness_poll_two_channels)
{
    enum { COUNT = 500, CAPACITY = 8 };
    char endpoint[ENDPOINT_SIZE];
    netchan_exporter_t *exporter = start_exporter(endpoint);
    REQUIRE(exporter != NULL);
    netchan_importer_t *importer = NULL;
    sender_thread_t senders[2];
    pthread_t threads[2];
    int started = 0;
    netchan_chan_t *outs[2] = {export_points(exporter, "a", NETCHAN_SEND, CAPACITY),
                               export_points(exporter, "b", NETCHAN_SEND, CAPACITY)};
    importer = start_importer(endpoint);
    ENSURE(importer != NULL);
    netchan_chan_t *ins[2] = {import_points(importer, "a", NETCHAN_RECV, CAPACITY),
                              import_points(importer, "b", NETCHAN_RECV, CAPACITY)};
    ENSURE(outs[0] != NULL && outs[1] != NULL);
    ENSURE(ins[0] != NULL && ins[1] != NULL);
    struct pollfd fds[2];
    for (int i = 0; i < 2; i++) {
        fds[i].fd = netchan_chan_fd(ins[i]);
        fds[i].events = POLLIN;
        ENSURE(fds[i].fd >= 0);
    }
    for (int i = 0; i < 2; i++) {
        senders[i] = (sender_thread_t){outs[i], COUNT, NETCHAN_OK};
        ENSURE(pthread_create(&threads[i], NULL, sender_thread_main, &senders[i]) == 0);
        started++;
    }

    int next[2] = {1, 1};
    bool ended[2] = {false, false};
    int spurious = 0;
    int64_t deadline = harness_now_ms() + 20000;
    while (!(ended[0] && ended[1]) && harness_now_ms() < deadline) {
        struct pollfd active[2];
        int map[2];
        int n = 0;
        for (int i = 0; i < 2; i++) {
            if (!ended[i]) {
                active[n] = fds[i];
                map[n++] = i;
            }
        }
        if (poll(active, (nfds_t)n, 5000) <= 0) {
            CHECK(!"poll timed out with values outstanding");
            break;
        }
        for (int k = 0; k < n; k++) {
            if ((active[k].revents & POLLIN) == 0) {
                continue;
            }
            int i = map[k];
            int x = 0;
            netchan_err err = recv_point(ins[i], NETCHAN_NOWAIT, &x, NULL);
            if (err == NETCHAN_OK) {
                CHECK_EQ_U64(x, next[i]);
                next[i] = x + 1;
            } else if (err == NETCHAN_ECLOSED) {
                ended[i] = true;
            } else {
                spurious++;
            }
        }
    }
    printf("# channel a took %d, channel b took %d; %d spurious wake-ups\n", next[0] - 1,
           next[1] - 1, spurious);
    CHECK_EQ_U64(spurious, 0);
    CHECK(ended[0]);
    CHECK(ended[1]);
    CHECK_EQ_U64(next[0] - 1, COUNT);
    CHECK_EQ_U64(next[1] - 1, COUNT);
out:
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        CHECK_ERR(senders[i].result, NETCHAN_OK);
    }
    netchan_importer_destroy(&importer);
    netchan_exporter_destroy(&exporter);
}

int main(int argc, char **argv)
{
    features_child_main(argc, argv);
    RUN(readiness_recv_fd_tracks_values);
    RUN(readiness_recv_fd_explicit_ack);
    RUN(readiness_send_fd_tracks_capacity);
    RUN(readiness_poll_two_channels);
    return harness_done();
}
