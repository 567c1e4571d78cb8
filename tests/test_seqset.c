/* Unit tests of the sequence-number range set behind duplicate detection and acknowledgements. */
#include "harness.h"

#include "nc.h"

TEST(seqset_merges_adjacent)
{
    nc_seqset_t set = {0};
    for (uint64_t seq = 1; seq <= 100; seq++) {
        CHECK(nc_seqset_add(&set, seq) == 0);
    }
    CHECK_EQ_U64(set.count, 1);
    CHECK_EQ_U64(nc_seqset_size(&set), 100);
    CHECK(nc_seqset_contains(&set, 1));
    CHECK(nc_seqset_contains(&set, 100));
    CHECK(!nc_seqset_contains(&set, 101));
    nc_seqset_free(&set);
}

TEST(seqset_fills_gap)
{
    nc_seqset_t set = {0};
    nc_seqset_add_range(&set, 1, 10);
    nc_seqset_add_range(&set, 20, 30);
    CHECK_EQ_U64(set.count, 2);
    CHECK(!nc_seqset_contains(&set, 15));
    nc_seqset_add_range(&set, 11, 19);
    CHECK_EQ_U64(set.count, 1);
    CHECK_EQ_U64(nc_seqset_size(&set), 30);
    nc_seqset_free(&set);
}

TEST(seqset_splits_on_remove)
{
    nc_seqset_t set = {0};
    nc_seqset_add_range(&set, 1, 100);
    nc_seqset_remove_range(&set, 40, 60);
    CHECK_EQ_U64(set.count, 2);
    CHECK(nc_seqset_contains(&set, 39));
    CHECK(!nc_seqset_contains(&set, 40));
    CHECK(!nc_seqset_contains(&set, 60));
    CHECK(nc_seqset_contains(&set, 61));
    CHECK_EQ_U64(nc_seqset_size(&set), 79);
    nc_seqset_remove_range(&set, 1, 1000);
    CHECK_EQ_U64(set.count, 0);
    nc_seqset_free(&set);
}

TEST(seqset_out_of_order_inserts)
{
    nc_seqset_t set = {0};
    uint64_t order[] = {50, 10, 30, 20, 40, 11, 9, 49, 51};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        CHECK(nc_seqset_add(&set, order[i]) == 0);
    }
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        CHECK(nc_seqset_contains(&set, order[i]));
    }
    CHECK(!nc_seqset_contains(&set, 12));
    CHECK_EQ_U64(nc_seqset_size(&set), 9);
    for (size_t i = 1; i < set.count; i++) {
        CHECK(set.ranges[i - 1].last + 1 < set.ranges[i].first);
    }
    nc_seqset_free(&set);
}

TEST(seqset_huge_ranges)
{
    nc_seqset_t set = {0};
    nc_seqset_add_range(&set, 1, UINT64_MAX);
    CHECK_EQ_U64(set.count, 1);
    CHECK(nc_seqset_contains(&set, UINT64_MAX));
    nc_seqset_remove(&set, UINT64_MAX);
    CHECK(!nc_seqset_contains(&set, UINT64_MAX));
    CHECK(nc_seqset_contains(&set, UINT64_MAX - 1));
    nc_seqset_free(&set);
}

int main(void)
{
    RUN(seqset_merges_adjacent);
    RUN(seqset_fills_gap);
    RUN(seqset_splits_on_remove);
    RUN(seqset_out_of_order_inserts);
    RUN(seqset_huge_ranges);
    return harness_done();
}
