/* A tiny test harness with TAP output, so meson reports each test function by name.
 *
 * A test file defines test functions with TEST(name), lists them in main() with RUN(name), and
 * returns harness_done(). CHECK() records a failure and carries on, so one run shows every
 * failed condition; REQUIRE() also leaves the test function. */
#ifndef NETCHAN_TEST_HARNESS_H
#define NETCHAN_TEST_HARNESS_H

#define _GNU_SOURCE
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int harness_count;
static int harness_failed_tests;
static int harness_current_failures;

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            printf("# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                 \
            harness_current_failures++;                                                        \
        }                                                                                      \
    } while (0)

#define REQUIRE(cond)                                                                          \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            printf("# %s:%d: requirement failed: %s\n", __FILE__, __LINE__, #cond);           \
            harness_current_failures++;                                                        \
            return;                                                                            \
        }                                                                                      \
    } while (0)

#define CHECK_EQ_U64(actual, expected)                                                         \
    do {                                                                                       \
        uint64_t a_ = (uint64_t)(actual);                                                      \
        uint64_t e_ = (uint64_t)(expected);                                                    \
        if (a_ != e_) {                                                                        \
            printf("# %s:%d: %s is %" PRIu64 ", expected %" PRIu64 "\n", __FILE__, __LINE__,  \
                   #actual, a_, e_);                                                           \
            harness_current_failures++;                                                        \
        }                                                                                      \
    } while (0)

/* Checks that a netchan call returned the expected code, printing both names on failure. */
#define CHECK_ERR(call, expected)                                                              \
    do {                                                                                       \
        netchan_err r_ = (call);                                                               \
        if (r_ != (expected)) {                                                                \
            printf("# %s:%d: %s returned %d (%s), expected %s\n", __FILE__, __LINE__, #call,   \
                   (int)r_, netchan_strerror(r_), #expected);                                  \
            harness_current_failures++;                                                        \
        }                                                                                      \
    } while (0)

#define RUN(test)                                                                              \
    do {                                                                                       \
        harness_current_failures = 0;                                                          \
        fflush(stdout);                                                                        \
        test();                                                                                \
        harness_count++;                                                                       \
        if (harness_current_failures == 0) {                                                   \
            printf("ok %d - %s\n", harness_count, #test);                                      \
        } else {                                                                               \
            printf("not ok %d - %s\n", harness_count, #test);                                  \
            harness_failed_tests++;                                                            \
        }                                                                                      \
        fflush(stdout);                                                                        \
    } while (0)

static inline int harness_done(void)
{
    printf("1..%d\n", harness_count);
    return harness_failed_tests == 0 ? 0 : 1;
}

static inline int64_t harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls cond (an expression) until it holds or timeout_ms passes; evaluates to its last value.
 * Tests use it to wait for a condition with a bound instead of sleeping. */
#define WAIT_UNTIL(cond, timeout_ms)                                                           \
    ({                                                                                         \
        int64_t deadline_ = harness_now_ms() + (timeout_ms);                                   \
        bool ok_ = (cond);                                                                     \
        while (!ok_ && harness_now_ms() < deadline_) {                                         \
            struct timespec pause_ = {0, 2 * 1000 * 1000};                                     \
            nanosleep(&pause_, NULL);                                                          \
            ok_ = (cond);                                                                      \
        }                                                                                      \
        ok_;                                                                                   \
    })

#endif
