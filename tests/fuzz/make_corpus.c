/* Writes the seed corpora of the fuzz targets: one file per frame kind that the wire protocol
 * defines, and a few packed values of the fuzz value type. Run once after changing the protocol:
 *   build/tests/fuzz/make_corpus tests/fuzz/corpus
 * The files are committed; the fuzz tests only read them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_types.pb-c.h"
#include "netchan.pb-c.h"

static int write_file(const char *dir, const char *name, const void *data, size_t size)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *file = fopen(path, "wb");
    if (file == NULL || fwrite(data, 1, size, file) != size) {
        fprintf(stderr, "make_corpus: cannot write %s\n", path);
        if (file != NULL) {
            fclose(file);
        }
        return 1;
    }
    return fclose(file) != 0;
}

static int write_frame(const char *dir, const char *name, const Netchan__Wire__Frame *frame)
{
    size_t size = netchan__wire__frame__get_packed_size(frame);
    uint8_t *buffer = malloc(size + 1);
    netchan__wire__frame__pack(frame, buffer);
    int rc = write_file(dir, name, buffer, size);
    free(buffer);
    return rc;
}

static int frames(const char *dir)
{
    int rc = 0;
    uint8_t session[16] = {0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;

    Netchan__Wire__Hello hello = NETCHAN__WIRE__HELLO__INIT;
    hello.version = 1;
    hello.session.data = session;
    hello.session.len = sizeof(session);
    hello.heartbeat_ms = 250;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_HELLO;
    frame.hello = &hello;
    rc |= write_frame(dir, "hello", &frame);

    Netchan__Wire__Welcome welcome = NETCHAN__WIRE__WELCOME__INIT;
    welcome.version = 1;
    welcome.instance = 0x1234567890abcdefULL;
    welcome.resumed = 1;
    welcome.timeout_ms = 1000;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_WELCOME;
    frame.welcome = &welcome;
    rc |= write_frame(dir, "welcome", &frame);

    Netchan__Wire__Bind bind = NETCHAN__WIRE__BIND__INIT;
    bind.link = 1;
    bind.channel = "jobs";
    bind.direction = NETCHAN__WIRE__DIRECTION__DIRECTION_RECV;
    bind.type_name = "pool.Job";
    bind.fingerprint = "0123456789abcdef";
    bind.credit = 1024;
    bind.max_value_size = 1 << 20;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_BIND;
    frame.bind = &bind;
    rc |= write_frame(dir, "bind", &frame);

    Netchan__Wire__Bound bound = NETCHAN__WIRE__BOUND__INIT;
    bound.link = 1;
    bound.message = "";
    bound.data_endpoint = "";
    bound.credit = 512;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_BOUND;
    frame.bound = &bound;
    rc |= write_frame(dir, "bound", &frame);

    Netchan__Wire__Value values[3];
    Netchan__Wire__Value *pointers[3];
    for (int i = 0; i < 3; i++) {
        netchan__wire__value__init(&values[i]);
        values[i].seq = (uint64_t)i + 1;
        values[i].attempts = 1;
        values[i].payload.data = (uint8_t *)"value";
        values[i].payload.len = 5;
        pointers[i] = &values[i];
    }
    Netchan__Wire__Data data = NETCHAN__WIRE__DATA__INIT;
    data.link = 1;
    data.n_values = 3;
    data.values = pointers;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_DATA;
    frame.data = &data;
    rc |= write_frame(dir, "data", &frame);

    Netchan__Wire__SeqRange range = NETCHAN__WIRE__SEQ_RANGE__INIT;
    range.first = 1;
    range.last = 3;
    Netchan__Wire__SeqRange *ranges[1] = {&range};
    Netchan__Wire__Ack ack = NETCHAN__WIRE__ACK__INIT;
    ack.link = 1;
    ack.ack_no = 1;
    ack.n_acked = 1;
    ack.acked = ranges;
    ack.n_released = 1;
    ack.released = ranges;
    ack.reject_reason = "";
    ack.credit = 2048;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_ACK;
    frame.ack = &ack;
    rc |= write_frame(dir, "ack", &frame);

    Netchan__Wire__AckConfirm confirm = NETCHAN__WIRE__ACK_CONFIRM__INIT;
    confirm.link = 1;
    confirm.ack_no = 1;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_ACK_CONFIRM;
    frame.ack_confirm = &confirm;
    rc |= write_frame(dir, "ack_confirm", &frame);

    Netchan__Wire__Credit credit = NETCHAN__WIRE__CREDIT__INIT;
    credit.link = 1;
    credit.total = 4096;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_CREDIT;
    frame.credit = &credit;
    rc |= write_frame(dir, "credit", &frame);

    Netchan__Wire__End end = NETCHAN__WIRE__END__INIT;
    end.link = 1;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_END;
    frame.end = &end;
    rc |= write_frame(dir, "end", &frame);

    Netchan__Wire__Error error = NETCHAN__WIRE__ERROR__INIT;
    error.code = NETCHAN__WIRE__ERROR_CODE__ERROR_NO_SESSION;
    error.message = "no session";
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_ERROR;
    frame.error = &error;
    rc |= write_frame(dir, "error", &frame);
    return rc;
}

static int trees(const char *dir)
{
    Netchan__Fuzz__Leaf leaf = NETCHAN__FUZZ__LEAF__INIT;
    int64_t numbers[3] = {-1, 0, 1};
    leaf.name = "leaf";
    leaf.blob.data = (uint8_t *)"\x00\x01";
    leaf.blob.len = 2;
    leaf.n_numbers = 3;
    leaf.numbers = numbers;
    Netchan__Fuzz__Leaf *leaves[1] = {&leaf};
    Netchan__Fuzz__Tree child = NETCHAN__FUZZ__TREE__INIT;
    child.text = "child";
    Netchan__Fuzz__Tree tree = NETCHAN__FUZZ__TREE__INIT;
    float floats[2] = {1.5f, -2.0f};
    tree.i32 = -7;
    tree.u64 = 1ULL << 40;
    tree.ratio = 0.25;
    tree.flag = 1;
    tree.colour = NETCHAN__FUZZ__COLOUR__COLOUR_RED;
    tree.text = "tree";
    tree.n_leaves = 1;
    tree.leaves = leaves;
    tree.child = &child;
    tree.f32 = 42;
    tree.n_floats = 2;
    tree.floats = floats;

    size_t size = netchan__fuzz__tree__get_packed_size(&tree);
    uint8_t *buffer = malloc(size + 1);
    netchan__fuzz__tree__pack(&tree, buffer);
    int rc = write_file(dir, "tree", buffer, size);
    free(buffer);
    rc |= write_file(dir, "empty", "", 0);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus CORPUS_DIR (with frame/ and value/ in it)\n");
        return 2;
    }
    char frame_dir[1024];
    char value_dir[1024];
    snprintf(frame_dir, sizeof(frame_dir), "%s/frame", argv[1]);
    snprintf(value_dir, sizeof(value_dir), "%s/value", argv[1]);
    return frames(frame_dir) | trees(value_dir);
}
