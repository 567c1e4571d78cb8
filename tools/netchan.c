/* netchan: the command-line exporter and importer.
 *
 * One process exports or imports one channel of untyped bytes and moves one value per line
 * between the channel and the standard streams. The sending side reads lines from stdin and,
 * at end of input, closes the channel and waits until every value is acknowledged. The
 * receiving side opens its channel with explicit acknowledgement and acknowledges a value only
 * after the value and its newline were written to stdout. A receiver killed at any moment
 * therefore never loses a value it had not written, because the sender delivers it again.
 *
 * SIGINT and SIGTERM end either side as end of input or end of stream would. Every blocking
 * call runs with a short timeout so that the main loop sees the signal flag. A second signal
 * also stops the wait for acknowledgements and a write to a blocked stdout. Exit status: 0 on
 * success, 1 on a runtime error, 2 on a usage error.
 *
 * With --curve-secret, either side encrypts and authenticates its connections with CURVE and
 * accepts no plain ones. Keys are read from czmq certificate files, which "netchan keygen"
 * writes, and the secret key is never printed.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "netchan.h"

enum {
    EXIT_USAGE = 2,

    /* How long one blocking call may wait before the loop checks for a signal. */
    POLL_MS = 200,

    /* How long one import attempt waits for the exporter, and how often a waiting importer or
     * sender repeats its notice. */
    IMPORT_ATTEMPT_MS = 1000,
    WAITING_NOTICE_MS = 10000,

    /* How long a sender waits for acknowledgements at the end before it prints a notice. */
    DRAIN_NOTICE_MS = 1000,

    /* How long a receiver waits for the sender to confirm its acknowledgements at the end. */
    RECEIVER_DRAIN_MS = 5000,

    /* How often an exporter prints a notice of the connections it refused. */
    REFUSED_NOTICE_MS = 10000,

    /* The maximum number of values a receiver writes to stdout with one system call. */
    WRITE_BATCH = 64,

    /* The maximum value size in bytes, the library's default. A longer input line is an error. */
    MAX_VALUE_SIZE = 1 << 20,

    READ_CHUNK = 64 * 1024,
};

/* The command line, once parsed. */
typedef struct cli_config {
    bool keygen;
    const char *key_path; /* keygen: where the public certificate goes */
    bool exporting;
    const char *endpoint;
    const char *name;
    netchan_dir direction;
    uint32_t capacity;    /* 0 for the library's default */
    int drain_timeout_ms; /* NETCHAN_FOREVER unless --drain-timeout was given */
    uint64_t count;       /* 0 for no limit */
    bool stats;           /* --stats: print the channel's statistics on stderr at the end */
    int verbosity;        /* each -v adds a log level on stderr: 1 info, 2 debug */

    /* CURVE and admission settings: NULL, or a count of 0, when not given */
    const char *curve_secret;        /* --curve-secret: the secret certificate file */
    const char *curve_server_public; /* import: the exporter's z85 public key or certificate */
    const char *curve_allow;         /* export: the directory of admitted certificates */
    const char **allowed_addresses;  /* export: every --allow-address, owned by main() */
    size_t allowed_address_count;

    /* export: the endpoint as bound, with the port the system picked for "tcp://host:*" */
    char bound_endpoint[512];
} cli_config_t;

/* ---------------------------------------------------------------------------------------------
 * Usage and arguments
 */

/* The synopsis, printed after a usage error and at the start of the help. */
static const char synopsis_text[] =
    "Usage:\n"
    "  netchan export --bind ENDPOINT (--send NAME | --recv NAME) [--capacity N]\n"
    "                 [--drain-timeout SECONDS] [--count N] [--stats] [-v]\n"
    "                 [--curve-secret FILE [--curve-allow DIR]] [--allow-address IP]...\n"
    "  netchan import --connect ENDPOINT (--send NAME | --recv NAME) [--capacity N]\n"
    "                 [--drain-timeout SECONDS] [--count N] [--stats] [-v]\n"
    "                 [--curve-secret FILE --curve-server-public KEY|FILE]\n"
    "  netchan keygen PATH\n"
    "  netchan --help\n";

static const char help_text[] =
    "\n"
    "Moves one value per line between a netchan channel of untyped bytes and the standard\n"
    "streams. The newline is not part of the value. A value holds at most 1 MiB, so a longer\n"
    "input line is an error.\n"
    "\n"
    "  export               serve the channel NAME on ENDPOINT\n"
    "  import               bind to the channel NAME of the exporter at ENDPOINT\n"
    "  keygen PATH          write a new CURVE key pair in czmq's certificate format: the public\n"
    "                       certificate to PATH and the secret one to PATH_secret, readable by\n"
    "                       its owner only; print the public key on stdout. Existing files are\n"
    "                       not overwritten\n"
    "  --bind ENDPOINT      endpoint to bind, e.g. tcp://127.0.0.1:* or ipc:///tmp/netchan.sock\n"
    "  --connect ENDPOINT   endpoint of the exporter, e.g. tcp://127.0.0.1:5555\n"
    "  --send NAME          read values from stdin and send them on channel NAME; at end of\n"
    "                       input, wait until every value is acknowledged\n"
    "  --recv NAME          write each value received on channel NAME to stdout and\n"
    "                       acknowledge it once written; exit when the sender closes the\n"
    "                       channel\n"
    "  --capacity N         maximum number of values the channel holds on this side\n"
    "                       (default 1024)\n"
    "  --drain-timeout SECONDS\n"
    "                       with --send: wait at most this long (fractions allowed) for\n"
    "                       acknowledgements at the end, then exit 1 (default: no limit)\n"
    "  --count N            with --recv: exit after N values\n"
    "  --stats              at exit, print the channel's statistics on stderr, one line of\n"
    "                       name=value pairs\n"
    "  -v, --verbose        log the library's starts, stops, reconnects, lost sessions and\n"
    "                       errors on stderr; -vv adds debug messages\n"
    "  --help               print this help and exit\n"
    "\n"
    "Security (see docs/security.md):\n"
    "  --curve-secret FILE  encrypt and authenticate the connection with CURVE, using the key\n"
    "                       pair in FILE (PATH_secret from netchan keygen); the endpoint then\n"
    "                       accepts no plain connections\n"
    "  --curve-server-public KEY|FILE\n"
    "                       import: the exporter's public key, as the 40 characters that\n"
    "                       netchan keygen printed or the exporter's public certificate file;\n"
    "                       required with --curve-secret\n"
    "  --curve-allow DIR    export: admit only importers whose public certificates are in DIR,\n"
    "                       read again when it changes (default: any importer with a key pair)\n"
    "  --allow-address IP   export: admit connections only from this IP address; repeat for\n"
    "                       several (default: any address)\n"
    "An importer whose connection the exporter refuses, at the start or on a reconnect, says\n"
    "so on stderr and exits 1. An exporter reports the connections it refused on stderr.\n"
    "\n"
    "SIGINT and SIGTERM end the input or the stream. A second signal stops the wait for\n"
    "acknowledgements or for a blocked stdout.\n"
    "Exit status: 0 on success, 1 on a runtime error, 2 on a usage error.\n";

static void print_help(void)
{
    fputs(synopsis_text, stdout);
    fputs(help_text, stdout);
}

/* Prints "netchan: " and the formatted message, then the usage, on stderr. */
static int usage_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("netchan: ", stderr);
    vfprintf(stderr, format, args);
    va_end(args);
    fputs("\n", stderr);
    fputs(synopsis_text, stderr);
    return EXIT_USAGE;
}

/* Parses a whole decimal number in [min, max] into *value_p. Returns false if text is not one. */
static bool parse_integer(const char *text, uint64_t min, uint64_t max, uint64_t *value_p)
{
    if (text[0] < '0' || text[0] > '9') {
        return false;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < min || value > max) {
        return false;
    }
    *value_p = value;
    return true;
}

/* Parses a non-negative number of seconds, fractions allowed, into milliseconds. */
static bool parse_seconds(const char *text, int *ms_p)
{
    if ((text[0] < '0' || text[0] > '9') && text[0] != '.') {
        return false;
    }
    char *end = NULL;
    errno = 0;
    double seconds = strtod(text, &end);
    if (errno != 0 || *end != '\0' || seconds < 0 || seconds * 1000.0 > INT_MAX) {
        return false;
    }
    *ms_p = (int)(seconds * 1000.0 + 0.5);
    return true;
}

/* Sets the channel and its direction, which --send and --recv both give. */
static int set_channel(cli_config_t *config, netchan_dir direction, const char *name)
{
    if (config->name != NULL) {
        return usage_error("give exactly one of --send and --recv");
    }
    if (name[0] == '\0') {
        return usage_error("the channel name must not be empty");
    }
    config->name = name;
    config->direction = direction;
    return 0;
}

/* Adds an --allow-address, which must be an IPv4 or IPv6 address. */
static int add_allowed_address(cli_config_t *config, int argc, const char *address)
{
    unsigned char parsed[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, address, parsed) != 1 && inet_pton(AF_INET6, address, parsed) != 1) {
        return usage_error("invalid --allow-address '%s': expected an IPv4 or IPv6 address",
                           address);
    }
    if (config->allowed_addresses == NULL) {
        /* There cannot be more addresses than arguments. */
        config->allowed_addresses = calloc((size_t)argc, sizeof(*config->allowed_addresses));
        if (config->allowed_addresses == NULL) {
            fprintf(stderr, "netchan: out of memory\n");
            return EXIT_FAILURE;
        }
    }
    config->allowed_addresses[config->allowed_address_count++] = address;
    return 0;
}

/* Checks that the security options fit the command and each other. */
static int check_security(const cli_config_t *config)
{
    if (config->exporting) {
        if (config->curve_allow != NULL && config->curve_secret == NULL) {
            return usage_error("--curve-allow needs --curve-secret FILE");
        }
        return 0;
    }
    if (config->curve_secret != NULL && config->curve_server_public == NULL) {
        return usage_error("import with --curve-secret needs --curve-server-public KEY|FILE, the "
                           "exporter's public key");
    }
    if (config->curve_server_public != NULL && config->curve_secret == NULL) {
        return usage_error("--curve-server-public needs --curve-secret FILE, this importer's own "
                           "key pair");
    }
    return 0;
}

/* Checks the combination of options once all were read. */
static int check_config(const cli_config_t *config, const char *endpoint_option,
                        bool drain_timeout_given)
{
    if (config->endpoint == NULL) {
        return usage_error("missing %s ENDPOINT", endpoint_option);
    }
    if (config->name == NULL) {
        return usage_error("missing --send NAME or --recv NAME");
    }
    if (drain_timeout_given && config->direction != NETCHAN_SEND) {
        return usage_error("--drain-timeout applies only with --send");
    }
    if (config->count > 0 && config->direction != NETCHAN_RECV) {
        return usage_error("--count applies only with --recv");
    }
    return check_security(config);
}

/* Fills config for "netchan keygen PATH". Returns as parse_arguments() does. */
static int parse_keygen(int argc, char **argv, cli_config_t *config)
{
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help();
            return -1;
        }
    }
    if (argc < 3) {
        return usage_error("keygen needs the PATH of the certificate to write");
    }
    if (argv[2][0] == '-') {
        return usage_error("unknown option '%s'", argv[2]);
    }
    if (argc > 3) {
        return usage_error("unexpected argument '%s'", argv[3]);
    }
    if (argv[2][0] == '\0') {
        return usage_error("the key path must not be empty");
    }
    config->keygen = true;
    config->key_path = argv[2];
    return 0;
}

/* Fills config from the command line. Returns 0 to go on, -1 after printing the help, or an
 * exit status (EXIT_USAGE for a usage error) after printing the error. */
static int parse_arguments(int argc, char **argv, cli_config_t *config)
{
    enum {
        OPT_BIND = 256,
        OPT_CONNECT,
        OPT_SEND,
        OPT_RECV,
        OPT_CAPACITY,
        OPT_DRAIN,
        OPT_COUNT,
        OPT_CURVE_SECRET,
        OPT_CURVE_SERVER_PUBLIC,
        OPT_CURVE_ALLOW,
        OPT_ALLOW_ADDRESS,
        OPT_STATS,
    };
    static const struct option options[] = {
        {"bind", required_argument, NULL, OPT_BIND},
        {"connect", required_argument, NULL, OPT_CONNECT},
        {"send", required_argument, NULL, OPT_SEND},
        {"recv", required_argument, NULL, OPT_RECV},
        {"capacity", required_argument, NULL, OPT_CAPACITY},
        {"drain-timeout", required_argument, NULL, OPT_DRAIN},
        {"count", required_argument, NULL, OPT_COUNT},
        {"curve-secret", required_argument, NULL, OPT_CURVE_SECRET},
        {"curve-server-public", required_argument, NULL, OPT_CURVE_SERVER_PUBLIC},
        {"curve-allow", required_argument, NULL, OPT_CURVE_ALLOW},
        {"allow-address", required_argument, NULL, OPT_ALLOW_ADDRESS},
        {"stats", no_argument, NULL, OPT_STATS},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };

    *config = (cli_config_t){.drain_timeout_ms = NETCHAN_FOREVER};
    if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
        print_help();
        return -1;
    }
    if (argc < 2) {
        return usage_error("missing command: export, import or keygen");
    }
    if (strcmp(argv[1], "keygen") == 0) {
        return parse_keygen(argc, argv, config);
    }
    if (strcmp(argv[1], "export") == 0) {
        config->exporting = true;
    } else if (strcmp(argv[1], "import") != 0) {
        return usage_error("unknown command '%s'; expected export, import or keygen", argv[1]);
    }
    const char *endpoint_option = config->exporting ? "--bind" : "--connect";
    bool drain_timeout_given = false;

    opterr = 0;
    optind = 2;
    int option;
    while ((option = getopt_long(argc, argv, ":hv", options, NULL)) != -1) {
        int rc = 0;
        uint64_t number = 0;
        switch (option) {
        case 'h':
            print_help();
            return -1;
        case OPT_BIND:
        case OPT_CONNECT:
            if ((option == OPT_BIND) != config->exporting) {
                return usage_error("export takes --bind ENDPOINT and import takes --connect "
                                   "ENDPOINT");
            }
            config->endpoint = optarg;
            break;
        case OPT_SEND:
        case OPT_RECV:
            rc = set_channel(config, option == OPT_SEND ? NETCHAN_SEND : NETCHAN_RECV, optarg);
            break;
        case OPT_CAPACITY:
            if (!parse_integer(optarg, 1, 1048576, &number)) {
                return usage_error("invalid --capacity '%s': expected an integer from 1 to 1048576",
                                   optarg);
            }
            config->capacity = (uint32_t)number;
            break;
        case OPT_DRAIN:
            if (!parse_seconds(optarg, &config->drain_timeout_ms)) {
                return usage_error("invalid --drain-timeout '%s': expected a number of seconds",
                                   optarg);
            }
            drain_timeout_given = true;
            break;
        case OPT_STATS:
            config->stats = true;
            break;
        case 'v':
            config->verbosity++;
            break;
        case OPT_COUNT:
            if (!parse_integer(optarg, 1, UINT64_MAX, &number)) {
                return usage_error("invalid --count '%s': expected a positive integer", optarg);
            }
            config->count = number;
            break;
        case OPT_CURVE_SECRET:
            config->curve_secret = optarg;
            break;
        case OPT_CURVE_SERVER_PUBLIC:
            if (config->exporting) {
                return usage_error("--curve-server-public applies only to import");
            }
            config->curve_server_public = optarg;
            break;
        case OPT_CURVE_ALLOW:
            if (!config->exporting) {
                return usage_error("--curve-allow applies only to export");
            }
            config->curve_allow = optarg;
            break;
        case OPT_ALLOW_ADDRESS:
            if (!config->exporting) {
                return usage_error("--allow-address applies only to export");
            }
            rc = add_allowed_address(config, argc, optarg);
            break;
        case ':':
            return usage_error("option '%s' requires a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (optind < argc) {
        return usage_error("unexpected argument '%s'", argv[optind]);
    }
    return check_config(config, endpoint_option, drain_timeout_given);
}

/* ---------------------------------------------------------------------------------------------
 * Signals
 */

/* The number of SIGINT and SIGTERM signals received. */
static volatile sig_atomic_t signals_received = 0;

static void count_signal(int signal_number)
{
    (void)signal_number;
    if (signals_received < 2) {
        signals_received++;
    }
}

/* Installs the handlers without SA_RESTART, so that a blocked system call returns EINTR, and
 * ignores SIGPIPE, so that a closed stdout shows up as a write error. */
static int install_signal_handlers(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = count_signal;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGINT, &action, NULL) != 0 || sigaction(SIGTERM, &action, NULL) != 0) {
        return -1;
    }
    action.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &action, NULL);
}

static bool interrupted(void)
{
    return signals_received > 0;
}

/* A second signal stops the wait for acknowledgements and for a blocked stdout. */
static bool interrupted_twice(void)
{
    return signals_received > 1;
}

static int64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Returns "value" or "values" to follow count in a message. */
static const char *values_word(uint64_t count)
{
    return count == 1 ? "value" : "values";
}

/* ---------------------------------------------------------------------------------------------
 * Refused connections
 */

/* The refused connections that the running side has read from its exporter's or importer's
 * events. An exporter reports the importers it refused and goes on serving. An importer whose
 * connection is refused stops, because it cannot reach its exporter again: libzmq 4.3.4 does
 * not reconnect after the exporter rejected its key or mechanism, and a wrong server key fails
 * on every retry. */
static struct {
    const cli_config_t *config;
    netchan_exporter_t *exporter; /* at most one of the two is set */
    netchan_importer_t *importer;
    uint64_t unreported; /* refusals read but not printed yet */
    netchan_event_reason last_reason;
    char last_address[64];
    int64_t next_check;
    int64_t next_notice;
    bool importer_refused; /* the importer's refusal was read and printed */
} refusals;

static netchan_err next_event(netchan_event_t **event_p)
{
    if (refusals.exporter != NULL) {
        return netchan_exporter_next_event(refusals.exporter, NETCHAN_NOWAIT, event_p);
    }
    if (refusals.importer != NULL) {
        return netchan_importer_next_event(refusals.importer, NETCHAN_NOWAIT, event_p);
    }
    return NETCHAN_EAGAIN;
}

static const char *refusal_reason_text(netchan_event_reason reason)
{
    if (reason == NETCHAN_REASON_AUTH) {
        return refusals.exporter != NULL ? "its key or address is not allowed"
                                         : "the exporter rejected this importer's key or address";
    }
    return refusals.exporter != NULL
               ? "its handshake failed: a plain peer, a wrong key or not a netchan importer"
               : "the handshake failed; check that both sides use CURVE and that the importer "
                 "has the exporter's public key";
}

/* Reads the pending events, at most once every POLL_MS. An exporter prints the connections it
 * refused, at most one line every REFUSED_NOTICE_MS. An importer prints one line when its
 * connection is refused. Returns true once the importer's connection was refused. The running
 * side calls it from each of its loops. */
static bool check_refusals(void)
{
    if (refusals.importer_refused) {
        return true;
    }
    int64_t now = now_ms();
    if (now < refusals.next_check) {
        return false;
    }
    refusals.next_check = now + POLL_MS;

    netchan_event_t *event = NULL;
    while (next_event(&event) == NETCHAN_OK) {
        if (netchan_event_type_of(event) == NETCHAN_EVENT_REFUSED) {
            refusals.unreported++;
            refusals.last_reason = netchan_event_reason_of(event);
            snprintf(refusals.last_address, sizeof(refusals.last_address), "%s",
                     netchan_event_address(event));
        }
        netchan_event_destroy(&event);
    }
    if (refusals.unreported == 0) {
        return false;
    }

    const cli_config_t *config = refusals.config;
    const char *reason = refusal_reason_text(refusals.last_reason);
    if (refusals.importer != NULL) {
        fprintf(stderr,
                "netchan: authentication failed: the exporter at %s refused the connection of "
                "'%s': %s\n",
                config->endpoint, config->name, reason);
        refusals.importer_refused = true;
        return true;
    }
    if (now < refusals.next_notice) {
        return false;
    }
    fprintf(stderr, "netchan: refused %" PRIu64 " %s to '%s' on %s; the last from %s: %s\n",
            refusals.unreported, refusals.unreported == 1 ? "connection" : "connections",
            config->name, config->endpoint,
            refusals.last_address[0] != '\0' ? refusals.last_address : "an unknown address",
            reason);
    refusals.unreported = 0;
    refusals.next_notice = now + REFUSED_NOTICE_MS;
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * Opening the channel
 */

/* Creates the options for config's channel. A receiving side uses explicit acknowledgement. */
static netchan_options_t *make_options(const cli_config_t *config)
{
    netchan_options_t *options = netchan_options_new();
    if (options == NULL) {
        fprintf(stderr, "netchan: out of memory\n");
        return NULL;
    }
    if (config->capacity > 0) {
        (void)netchan_options_set_capacity(options, config->capacity);
    }
    (void)netchan_options_set_max_value_size(options, MAX_VALUE_SIZE);
    if (config->direction == NETCHAN_RECV) {
        (void)netchan_options_set_explicit_ack(options, true);
    }
    return options;
}

/* Applies the security options to the exporter, which must not be bound yet. */
static int secure_export(const cli_config_t *config, netchan_exporter_t *exporter)
{
    if (config->curve_secret != NULL &&
        netchan_exporter_set_curve(exporter, config->curve_secret) != NETCHAN_OK) {
        fprintf(stderr, "netchan: cannot export '%s': %s\n", config->name,
                netchan_exporter_error(exporter));
        return EXIT_FAILURE;
    }
    if (config->curve_allow != NULL) {
        /* The library accepts a missing directory and refuses every importer until it appears.
         * A mistyped path is more likely than a directory made later, so it is an error here. */
        struct stat status;
        if (stat(config->curve_allow, &status) != 0 || !S_ISDIR(status.st_mode)) {
            fprintf(stderr, "netchan: cannot export '%s': --curve-allow '%s' is not a directory\n",
                    config->name, config->curve_allow);
            return EXIT_FAILURE;
        }
        if (netchan_exporter_curve_allow(exporter, config->curve_allow) != NETCHAN_OK) {
            fprintf(stderr, "netchan: cannot export '%s': %s\n", config->name,
                    netchan_exporter_error(exporter));
            return EXIT_FAILURE;
        }
    }
    for (size_t i = 0; i < config->allowed_address_count; i++) {
        if (netchan_exporter_allow_address(exporter, config->allowed_addresses[i]) != NETCHAN_OK) {
            fprintf(stderr, "netchan: cannot export '%s': %s\n", config->name,
                    netchan_exporter_error(exporter));
            return EXIT_FAILURE;
        }
    }
    return EXIT_SUCCESS;
}

/* Creates the exporter, binds it and exports the channel. Prints the bound endpoint, which
 * replaces config->endpoint from then on. */
static int open_export(cli_config_t *config, netchan_exporter_t **exporter_p,
                       netchan_chan_t **chan_p)
{
    netchan_err err = netchan_exporter_new(exporter_p);
    if (err != NETCHAN_OK) {
        fprintf(stderr, "netchan: cannot create an exporter: %s\n", netchan_strerror(err));
        return EXIT_FAILURE;
    }
    netchan_exporter_t *exporter = *exporter_p;

    if (secure_export(config, exporter) != EXIT_SUCCESS) {
        return EXIT_FAILURE;
    }
    if (netchan_exporter_bind(exporter, config->endpoint) != NETCHAN_OK) {
        fprintf(stderr, "netchan: cannot export '%s': %s\n", config->name,
                netchan_exporter_error(exporter));
        return EXIT_FAILURE;
    }

    netchan_options_t *options = make_options(config);
    if (options == NULL) {
        return EXIT_FAILURE;
    }
    err = netchan_export_bytes(exporter, config->name, config->direction, NULL, NULL, options,
                               chan_p);
    netchan_options_destroy(&options);
    if (err != NETCHAN_OK) {
        fprintf(stderr, "netchan: cannot export '%s' on %s: %s\n", config->name, config->endpoint,
                netchan_exporter_error(exporter));
        return EXIT_FAILURE;
    }

    if (netchan_exporter_endpoint(exporter, config->bound_endpoint,
                                  sizeof(config->bound_endpoint)) == NETCHAN_OK) {
        config->endpoint = config->bound_endpoint;
    }
    fprintf(stderr, "netchan: exporting '%s' on %s\n", config->name, config->endpoint);
    refusals.config = config;
    refusals.exporter = exporter;
    return EXIT_SUCCESS;
}

/* Binds the channel at the exporter, waiting until an exporter accepts the bind. Returns
 * EXIT_SUCCESS with *chan_p set, EXIT_SUCCESS with *chan_p NULL when a signal ended the wait, or
 * EXIT_FAILURE. */
static int bind_import(const cli_config_t *config, netchan_importer_t *importer,
                       const netchan_options_t *options, netchan_chan_t **chan_p)
{
    int64_t next_notice = 0;
    *chan_p = NULL;

    while (!interrupted()) {
        netchan_err err = netchan_import_bytes(importer, config->name, config->direction, NULL,
                                               NULL, options, IMPORT_ATTEMPT_MS, chan_p);
        if (err == NETCHAN_OK) {
            fprintf(stderr, "netchan: importing '%s' from %s\n", config->name, config->endpoint);
            return EXIT_SUCCESS;
        }
        if (err == NETCHAN_EAUTH) {
            fprintf(stderr, "netchan: authentication failed: cannot import '%s' from %s: %s\n",
                    config->name, config->endpoint, netchan_importer_error(importer));
            return EXIT_FAILURE;
        }
        if (err != NETCHAN_ETIMEDOUT) {
            fprintf(stderr, "netchan: cannot import '%s' from %s: %s\n", config->name,
                    config->endpoint, netchan_importer_error(importer));
            return EXIT_FAILURE;
        }
        if (now_ms() >= next_notice) {
            fprintf(stderr, "netchan: waiting for an exporter at %s\n", config->endpoint);
            next_notice = now_ms() + WAITING_NOTICE_MS;
        }
    }
    fprintf(stderr, "netchan: interrupted while waiting for an exporter at %s\n", config->endpoint);
    return EXIT_SUCCESS;
}

/* Creates the importer, connects it and imports the channel. *chan_p stays NULL when a signal
 * ended the wait for the exporter. */
static int open_import(const cli_config_t *config, netchan_importer_t **importer_p,
                       netchan_chan_t **chan_p)
{
    netchan_err err = netchan_importer_new(importer_p);
    if (err != NETCHAN_OK) {
        fprintf(stderr, "netchan: cannot create an importer: %s\n", netchan_strerror(err));
        return EXIT_FAILURE;
    }
    netchan_importer_t *importer = *importer_p;

    if (config->curve_secret != NULL &&
        netchan_importer_set_curve(importer, config->curve_secret, config->curve_server_public) !=
            NETCHAN_OK) {
        fprintf(stderr, "netchan: cannot connect to %s: %s\n", config->endpoint,
                netchan_importer_error(importer));
        return EXIT_FAILURE;
    }
    if (netchan_importer_connect(importer, config->endpoint) != NETCHAN_OK) {
        fprintf(stderr, "netchan: cannot connect to %s: %s\n", config->endpoint,
                netchan_importer_error(importer));
        return EXIT_FAILURE;
    }

    refusals.config = config;
    refusals.importer = importer;

    netchan_options_t *options = make_options(config);
    if (options == NULL) {
        return EXIT_FAILURE;
    }
    int status = bind_import(config, importer, options, chan_p);
    netchan_options_destroy(&options);
    return status;
}

/* ---------------------------------------------------------------------------------------------
 * Reading lines from stdin
 */

typedef enum read_result {
    READ_LINE,
    READ_END,         /* end of input */
    READ_INTERRUPTED, /* a signal arrived */
    READ_TOO_LONG,    /* the line exceeds MAX_VALUE_SIZE */
    READ_REFUSED,     /* the exporter refused the importer's connection, as printed */
    READ_FAILED,      /* read(2) failed and set errno */
} read_result_t;

/* A line reader over a file descriptor that polls with a timeout, so that it notices signals
 * without relying on read(2) being interrupted. */
typedef struct line_reader {
    int fd;
    char *data;
    size_t start;   /* the first byte not yet returned */
    size_t end;     /* one past the last byte read */
    size_t scanned; /* bytes after start known to contain no newline */
    size_t cap;
    bool at_end;
} line_reader_t;

/* Makes room for at least READ_CHUNK more bytes after end. */
static bool reader_make_room(line_reader_t *reader)
{
    if (reader->start > 0) {
        memmove(reader->data, reader->data + reader->start, reader->end - reader->start);
        reader->end -= reader->start;
        reader->start = 0;
    }
    if (reader->cap - reader->end >= READ_CHUNK) {
        return true;
    }
    size_t cap = reader->cap > 0 ? reader->cap * 2 : 2 * READ_CHUNK;
    char *data = realloc(reader->data, cap);
    if (data == NULL) {
        return false;
    }
    reader->data = data;
    reader->cap = cap;
    return true;
}

/* Reads more input, waiting at most POLL_MS. Returns READ_LINE when the caller should look for
 * a line again, whether or not bytes arrived. */
static read_result_t reader_fill(line_reader_t *reader)
{
    struct pollfd poll_fd = {.fd = reader->fd, .events = POLLIN};
    int ready = poll(&poll_fd, 1, POLL_MS);
    if (ready < 0) {
        return errno == EINTR ? READ_LINE : READ_FAILED;
    }
    if (ready == 0) {
        return READ_LINE;
    }
    if (!reader_make_room(reader)) {
        errno = ENOMEM;
        return READ_FAILED;
    }
    ssize_t count = read(reader->fd, reader->data + reader->end, reader->cap - reader->end);
    if (count < 0) {
        return errno == EINTR || errno == EAGAIN ? READ_LINE : READ_FAILED;
    }
    if (count == 0) {
        reader->at_end = true;
    }
    reader->end += (size_t)count;
    return READ_LINE;
}

/* Returns the next line without its newline in *line_p and *size_p, valid until the next call.
 * A last line without a newline counts as a line. */
static read_result_t read_line(line_reader_t *reader, const char **line_p, size_t *size_p)
{
    for (;;) {
        if (interrupted()) {
            return READ_INTERRUPTED;
        }
        if (check_refusals()) {
            return READ_REFUSED;
        }

        size_t available = reader->end - reader->start;
        char *line = available > 0 ? reader->data + reader->start : NULL;
        char *newline = NULL;
        if (available > reader->scanned) {
            newline = memchr(line + reader->scanned, '\n', available - reader->scanned);
        }
        if (newline != NULL || (reader->at_end && available > 0)) {
            size_t size = newline != NULL ? (size_t)(newline - line) : available;
            if (size > MAX_VALUE_SIZE) {
                return READ_TOO_LONG;
            }
            reader->start += newline != NULL ? size + 1 : size;
            reader->scanned = 0;
            *line_p = line;
            *size_p = size;
            return READ_LINE;
        }
        reader->scanned = available;
        if (available > MAX_VALUE_SIZE) {
            return READ_TOO_LONG;
        }
        if (reader->at_end) {
            return READ_END;
        }

        read_result_t result = reader_fill(reader);
        if (result != READ_LINE) {
            return result;
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * The sending side
 */

/* Sends one value, retrying while the channel is full until a signal arrives. Returns
 * NETCHAN_OK, NETCHAN_ETIMEDOUT when a signal ended the wait, NETCHAN_EAUTH when the exporter
 * refused the connection (already printed), or the error. */
static netchan_err send_value(netchan_chan_t *chan, const char *data, size_t size)
{
    for (;;) {
        netchan_err err = netchan_send_bytes(chan, data, size, POLL_MS);
        if (err != NETCHAN_ETIMEDOUT || interrupted()) {
            return err;
        }
        if (check_refusals()) {
            return NETCHAN_EAUTH;
        }
    }
}

/* Prints why reading stopped at line_number when it was not the end of input. Returns the exit
 * status that the reason calls for. */
static int report_read_stop(const cli_config_t *config, read_result_t result, uint64_t line_number)
{
    if (result == READ_TOO_LONG) {
        fprintf(stderr,
                "netchan: line %" PRIu64 " of stdin is longer than the maximum value size of %d "
                "bytes; not sent on '%s'\n",
                line_number, MAX_VALUE_SIZE, config->name);
        return EXIT_FAILURE;
    }
    if (result == READ_FAILED) {
        fprintf(stderr, "netchan: reading stdin failed: %s\n", strerror(errno));
        return EXIT_FAILURE;
    }
    return result == READ_REFUSED ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Sends every line of stdin until end of input or a signal. Returns EXIT_SUCCESS or, after
 * printing the failure, EXIT_FAILURE. */
static int send_lines(const cli_config_t *config, netchan_chan_t *chan)
{
    line_reader_t reader = {.fd = STDIN_FILENO};
    int status = EXIT_SUCCESS;
    bool stopped_by_signal = false;
    uint64_t sent = 0;

    for (;;) {
        const char *line = NULL;
        size_t size = 0;
        read_result_t result = read_line(&reader, &line, &size);
        if (result != READ_LINE) {
            stopped_by_signal = result == READ_INTERRUPTED;
            status = report_read_stop(config, result, sent + 1);
            break;
        }

        netchan_err err = send_value(chan, line, size);
        if (err == NETCHAN_ETIMEDOUT) {
            stopped_by_signal = true; /* while the channel was full; the line is not sent */
            break;
        }
        if (err == NETCHAN_EAUTH) {
            status = EXIT_FAILURE;
            break;
        }
        if (err != NETCHAN_OK) {
            fprintf(stderr, "netchan: sending on '%s' at %s failed: %s\n", config->name,
                    config->endpoint, netchan_chan_error(chan));
            status = EXIT_FAILURE;
            break;
        }
        sent++;
    }

    if (stopped_by_signal) {
        fprintf(stderr, "netchan: interrupted; stopped reading stdin after %" PRIu64 " %s\n", sent,
                values_word(sent));
    }
    free(reader.data);
    return status;
}

/* Returns how long the next drain call may wait: POLL_MS, or less before deadline (-1 for
 * none). */
static int drain_slice(int64_t deadline)
{
    if (deadline < 0) {
        return POLL_MS;
    }
    int64_t left = deadline - now_ms();
    if (left <= 0) {
        return 0;
    }
    return left < POLL_MS ? (int)left : POLL_MS;
}

/* Prints why the sender is still running: a first signal or a long wait for acknowledgements.
 * A first signal does not end the wait, so the notice shows the user how to end it. */
static void report_drain_wait(const cli_config_t *config, uint64_t pending,
                              bool *interrupt_reported, int64_t *next_notice)
{
    if (interrupted() && !*interrupt_reported) {
        fprintf(stderr,
                "netchan: interrupted; waiting for %" PRIu64 " %s on '%s' at %s to be "
                "acknowledged; interrupt again to stop waiting\n",
                pending, values_word(pending), config->name, config->endpoint);
        *interrupt_reported = true;
        return;
    }
    if (now_ms() >= *next_notice) {
        fprintf(stderr, "netchan: waiting for %" PRIu64 " %s on '%s' at %s to be acknowledged\n",
                pending, values_word(pending), config->name, config->endpoint);
        *next_notice = now_ms() + WAITING_NOTICE_MS;
    }
}

/* Prints the outcome of a drain that did not end with every value acknowledged. */
static void report_drain_failure(const cli_config_t *config, netchan_chan_t *chan, netchan_err err,
                                 uint64_t pending)
{
    if (err == NETCHAN_EAUTH) {
        fprintf(stderr,
                "netchan: %" PRIu64 " %s on '%s' at %s still unacknowledged when the exporter "
                "refused the connection\n",
                pending, values_word(pending), config->name, config->endpoint);
    } else if (err != NETCHAN_ETIMEDOUT) {
        fprintf(stderr, "netchan: draining '%s' at %s failed: %s\n", config->name, config->endpoint,
                netchan_chan_error(chan));
    } else if (interrupted_twice()) {
        fprintf(stderr,
                "netchan: %" PRIu64 " %s on '%s' at %s still unacknowledged when "
                "interrupted\n",
                pending, values_word(pending), config->name, config->endpoint);
    } else {
        fprintf(stderr,
                "netchan: %" PRIu64 " %s on '%s' at %s still unacknowledged after the "
                "drain timeout of %g s\n",
                pending, values_word(pending), config->name, config->endpoint,
                config->drain_timeout_ms / 1000.0);
    }
}

/* Closes the channel and waits until every value sent is acknowledged, for at most
 * config->drain_timeout_ms, or until a second signal. */
static int finish_sending(const cli_config_t *config, netchan_chan_t *chan)
{
    netchan_close(chan);

    int64_t start = now_ms();
    int64_t deadline = config->drain_timeout_ms < 0 ? -1 : start + config->drain_timeout_ms;
    int64_t next_notice = start + DRAIN_NOTICE_MS;
    bool interrupt_reported = false;
    uint64_t pending = 0;
    netchan_err err;
    for (;;) {
        err = netchan_drain(chan, drain_slice(deadline), &pending);
        bool timed_out = deadline >= 0 && now_ms() >= deadline;
        if (err != NETCHAN_ETIMEDOUT || timed_out || interrupted_twice()) {
            break;
        }
        if (check_refusals()) {
            err = NETCHAN_EAUTH;
            break;
        }
        report_drain_wait(config, pending, &interrupt_reported, &next_notice);
    }

    if (err == NETCHAN_OK) {
        return EXIT_SUCCESS;
    }
    report_drain_failure(config, chan, err, pending);
    return EXIT_FAILURE;
}

static int run_sender(const cli_config_t *config, netchan_chan_t *chan)
{
    int status = send_lines(config, chan);
    int drained = finish_sending(config, chan);
    return status != EXIT_SUCCESS ? status : drained;
}

/* ---------------------------------------------------------------------------------------------
 * The receiving side
 */

/* Writes every byte of iov[0..count) to stdout, retrying after a signal until a second one.
 * Returns the number of bytes written; fewer than asked means the write failed (errno set). */
static size_t write_all(struct iovec *iov, int count)
{
    size_t written = 0;
    int index = 0;
    while (index < count) {
        ssize_t n = writev(STDOUT_FILENO, iov + index, count - index);
        if (n < 0) {
            if (errno == EINTR && !interrupted_twice()) {
                continue;
            }
            return written;
        }
        written += (size_t)n;
        size_t left = (size_t)n;
        while (index < count && left >= iov[index].iov_len) {
            left -= iov[index].iov_len;
            index++;
        }
        if (index < count) {
            iov[index].iov_base = (char *)iov[index].iov_base + left;
            iov[index].iov_len -= left;
        }
    }
    return written;
}

/* Writes each value and a newline to stdout and acknowledges every value written whole.
 * Returns false if stdout failed. stdout is written with writev(2) and never through stdio, so
 * nothing stays buffered in this process once a value counts as written. */
static bool print_values(netchan_msg_t **msgs, int count)
{
    static char newline = '\n';
    struct iovec iov[2 * WRITE_BATCH];
    size_t total = 0;
    for (int i = 0; i < count; i++) {
        iov[2 * i] = (struct iovec){(void *)netchan_msg_data(msgs[i]), netchan_msg_size(msgs[i])};
        iov[2 * i + 1] = (struct iovec){&newline, 1};
        total += netchan_msg_size(msgs[i]) + 1;
    }

    size_t written = write_all(iov, 2 * count);

    size_t covered = 0;
    for (int i = 0; i < count; i++) {
        covered += netchan_msg_size(msgs[i]) + 1;
        if (covered > written) {
            break;
        }
        (void)netchan_msg_ack(msgs[i]);
    }
    return written == total;
}

/* Takes one value, waiting up to POLL_MS, then up to max - 1 more that are already there. */
static netchan_err take_values(netchan_chan_t *chan, netchan_msg_t **msgs, int max, int *count_p)
{
    *count_p = 0;
    netchan_err err = netchan_recv_msg(chan, POLL_MS, &msgs[0]);
    if (err != NETCHAN_OK) {
        return err;
    }
    int count = 1;
    while (count < max && netchan_recv_msg(chan, NETCHAN_NOWAIT, &msgs[count]) == NETCHAN_OK) {
        count++;
    }
    *count_p = count;
    return NETCHAN_OK;
}

/* Prints values until the sender closes the channel, config->count values were printed, or a
 * signal arrives. */
static int receive_lines(const cli_config_t *config, netchan_chan_t *chan)
{
    uint64_t printed = 0;

    while (!interrupted() && (config->count == 0 || printed < config->count)) {
        netchan_msg_t *msgs[WRITE_BATCH];
        int max = WRITE_BATCH;
        if (config->count > 0 && config->count - printed < (uint64_t)max) {
            max = (int)(config->count - printed);
        }

        if (check_refusals()) {
            return EXIT_FAILURE;
        }
        int count = 0;
        netchan_err err = take_values(chan, msgs, max, &count);
        if (err == NETCHAN_ETIMEDOUT) {
            continue;
        }
        if (err == NETCHAN_ECLOSED) {
            return EXIT_SUCCESS;
        }
        if (err != NETCHAN_OK) {
            fprintf(stderr, "netchan: receiving on '%s' at %s failed: %s\n", config->name,
                    config->endpoint, netchan_chan_error(chan));
            return EXIT_FAILURE;
        }

        bool ok = print_values(msgs, count);
        int saved_errno = errno;
        for (int i = 0; i < count; i++) {
            netchan_msg_destroy(&msgs[i]);
        }
        if (!ok) {
            fprintf(stderr, "netchan: writing values of '%s' to stdout failed: %s\n", config->name,
                    strerror(saved_errno));
            return EXIT_FAILURE;
        }
        printed += (uint64_t)count;
    }
    return EXIT_SUCCESS;
}

/* Closes the channel, which hands values not yet printed back to the sender, and waits a
 * bounded time for the sender to confirm the acknowledgements. An unconfirmed acknowledgement
 * means only that the sender may deliver that value again elsewhere. Every value printed here
 * was printed whole, so it is a warning and not a failure of this process. */
static int finish_receiving(const cli_config_t *config, netchan_chan_t *chan)
{
    netchan_close(chan);

    uint64_t pending = 0;
    netchan_err err = NETCHAN_ETIMEDOUT;
    int64_t deadline = now_ms() + RECEIVER_DRAIN_MS;
    while (err == NETCHAN_ETIMEDOUT && now_ms() < deadline && !interrupted_twice()) {
        if (check_refusals()) {
            return EXIT_FAILURE; /* no acknowledgement can reach the sender any more */
        }
        err = netchan_drain(chan, POLL_MS, &pending);
    }
    if (err == NETCHAN_OK) {
        return EXIT_SUCCESS;
    }
    if (err == NETCHAN_ETIMEDOUT) {
        fprintf(stderr,
                "netchan: warning: the sender of '%s' at %s did not confirm %" PRIu64
                " acknowledgements within %d s; those values may be delivered again\n",
                config->name, config->endpoint, pending, RECEIVER_DRAIN_MS / 1000);
        return EXIT_SUCCESS;
    }
    fprintf(stderr, "netchan: closing '%s' at %s failed: %s\n", config->name, config->endpoint,
            netchan_chan_error(chan));
    return EXIT_FAILURE;
}

static int run_receiver(const cli_config_t *config, netchan_chan_t *chan)
{
    int status = receive_lines(config, chan);
    int finished = finish_receiving(config, chan);
    return status != EXIT_SUCCESS ? status : finished;
}

/* ---------------------------------------------------------------------------------------------
 * Main
 */

/* Prints the statistics that apply to the channel's side on stderr, as one line. */
static void print_stats(const cli_config_t *config, netchan_chan_t *chan)
{
    static const netchan_stat sending[] = {
        NETCHAN_STAT_SENT,        NETCHAN_STAT_DELIVERED,  NETCHAN_STAT_ACKNOWLEDGED,
        NETCHAN_STAT_REDELIVERED, NETCHAN_STAT_TAKEN_BACK, NETCHAN_STAT_RETURNED,
        NETCHAN_STAT_PENDING,     NETCHAN_STAT_REJECTED,   NETCHAN_STAT_DEAD_LETTERED,
        NETCHAN_STAT_IMPORTERS,   NETCHAN_STAT_IN_FLIGHT};
    static const netchan_stat receiving[] = {NETCHAN_STAT_RECEIVED,     NETCHAN_STAT_TAKEN,
                                             NETCHAN_STAT_ACKNOWLEDGED, NETCHAN_STAT_RETURNED,
                                             NETCHAN_STAT_REJECTED,     NETCHAN_STAT_DUPLICATES,
                                             NETCHAN_STAT_PENDING,      NETCHAN_STAT_IMPORTERS};
    bool sends = config->direction == NETCHAN_SEND;
    const netchan_stat *stats = sends ? sending : receiving;
    size_t count =
        sends ? sizeof(sending) / sizeof(sending[0]) : sizeof(receiving) / sizeof(receiving[0]);
    fprintf(stderr, "netchan: stats of '%s':", config->name);
    for (size_t i = 0; i < count; i++) {
        fprintf(stderr, " %s=%llu", netchan_stat_name(stats[i]),
                (unsigned long long)netchan_chan_stat(chan, stats[i]));
    }
    fputc('\n', stderr);
}

static int run_channel(const cli_config_t *config, netchan_chan_t *chan)
{
    int status =
        config->direction == NETCHAN_SEND ? run_sender(config, chan) : run_receiver(config, chan);
    if (config->stats) {
        print_stats(config, chan);
    }
    return status;
}

/* Writes the library's log lines to stderr, for -v. */
static void log_to_stderr(netchan_log_level level, const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "netchan: %s: %s\n", netchan_log_level_name(level), message);
}

static int run_export(cli_config_t *config)
{
    netchan_exporter_t *exporter = NULL;
    netchan_chan_t *chan = NULL;
    int status = open_export(config, &exporter, &chan);
    if (status == EXIT_SUCCESS) {
        status = run_channel(config, chan);
    }
    netchan_exporter_destroy(&exporter);
    return status;
}

/* Writes a key pair for "netchan keygen" and prints its public key. Existing files are kept,
 * because replacing a secret key locks out every peer that trusts the old one. */
static int run_keygen(const cli_config_t *config)
{
    char secret_path[PATH_MAX + 16];
    int length = snprintf(secret_path, sizeof(secret_path), "%s_secret", config->key_path);
    if (length < 0 || (size_t)length >= sizeof(secret_path)) {
        fprintf(stderr, "netchan: the key path '%s' is too long\n", config->key_path);
        return EXIT_FAILURE;
    }
    const char *paths[] = {config->key_path, secret_path};
    for (size_t i = 0; i < 2; i++) {
        struct stat status;
        if (lstat(paths[i], &status) == 0) {
            fprintf(stderr, "netchan: '%s' already exists; remove it or choose another PATH\n",
                    paths[i]);
            return EXIT_FAILURE;
        }
    }

    errno = 0;
    netchan_err err = netchan_keygen(config->key_path);
    if (err != NETCHAN_OK) {
        int saved_errno = errno;
        fprintf(stderr, "netchan: cannot write the key pair '%s' and '%s': %s\n", config->key_path,
                secret_path, saved_errno != 0 ? strerror(saved_errno) : netchan_strerror(err));
        return EXIT_FAILURE;
    }
    char public_key[41];
    err = netchan_cert_public_key(config->key_path, public_key, sizeof(public_key));
    if (err != NETCHAN_OK) {
        fprintf(stderr, "netchan: cannot read back the public certificate '%s': %s\n",
                config->key_path, netchan_strerror(err));
        return EXIT_FAILURE;
    }
    if (printf("%s\n", public_key) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "netchan: writing the public key to stdout failed: %s\n", strerror(errno));
        return EXIT_FAILURE;
    }
    fprintf(stderr, "netchan: wrote the public certificate '%s' and the secret certificate '%s'\n",
            config->key_path, secret_path);
    return EXIT_SUCCESS;
}

static int run_import(const cli_config_t *config)
{
    netchan_importer_t *importer = NULL;
    netchan_chan_t *chan = NULL;
    int status = open_import(config, &importer, &chan);
    if (status == EXIT_SUCCESS && chan != NULL) {
        status = run_channel(config, chan);
    }
    netchan_importer_destroy(&importer);
    return status;
}

int main(int argc, char **argv)
{
    cli_config_t config;
    int status = parse_arguments(argc, argv, &config);
    if (status != 0) {
        free(config.allowed_addresses);
        return status < 0 ? EXIT_SUCCESS : status;
    }
    if (config.keygen) {
        return run_keygen(&config);
    }

    if (config.verbosity > 0) {
        netchan_set_log_handler(log_to_stderr,
                                config.verbosity > 1 ? NETCHAN_LOG_DEBUG : NETCHAN_LOG_INFO, NULL);
    }
    if (install_signal_handlers() != 0) {
        fprintf(stderr, "netchan: cannot install signal handlers: %s\n", strerror(errno));
        free(config.allowed_addresses);
        return EXIT_FAILURE;
    }

    status = config.exporting ? run_export(&config) : run_import(&config);
    free(config.allowed_addresses);
    return status;
}
