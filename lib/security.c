/* CURVE security: key files, the socket options of each side, and the ZAP handler that admits
 * importers.
 *
 * libzmq asks a ZAP handler, bound at inproc://zeromq.zap.01 in the socket's context, whether to
 * admit each connection to a socket that has a ZAP domain. netchan runs one handler per process
 * (a czmq actor) and gives every exporter that has a policy its own domain, so that exporters in
 * one process can admit different keys and addresses, and so that refusals are counted, logged
 * with the peer's address and reported as events of the exporter they concern. The allowed keys
 * live in a czmq certificate store, which reads its directory again whenever it changed. */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nc.h"

#define ZAP_ENDPOINT   "inproc://zeromq.zap.01"
#define CURVE_KEY_SIZE 32
#define Z85_KEY_SIZE   40

/* One exporter's admission policy, registered with the ZAP handler under its domain. */
typedef struct zap_policy {
    char domain[64];
    nc_endpoint_t *ep;
    bool curve;          /* CURVE keys are checked; otherwise only addresses */
    zcertstore_t *certs; /* admitted keys; NULL admits any valid key */
    char **addresses;    /* admitted IP addresses; none means any */
    size_t address_count;
    netchan_chan_t **channels; /* channels with a data socket, each under domain "DOMAIN/INDEX" */
    size_t channel_count;
    struct zap_policy *next;
} zap_policy_t;

static pthread_mutex_t zap_mu = PTHREAD_MUTEX_INITIALIZER;
static zactor_t *zap_actor;
static zap_policy_t *zap_policies;

/* ---- the ZAP handler ---- */

static zap_policy_t *find_policy(const char *domain)
{
    for (zap_policy_t *policy = zap_policies; policy != NULL; policy = policy->next) {
        if (strcmp(policy->domain, domain) == 0) {
            return policy;
        }
    }
    return NULL;
}

/* Finds the policy of domain and, for a channel's data socket ("DOMAIN/INDEX"), the channel. */
static zap_policy_t *find_policy_of_socket(const char *domain, netchan_chan_t **chan_p)
{
    *chan_p = NULL;
    const char *slash = strchr(domain, '/');
    if (slash == NULL) {
        return find_policy(domain);
    }
    char prefix[64];
    nc_format(prefix, sizeof(prefix), "%.*s", (int)(slash - domain), domain);
    zap_policy_t *policy = find_policy(prefix);
    char *end = NULL;
    unsigned long index = strtoul(slash + 1, &end, 10);
    if (policy != NULL && end != NULL && *end == '\0' && index < policy->channel_count) {
        *chan_p = policy->channels[index];
    }
    return policy;
}

static bool address_allowed(const zap_policy_t *policy, const char *address)
{
    if (policy->address_count == 0) {
        return true;
    }
    for (size_t i = 0; i < policy->address_count; i++) {
        if (strcmp(policy->addresses[i], address) == 0) {
            return true;
        }
    }
    return false;
}

/* Decides one request; returns the ZAP status code and fills reason and user_id. The caller
 * holds zap_mu. */
static const char *decide(zap_policy_t *policy, netchan_chan_t *chan, const char *address,
                          const char *mechanism, zframe_t *credential, char *reason,
                          size_t reason_size, char *user_id)
{
    user_id[0] = '\0';
    if (policy == NULL) {
        return "200"; /* a domain netchan does not manage */
    }
    if (!address_allowed(policy, address)) {
        nc_format(reason, reason_size, "address %s is not allowed", address);
        return "400";
    }
    if (!policy->curve) {
        return "200";
    }
    if (strcmp(mechanism, "CURVE") != 0 || credential == NULL ||
        zframe_size(credential) != CURVE_KEY_SIZE) {
        nc_format(reason, reason_size, "mechanism %s where CURVE is required", mechanism);
        return "400";
    }
    zmq_z85_encode(user_id, zframe_data(credential), CURVE_KEY_SIZE);
    if (policy->certs != NULL && zcertstore_lookup(policy->certs, user_id) == NULL) {
        nc_format(reason, reason_size, "public key %s is not in the allowed certificates", user_id);
        user_id[0] = '\0';
        return "400";
    }
    if (chan != NULL && !nc_chan_admits_key(chan, user_id)) {
        nc_format(reason, reason_size, "public key %s may not use channel '%s'", user_id,
                  chan->name);
        user_id[0] = '\0';
        return "400";
    }
    return "200";
}

static void handle_zap_request(zsock_t *handler)
{
    zmsg_t *request = zmsg_recv(handler);
    if (request == NULL) {
        return;
    }
    char *version = zmsg_popstr(request);
    char *sequence = zmsg_popstr(request);
    char *domain = zmsg_popstr(request);
    char *address = zmsg_popstr(request);
    char *identity = zmsg_popstr(request);
    char *mechanism = zmsg_popstr(request);
    zframe_t *credential = zmsg_pop(request);

    char reason[160] = "";
    char user_id[Z85_KEY_SIZE + 1];
    const char *status = "500";
    if (version != NULL && strcmp(version, "1.0") == 0 && mechanism != NULL && domain != NULL &&
        address != NULL) {
        pthread_mutex_lock(&zap_mu);
        netchan_chan_t *chan = NULL;
        zap_policy_t *policy = find_policy_of_socket(domain, &chan);
        status =
            decide(policy, chan, address, mechanism, credential, reason, sizeof(reason), user_id);
        if (policy != NULL && strcmp(status, "200") != 0) {
            nc_endpoint_t *ep = policy->ep;
            atomic_fetch_add(&ep->stats[NETCHAN_ENDPOINT_REFUSED], 1);
            nc_events_push(&ep->events, NETCHAN_EVENT_REFUSED, NETCHAN_REASON_AUTH, "", address, "",
                           0);
            nc_log(NETCHAN_LOG_WARNING, "exporter: refused a connection from %s: %s", address,
                   reason);
        }
        pthread_mutex_unlock(&zap_mu);
    } else {
        user_id[0] = '\0';
        nc_format(reason, sizeof(reason), "malformed ZAP request");
    }

    zmsg_t *reply = zmsg_new();
    zmsg_addstr(reply, "1.0");
    zmsg_addstr(reply, sequence != NULL ? sequence : "");
    zmsg_addstr(reply, status);
    zmsg_addstr(reply, reason);
    zmsg_addstr(reply, user_id);
    zmsg_addmem(reply, "", 0);
    zmsg_send(&reply, handler);

    zframe_destroy(&credential);
    free(version);
    free(sequence);
    free(domain);
    free(address);
    free(identity);
    free(mechanism);
    zmsg_destroy(&request);
}

static void zap_actor_fn(zsock_t *pipe, void *args)
{
    (void)args;
    /* zactor_new() does not pass on the start status, so the actor reports its bind on the
     * pipe, and on failure waits for $TERM like a running actor. */
    zsock_t *handler = zsock_new(ZMQ_REP);
    bool bound = handler != NULL && zsock_bind(handler, ZAP_ENDPOINT) == 0;
    zsock_signal(pipe, 0);
    zstr_send(pipe, bound ? "ok" : "failed");
    if (!bound) {
        zsock_destroy(&handler);
        zmsg_t *term = zmsg_recv(pipe); /* $TERM from zactor_destroy() */
        zmsg_destroy(&term);
        return;
    }
    zpoller_t *poller = zpoller_new(pipe, handler, NULL);
    while (poller != NULL) {
        void *which = zpoller_wait(poller, -1);
        if (which == handler) {
            handle_zap_request(handler);
            continue;
        }
        if (which == pipe) {
            zmsg_t *msg = zmsg_recv(pipe);
            char *command = msg != NULL ? zmsg_popstr(msg) : NULL;
            bool stop = command == NULL || strcmp(command, "$TERM") == 0;
            free(command);
            zmsg_destroy(&msg);
            if (stop) {
                break;
            }
            continue;
        }
        break; /* interrupted or the context is ending */
    }
    zpoller_destroy(&poller);
    zsock_destroy(&handler);
}

/* ---- policies ---- */

static void policy_free(zap_policy_t *policy)
{
    free(policy->channels);
    zcertstore_destroy(&policy->certs);
    for (size_t i = 0; i < policy->address_count; i++) {
        free(policy->addresses[i]);
    }
    free(policy->addresses);
    free(policy);
}

/* Returns the endpoint's policy, registering it and starting the handler on first use. The
 * caller holds zap_mu. */
static zap_policy_t *policy_of(nc_endpoint_t *ep)
{
    if (ep->security.domain[0] != '\0') {
        zap_policy_t *policy = find_policy(ep->security.domain);
        if (policy != NULL) {
            return policy;
        }
    }
    if (zap_actor == NULL) {
        zap_actor = zactor_new(zap_actor_fn, NULL);
        char *status = zap_actor != NULL ? zstr_recv(zap_actor) : NULL;
        bool started = status != NULL && strcmp(status, "ok") == 0;
        free(status);
        if (!started) {
            zactor_destroy(&zap_actor); /* another ZAP handler, such as zauth, is bound */
            return NULL;
        }
    }
    zap_policy_t *policy = calloc(1, sizeof(*policy));
    if (policy == NULL) {
        return NULL;
    }
    nc_format(policy->domain, sizeof(policy->domain), "netchan-%p", (void *)ep);
    policy->ep = ep;
    policy->next = zap_policies;
    zap_policies = policy;
    nc_format(ep->security.domain, sizeof(ep->security.domain), "%s", policy->domain);
    return policy;
}

void nc_security_release(nc_endpoint_t *ep)
{
    if (ep->security.domain[0] == '\0') {
        return;
    }
    pthread_mutex_lock(&zap_mu);
    for (zap_policy_t **at = &zap_policies; *at != NULL; at = &(*at)->next) {
        if (*at == find_policy(ep->security.domain)) {
            zap_policy_t *policy = *at;
            *at = policy->next;
            policy_free(policy);
            break;
        }
    }
    if (zap_policies == NULL) {
        zactor_destroy(&zap_actor);
    }
    pthread_mutex_unlock(&zap_mu);
    ep->security.domain[0] = '\0';
}

/* ---- keys ---- */

/* Loads the certificate at path, or its secret twin; NULL when neither is a certificate. */
static zcert_t *load_cert(const char *path)
{
    zcert_t *cert = zcert_load(path);
    if (cert == NULL) {
        char secret[1024];
        nc_format(secret, sizeof(secret), "%s_secret", path);
        cert = zcert_load(secret);
    }
    return cert;
}

static bool has_secret(zcert_t *cert)
{
    const byte *secret = zcert_secret_key(cert);
    for (int i = 0; i < CURVE_KEY_SIZE; i++) {
        if (secret[i] != 0) {
            return true;
        }
    }
    return false;
}

netchan_err netchan_keygen(const char *path)
{
    if (path == NULL || path[0] == '\0') {
        return NETCHAN_EINVAL;
    }
    zcert_t *cert = zcert_new();
    if (cert == NULL) {
        return NETCHAN_ENOMEM;
    }
    char secret[1024];
    nc_format(secret, sizeof(secret), "%s_secret", path);
    /* The secret file is created readable by its owner only, before any key is written. */
    mode_t previous = umask(077);
    int rc = zcert_save(cert, path);
    umask(previous);
    if (rc == 0) {
        rc = chmod(secret, S_IRUSR | S_IWUSR);
    }
    if (rc == 0) {
        rc = chmod(path, S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH);
    }
    zcert_destroy(&cert);
    return rc == 0 ? NETCHAN_OK : NETCHAN_ESYSTEM;
}

netchan_err netchan_cert_public_key(const char *path, char *buffer, size_t size)
{
    if (path == NULL || buffer == NULL || size < Z85_KEY_SIZE + 1) {
        return NETCHAN_EINVAL;
    }
    zcert_t *cert = load_cert(path);
    if (cert == NULL) {
        return NETCHAN_EINVAL;
    }
    nc_format(buffer, size, "%s", zcert_public_txt(cert));
    zcert_destroy(&cert);
    return NETCHAN_OK;
}

/* Reads a public key given as z85 text or as the path of a certificate into key. */
static bool read_public_key(const char *text, uint8_t key[CURVE_KEY_SIZE])
{
    if (strlen(text) == Z85_KEY_SIZE && zmq_z85_decode(key, text) != NULL) {
        return true;
    }
    zcert_t *cert = load_cert(text);
    if (cert == NULL) {
        return false;
    }
    memcpy(key, zcert_public_key(cert), CURVE_KEY_SIZE);
    zcert_destroy(&cert);
    return true;
}

/* ---- configuration from the application ---- */

/* Loads the key pair of the secret certificate at path into the endpoint's settings, with the
 * exporter's public key when server_key is given (an importer). */
static netchan_err set_key_pair(nc_endpoint_t *ep, const char *path, const uint8_t *server_key)
{
    zcert_t *cert = load_cert(path);
    if (cert == NULL || !has_secret(cert)) {
        zcert_destroy(&cert);
        return nc_endpoint_error(ep, NETCHAN_EINVAL,
                                 "'%s' is not a secret certificate; make one with netchan keygen",
                                 path);
    }
    pthread_mutex_lock(&ep->cmd_mu);
    memcpy(ep->security.secret_key, zcert_secret_key(cert), CURVE_KEY_SIZE);
    memcpy(ep->security.public_key, zcert_public_key(cert), CURVE_KEY_SIZE);
    if (server_key != NULL) {
        memcpy(ep->security.server_key, server_key, CURVE_KEY_SIZE);
    }
    ep->security.curve = true;
    pthread_mutex_unlock(&ep->cmd_mu);
    zcert_destroy(&cert);
    return NETCHAN_OK;
}

netchan_err nc_security_set_server(nc_endpoint_t *ep, const char *secret_cert)
{
    if (secret_cert == NULL) {
        return nc_endpoint_error(ep, NETCHAN_EINVAL, "no certificate file given");
    }
    netchan_err err = set_key_pair(ep, secret_cert, NULL);
    if (err != NETCHAN_OK) {
        return err;
    }

    pthread_mutex_lock(&zap_mu);
    zap_policy_t *policy = policy_of(ep);
    if (policy != NULL) {
        policy->curve = true;
    }
    pthread_mutex_unlock(&zap_mu);
    return policy != NULL ? NETCHAN_OK
                          : nc_endpoint_error(ep, NETCHAN_ESYSTEM,
                                              "cannot start the ZAP handler at %s; is another "
                                              "one bound in this process?",
                                              ZAP_ENDPOINT);
}

netchan_err nc_security_allow_certs(nc_endpoint_t *ep, const char *directory)
{
    pthread_mutex_lock(&zap_mu);
    zap_policy_t *policy = policy_of(ep);
    netchan_err err = NETCHAN_OK;
    if (policy == NULL) {
        err = NETCHAN_ESYSTEM;
    } else {
        zcertstore_destroy(&policy->certs);
        if (directory != NULL) {
            policy->certs = zcertstore_new(directory);
            if (policy->certs == NULL) {
                err = NETCHAN_ENOMEM;
            }
        }
    }
    pthread_mutex_unlock(&zap_mu);
    if (err != NETCHAN_OK) {
        return nc_endpoint_error(ep, err, "cannot use certificate directory '%s'",
                                 directory != NULL ? directory : "");
    }
    return NETCHAN_OK;
}

netchan_err nc_security_allow_address(nc_endpoint_t *ep, const char *address)
{
    if (address == NULL || address[0] == '\0') {
        return nc_endpoint_error(ep, NETCHAN_EINVAL, "no address given");
    }
    pthread_mutex_lock(&zap_mu);
    zap_policy_t *policy = policy_of(ep);
    char **addresses =
        policy != NULL
            ? realloc(policy->addresses, (policy->address_count + 1) * sizeof(*policy->addresses))
            : NULL;
    char *copy = strdup(address);
    bool ok = addresses != NULL && copy != NULL;
    if (addresses != NULL) {
        policy->addresses = addresses;
    }
    if (ok) {
        policy->addresses[policy->address_count++] = copy;
    } else {
        free(copy);
    }
    pthread_mutex_unlock(&zap_mu);
    return ok ? NETCHAN_OK : nc_endpoint_error(ep, NETCHAN_ENOMEM, "out of memory");
}

netchan_err nc_security_set_client(nc_endpoint_t *ep, const char *secret_cert,
                                   const char *server_public)
{
    if (secret_cert == NULL || server_public == NULL) {
        return nc_endpoint_error(ep, NETCHAN_EINVAL, "certificate or server key missing");
    }
    uint8_t server_key[CURVE_KEY_SIZE];
    if (!read_public_key(server_public, server_key)) {
        return nc_endpoint_error(ep, NETCHAN_EINVAL,
                                 "'%s' is neither a z85 public key of 40 characters nor a "
                                 "certificate file",
                                 server_public);
    }
    return set_key_pair(ep, secret_cert, server_key);
}

/* ---- engine side ---- */

void nc_security_apply_channel(nc_endpoint_t *ep, netchan_chan_t *chan, void *socket, bool server)
{
    nc_security_apply(ep, socket, server);
    if (!server || ep->security.domain[0] == '\0') {
        return;
    }
    /* The data socket gets a domain of its own, so that the channel's key list applies to it
     * as it does to binds on the session socket. */
    pthread_mutex_lock(&zap_mu);
    zap_policy_t *policy = find_policy(ep->security.domain);
    netchan_chan_t **channels =
        policy != NULL ? realloc(policy->channels, (policy->channel_count + 1) * sizeof(*channels))
                       : NULL;
    char domain[96];
    if (channels != NULL) {
        policy->channels = channels;
        channels[policy->channel_count] = chan;
        nc_format(domain, sizeof(domain), "%s/%zu", policy->domain, policy->channel_count);
        policy->channel_count++;
    }
    pthread_mutex_unlock(&zap_mu);
    if (channels != NULL) {
        zmq_setsockopt(socket, ZMQ_ZAP_DOMAIN, domain, strlen(domain));
    }
}

void nc_security_apply(nc_endpoint_t *ep, void *socket, bool server)
{
    const nc_security_t *security = &ep->security;
    if (security->curve) {
        int one = 1;
        if (server) {
            zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, sizeof(one));
        } else {
            zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, security->server_key, CURVE_KEY_SIZE);
            zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, security->public_key, CURVE_KEY_SIZE);
        }
        zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, security->secret_key, CURVE_KEY_SIZE);
    }
    if (server && security->domain[0] != '\0') {
        zmq_setsockopt(socket, ZMQ_ZAP_DOMAIN, security->domain, strlen(security->domain));
    }
}
