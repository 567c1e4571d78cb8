/* The process-wide log handler. Silent until the application installs a handler; the level is
 * read with one atomic load, so a disabled message costs no formatting. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>

#include "nc.h"

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static netchan_log_fn log_handler;
static void *log_user;
static atomic_int log_max_level; /* 0 while no handler is installed */

void netchan_set_log_handler(netchan_log_fn handler, netchan_log_level max_level, void *user)
{
    pthread_mutex_lock(&log_mu);
    log_handler = handler;
    log_user = user;
    atomic_store(&log_max_level, handler != NULL ? (int)max_level : 0);
    pthread_mutex_unlock(&log_mu);
}

const char *netchan_log_level_name(netchan_log_level level)
{
    switch (level) {
    case NETCHAN_LOG_ERROR:
        return "error";
    case NETCHAN_LOG_WARNING:
        return "warning";
    case NETCHAN_LOG_INFO:
        return "info";
    case NETCHAN_LOG_DEBUG:
        return "debug";
    }
    return "unknown";
}

bool nc_log_enabled(netchan_log_level level)
{
    return (int)level <= atomic_load_explicit(&log_max_level, memory_order_relaxed);
}

void nc_log(netchan_log_level level, const char *format, ...)
{
    if (!nc_log_enabled(level)) {
        return;
    }
    char message[NC_ERRMSG_SIZE];
    va_list args;
    va_start(args, format);
    if (vsnprintf(message, sizeof(message), format, args) < 0) {
        message[0] = '\0';
    }
    va_end(args);

    /* The handler is called under the mutex, so it is never called after it was replaced. */
    pthread_mutex_lock(&log_mu);
    if (log_handler != NULL && (int)level <= atomic_load(&log_max_level)) {
        log_handler(level, message, log_user);
    }
    pthread_mutex_unlock(&log_mu);
}
