/* The per-link protocol, the same on both roles: the sender's credit, batching, acknowledgement
 * and redelivery, and the receiver's duplicate detection, verdicts and their confirmation.
 *
 * NB: a value stays owned by its sending engine from netchan_send() until an Ack removes it from
 * a link's in-flight list. Every path that drops a link puts its in-flight values back into the
 * channel queue (nc_link_take_back), which is how no value is lost when a receiver is. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nc.h"

int nc_send_frame(const nc_transport_t *tx, const Netchan__Wire__Frame *frame)
{
    size_t size = netchan__wire__frame__get_packed_size(frame);
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, size) != 0) {
        return -1;
    }
    netchan__wire__frame__pack(frame, zmq_msg_data(&msg));
    int rc = tx->transmit(tx->ep, tx->session, &msg);
    if (rc != 0) {
        int saved = errno;
        zmq_msg_close(&msg);
        errno = saved;
    }
    return rc;
}

/* ---- sender role ---- */

static int compare_by_seq(const void *a, const void *b)
{
    const nc_value_t *x = *(nc_value_t *const *)a;
    const nc_value_t *y = *(nc_value_t *const *)b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Merges values (any order) into chan's queue so that the queue stays sorted by seq, which
 * puts values taken back from a lost receiver before every newer value. */
static void requeue_values(netchan_chan_t *chan, nc_value_t **values, size_t n)
{
    if (n == 0) {
        return;
    }
    qsort(values, n, sizeof(*values), compare_by_seq);

    pthread_mutex_lock(&chan->mu);
    nc_ring_t merged = {0};
    size_t i = 0;
    bool failed = false;
    while (!failed && (i < n || chan->queue.count > 0)) {
        nc_value_t *next;
        if (chan->queue.count == 0 ||
            (i < n && values[i]->seq < ((nc_value_t *)nc_ring_at(&chan->queue, 0))->seq)) {
            next = values[i++];
        } else {
            next = nc_ring_pop_front(&chan->queue);
        }
        failed = nc_ring_push_back(&merged, next) != 0;
        if (failed) {
            /* Out of memory while merging: push the value back where it came from, so nothing
             * is lost; the queue then keeps it out of order, and it is still delivered. */
            (void)nc_ring_push_front(&chan->queue, next);
        }
    }
    if (failed) {
        while (i < n) {
            (void)nc_ring_push_front(&chan->queue, values[i++]);
        }
        while (merged.count > 0) {
            (void)nc_ring_push_front(&chan->queue, nc_ring_at(&merged, merged.count - 1));
            merged.count--;
        }
        nc_ring_free(&merged);
    } else {
        nc_ring_free(&chan->queue);
        chan->queue = merged;
    }
    nc_chan_broadcast(chan);
    pthread_mutex_unlock(&chan->mu);
}

void nc_link_take_back(nc_link_t *link, bool count_attempt)
{
    size_t n = link->inflight.count;
    if (n == 0) {
        link->resend_index = 0;
        return;
    }
    nc_value_t **values = malloc(n * sizeof(*values));
    if (values == NULL) {
        /* Keep them in flight; a later take-back or acknowledgement settles them. */
        return;
    }
    for (size_t i = 0; i < n; i++) {
        nc_value_t *value = nc_ring_pop_front(&link->inflight);
        if (!count_attempt && value->attempts > 0) {
            value->attempts--;
        }
        values[i] = value;
    }
    link->resend_index = 0;
    if (count_attempt) {
        nc_stat_add(link->chan, NETCHAN_STAT_TAKEN_BACK, n);
    }
    requeue_values(link->chan, values, n);
    free(values);
}

static void seqset_from_ranges(nc_seqset_t *set, Netchan__Wire__SeqRange **ranges, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        (void)nc_seqset_add_range(set, ranges[i]->first, ranges[i]->last);
    }
}

/* Removes values that an Ack names but that are no longer in flight on this link: they were
 * taken back when the link's session was lost and wait in the queue, still marked as last sent
 * here. Only those are removed, so a peer cannot acknowledge values it never received. */
static uint64_t settle_from_queue(nc_link_t *link, const nc_seqset_t *acked)
{
    netchan_chan_t *chan = link->chan;
    uint64_t settled = 0;
    nc_ring_t kept = {0};

    pthread_mutex_lock(&chan->mu);
    size_t n = chan->queue.count;
    for (size_t i = 0; i < n; i++) {
        nc_value_t *value = nc_ring_pop_front(&chan->queue);
        if (value->link_key == link->key && nc_seqset_contains(acked, value->seq)) {
            free(value);
            settled++;
        } else if (nc_ring_push_back(&kept, value) != 0) {
            (void)nc_ring_push_back(&chan->queue, value); /* keeps order: rest follow it */
        }
    }
    if (chan->queue.count == 0) {
        nc_ring_free(&chan->queue);
        chan->queue = kept;
    } else {
        while (kept.count > 0) {
            (void)nc_ring_push_front(&chan->queue, nc_ring_at(&kept, kept.count - 1));
            kept.count--;
        }
        nc_ring_free(&kept);
    }
    pthread_mutex_unlock(&chan->mu);
    return settled;
}

void nc_link_on_ack(nc_link_t *link, const Netchan__Wire__Ack *ack)
{
    netchan_chan_t *chan = link->chan;
    nc_seqset_t acked = {0};
    nc_seqset_t returned = {0};
    nc_seqset_t rejected = {0};
    nc_seqset_t released = {0};
    seqset_from_ranges(&acked, ack->acked, ack->n_acked);
    seqset_from_ranges(&returned, ack->returned, ack->n_returned);
    seqset_from_ranges(&rejected, ack->rejected, ack->n_rejected);
    seqset_from_ranges(&released, ack->released, ack->n_released);

    uint64_t wanted = nc_seqset_size(&acked) + nc_seqset_size(&returned) +
                      nc_seqset_size(&rejected) + nc_seqset_size(&released);
    uint64_t n_acked = 0;
    uint64_t n_rejected = 0;
    uint64_t first_rejected = 0;
    size_t n_back = 0;
    size_t n_released = 0;
    nc_value_t **back = NULL;
    if (ack->n_returned > 0 || ack->n_released > 0) {
        back = malloc(link->inflight.count * sizeof(*back) + 1);
    }

    /* Walk the in-flight list once, keeping what the Ack does not name. Acks mostly name a
     * prefix, so the walk stops as soon as every named value has been found. */
    size_t count = link->inflight.count;
    size_t kept = 0;
    size_t i = 0;
    for (; i < count && n_acked + n_rejected + n_back < wanted; i++) {
        nc_value_t *value = nc_ring_at(&link->inflight, i);
        if (nc_seqset_contains(&acked, value->seq)) {
            nc_seqset_remove(&acked, value->seq);
            free(value);
            n_acked++;
        } else if (nc_seqset_contains(&rejected, value->seq)) {
            if (first_rejected == 0) {
                first_rejected = value->seq;
            }
            free(value);
            n_rejected++;
        } else if (back != NULL && nc_seqset_contains(&returned, value->seq)) {
            if (value->attempts > 0) {
                value->attempts--; /* handed back unseen: that delivery did not count */
            }
            back[n_back++] = value;
        } else if (back != NULL && nc_seqset_contains(&released, value->seq)) {
            back[n_back++] = value;
            n_released++;
        } else {
            nc_ring_set(&link->inflight, kept++, value);
        }
    }
    size_t removed = i - kept;
    for (; i < count; i++) {
        nc_ring_set(&link->inflight, kept++, nc_ring_at(&link->inflight, i));
    }
    link->inflight.count = kept;
    link->resend_index = link->resend_index > removed ? link->resend_index - removed : 0;
    if (link->resend_index > kept) {
        link->resend_index = kept;
    }

    if (acked.count > 0) {
        n_acked += settle_from_queue(link, &acked);
    }

    if (n_back > 0) {
        requeue_values(chan, back, n_back);
        nc_stat_add(chan, NETCHAN_STAT_RETURNED, n_back);
    }
    free(back);
    nc_stat_add(chan, NETCHAN_STAT_ACKNOWLEDGED, n_acked);
    nc_stat_add(chan, NETCHAN_STAT_REJECTED, n_rejected);

    if (n_acked + n_rejected > 0) {
        pthread_mutex_lock(&chan->mu);
        chan->pending -= n_acked + n_rejected;
        chan->rejected += n_rejected;
        if (n_rejected > 0) {
            nc_format(chan->errmsg, sizeof(chan->errmsg),
                      "channel '%s': the receiver rejected %llu value(s) starting at seq %llu: %s",
                      chan->name, (unsigned long long)n_rejected,
                      (unsigned long long)first_rejected,
                      ack->reject_reason[0] ? ack->reject_reason : "no reason given");
        }
        nc_chan_broadcast(chan);
        pthread_mutex_unlock(&chan->mu);
    }

    if (ack->credit > link->credit) {
        link->credit = ack->credit;
    }
    if (ack->ack_no > link->last_ack_no) {
        link->last_ack_no = ack->ack_no;
    }
    link->confirm_due = true;
    nc_seqset_free(&acked);
    nc_seqset_free(&returned);
    nc_seqset_free(&rejected);
    nc_seqset_free(&released);
    (void)n_released;
}

/* Sends values[0..n) in one Data frame, encoded straight into the ZeroMQ message. */
static int send_data(const nc_transport_t *tx, nc_link_t *link, nc_value_t **values, size_t n)
{
    size_t size = nc_data_encoded_size(link->id, link->epoch, values, n);
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, size) != 0) {
        return -1;
    }
    nc_data_encode(zmq_msg_data(&msg), link->id, link->epoch, values, n);
    int rc = tx->transmit(tx->ep, tx->session, &msg);
    if (rc != 0) {
        int saved = errno;
        zmq_msg_close(&msg);
        errno = saved;
    }
    return rc;
}

/* Sends in-flight values from resend_index on, after a reconnect, as far as credit allows. */
static int resend_inflight(const nc_transport_t *tx, nc_link_t *link, int64_t now)
{
    while (link->resend_index < link->inflight.count && link->sent < link->credit) {
        nc_value_t *batch[NC_BATCH_VALUES];
        size_t n = 0;
        size_t bytes = 0;
        uint64_t room = link->credit - link->sent;
        while (link->resend_index + n < link->inflight.count && n < NC_BATCH_VALUES && n < room &&
               bytes < NC_BATCH_BYTES) {
            batch[n] = nc_ring_at(&link->inflight, link->resend_index + n);
            bytes += batch[n]->size;
            n++;
        }
        if (send_data(tx, link, batch, n) != 0) {
            if (errno == EAGAIN) {
                link->retry_at = now + 2;
                return 0;
            }
            return -1;
        }
        link->resend_index += n;
        link->sent += n;
    }
    return 0;
}

/* Takes up to room values from the queue that fit one batch. Values larger than the receiver
 * accepts are rejected here, so the application learns of them from the channel. */
static size_t take_batch(netchan_chan_t *chan, nc_link_t *link, nc_value_t **batch, size_t room)
{
    nc_value_t *dead[NC_BATCH_VALUES];
    size_t n_dead = 0;
    size_t n = 0;
    size_t bytes = 0;
    uint64_t too_big = 0;
    uint64_t too_big_seq = 0;
    uint32_t too_big_size = 0;

    pthread_mutex_lock(&chan->mu);
    while (n < room && n < NC_BATCH_VALUES && bytes < NC_BATCH_BYTES && chan->queue.count > 0) {
        nc_value_t *value = nc_ring_pop_front(&chan->queue);
        if (chan->options.max_attempts > 0 && value->attempts >= chan->options.max_attempts) {
            if (n_dead == NC_BATCH_VALUES) {
                (void)nc_ring_push_front(&chan->queue, value);
                break;
            }
            dead[n_dead++] = value;
            continue;
        }
        if (link->peer_max_value_size != 0 && value->size > link->peer_max_value_size) {
            too_big++;
            too_big_seq = value->seq;
            too_big_size = value->size;
            free(value);
            continue;
        }
        batch[n++] = value;
        bytes += value->size;
    }
    if (too_big > 0) {
        chan->pending -= too_big;
        chan->rejected += too_big;
        nc_format(chan->errmsg, sizeof(chan->errmsg),
                  "channel '%s': value seq %llu of %u bytes exceeds the receiver's maximum value "
                  "size of %u bytes and was rejected",
                  chan->name, (unsigned long long)too_big_seq, too_big_size,
                  link->peer_max_value_size);
        nc_chan_broadcast(chan);
    }
    pthread_mutex_unlock(&chan->mu);
    if (too_big > 0) {
        nc_stat_add(chan, NETCHAN_STAT_REJECTED, too_big);
        nc_log(NETCHAN_LOG_WARNING,
               "channel '%s': value seq %llu of %u bytes exceeds the receiver's maximum of %u "
               "bytes; rejected",
               chan->name, (unsigned long long)too_big_seq, too_big_size,
               link->peer_max_value_size);
    }
    for (size_t i = 0; i < n_dead; i++) {
        nc_chan_dead_letter(chan, dead[i]);
    }
    return n;
}

int nc_link_pump(const nc_transport_t *tx, nc_link_t *link, int64_t now)
{
    if (!link->sending || !link->bound || link->unbound || link->retry_at > now) {
        return 0;
    }
    if (resend_inflight(tx, link, now) != 0) {
        return -1;
    }
    if (link->resend_index < link->inflight.count || link->end_sent) {
        return 0;
    }

    netchan_chan_t *chan = link->chan;
    int sent = 0;
    while (link->sent < link->credit) {
        nc_value_t *batch[NC_BATCH_VALUES];
        uint64_t room = link->credit - link->sent;
        size_t n =
            take_batch(chan, link, batch, room < NC_BATCH_VALUES ? (size_t)room : NC_BATCH_VALUES);
        if (n == 0) {
            break;
        }
        uint64_t again = 0;
        for (size_t i = 0; i < n; i++) {
            batch[i]->attempts++;
            batch[i]->link_key = link->key;
            again += batch[i]->attempts > 1;
        }
        if (send_data(tx, link, batch, n) != 0) {
            int saved = errno;
            for (size_t i = 0; i < n; i++) {
                batch[i]->attempts--;
            }
            requeue_values(chan, batch, n);
            if (saved == EAGAIN) {
                link->retry_at = now + 2;
                return sent;
            }
            errno = saved;
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (nc_ring_push_back(&link->inflight, batch[i]) != 0) {
                /* Out of memory: they were sent, so they count as delivered once more. */
                requeue_values(chan, &batch[i], n - i);
                break;
            }
        }
        for (size_t i = 0; i < n; i++) {
            batch[i]->sent = true; /* from now on it goes out marked as redelivered */
        }
        link->resend_index = link->inflight.count;
        link->sent += n;
        sent += (int)n;
        nc_stat_add(chan, NETCHAN_STAT_DELIVERED, n);
        nc_stat_add(chan, NETCHAN_STAT_REDELIVERED, again);
    }
    return sent;
}

int nc_link_send_confirm(const nc_transport_t *tx, nc_link_t *link)
{
    if (!link->confirm_due) {
        return 0;
    }
    Netchan__Wire__AckConfirm confirm = NETCHAN__WIRE__ACK_CONFIRM__INIT;
    confirm.link = link->id;
    confirm.ack_no = link->last_ack_no;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_ACK_CONFIRM;
    frame.ack_confirm = &confirm;
    if (nc_send_frame(tx, &frame) != 0) {
        return errno == EAGAIN ? 0 : -1;
    }
    link->confirm_due = false;
    return 0;
}

bool nc_link_end_due(nc_link_t *link)
{
    netchan_chan_t *chan = link->chan;
    if (!link->sending || !link->bound || link->unbound || link->end_sent ||
        link->resend_index < link->inflight.count) {
        return false;
    }
    pthread_mutex_lock(&chan->mu);
    bool due = chan->closed && chan->queue.count == 0;
    pthread_mutex_unlock(&chan->mu);
    if (!due) {
        return false;
    }
    /* Another receiver's in-flight values may still come back for redelivery; end of stream
     * waits until none can, so no receiver stops while values remain for it. */
    for (size_t i = 0; i < chan->link_count; i++) {
        nc_link_t *other = chan->links[i];
        if (other != link && other->sending && other->inflight.count > 0) {
            return false;
        }
    }
    return true;
}

int nc_link_send_end(const nc_transport_t *tx, nc_link_t *link)
{
    Netchan__Wire__End end = NETCHAN__WIRE__END__INIT;
    end.link = link->id;
    Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
    frame.body_case = NETCHAN__WIRE__FRAME__BODY_END;
    frame.end = &end;
    if (nc_send_frame(tx, &frame) != 0) {
        return errno == EAGAIN ? 0 : -1;
    }
    link->end_sent = true;
    return 0;
}

/* ---- receiver role ---- */

void nc_chan_add_verdict_locked(netchan_chan_t *chan, uint64_t link_key, uint64_t seq,
                                nc_verdict_kind_t kind)
{
    nc_verdicts_t *list = &chan->verdicts;
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        nc_verdict_t *items = realloc(list->items, cap * sizeof(*items));
        if (items == NULL) {
            /* The verdict is lost; the value stays pending at its sender and is redelivered
             * when this session ends, so nothing is lost, at worst delivered twice. */
            return;
        }
        list->items = items;
        list->cap = cap;
    }
    list->items[list->count++] = (nc_verdict_t){link_key, seq, kind, false};
    chan->unconfirmed++;
}

/* Queues a verdict sent again for a duplicate of a value whose first verdict went unconfirmed. */
static void add_repeat_verdict_locked(netchan_chan_t *chan, uint64_t link_key, uint64_t seq,
                                      nc_verdict_kind_t kind)
{
    size_t before = chan->verdicts.count;
    nc_chan_add_verdict_locked(chan, link_key, seq, kind);
    if (chan->verdicts.count > before) {
        chan->verdicts.items[before].repeat = true;
    }
}

/* Inserts value into the inbox, before values of the same link with a higher seq, so that a
 * value redelivered late still comes out in send order when the application has not yet
 * taken the newer ones. */
static int inbox_insert(netchan_chan_t *chan, nc_value_t *value)
{
    nc_ring_t *inbox = &chan->inbox;
    if (nc_ring_push_back(inbox, value) != 0) {
        return -1;
    }
    size_t i = inbox->count - 1;
    while (i > 0) {
        nc_value_t *before = nc_ring_at(inbox, i - 1);
        if (before->link_key != value->link_key || before->seq < value->seq) {
            break;
        }
        nc_ring_set(inbox, i, before);
        i--;
    }
    nc_ring_set(inbox, i, value);
    return 0;
}

/* Returns the verdict recorded for seq in an unconfirmed Ack, or 0. */
static nc_verdict_kind_t recorded_verdict(const nc_link_t *link, uint64_t seq)
{
    for (const nc_ack_record_t *record = link->records; record != NULL; record = record->next) {
        if (nc_seqset_contains(&record->acked, seq)) {
            return NC_VERDICT_ACK;
        }
        if (nc_seqset_contains(&record->rejected, seq)) {
            return NC_VERDICT_REJECT;
        }
    }
    return 0;
}

void nc_link_on_data(const nc_transport_t *tx, nc_link_t *link, const nc_data_t *data)
{
    netchan_chan_t *chan = link->chan;
    uint64_t received = 0;
    uint64_t duplicates = 0;
    uint64_t overrun = 0;

    /* Values sent before the sender saw the current Bind were counted against the credit of an
     * earlier epoch; they are still taken, but count against nothing now. */
    bool current = data->epoch == link->epoch || data->epoch == 0; /* 0: the sender does not say */
    pthread_mutex_lock(&chan->mu);
    bool refusing = link->unbound || chan->closed;
    for (size_t i = 0; i < data->count; i++) {
        const nc_wire_value_t *wire = &data->values[i];
        if (current && link->arrived >= link->granted) {
            /* More than the credit allows: only a broken or hostile sender does this. The value
             * is not recorded, so a correct resend is still accepted. */
            overrun++;
            continue;
        }
        link->arrived += current;
        if (nc_seqset_contains(&link->seen, wire->seq)) {
            /* Resent after a reconnect and already here. If its verdict is recorded but not
             * confirmed, the sender may have missed it, so the verdict goes out again. */
            nc_verdict_kind_t kind = recorded_verdict(link, wire->seq);
            if (kind != 0) {
                add_repeat_verdict_locked(chan, link->key, wire->seq, kind);
            }
            duplicates++;
            continue;
        }
        link->outstanding++; /* every value from here on gets exactly one verdict */
        if (refusing) {
            /* Arrived after the receiver closed: counted as received and handed back. */
            nc_chan_add_verdict_locked(chan, link->key, wire->seq, NC_VERDICT_RETURN);
            received++;
            continue;
        }
        if (nc_seqset_add(&link->seen, wire->seq) != 0) {
            continue; /* not recorded, so not accepted; the sender resends it later */
        }
        if (wire->size > chan->options.max_value_size) {
            nc_chan_add_verdict_locked(chan, link->key, wire->seq, NC_VERDICT_REJECT);
            continue;
        }
        nc_value_t *value = nc_value_new(wire->payload, wire->size);
        if (value != NULL) {
            value->seq = wire->seq;
            value->attempts = wire->attempts;
            value->redelivered = wire->redelivered;
            value->link_key = link->key;
        }
        if (value == NULL || inbox_insert(chan, value) != 0) {
            /* Out of memory: hand it back so that it is delivered later or elsewhere. */
            free(value);
            nc_seqset_remove(&link->seen, wire->seq);
            nc_chan_add_verdict_locked(chan, link->key, wire->seq, NC_VERDICT_RETURN);
            continue;
        }
        received++;
    }
    nc_chan_broadcast(chan);
    pthread_mutex_unlock(&chan->mu);
    nc_stat_add(chan, NETCHAN_STAT_RECEIVED, received);
    nc_stat_add(chan, NETCHAN_STAT_DUPLICATES, duplicates);
    if (overrun > 0) {
        nc_log(NETCHAN_LOG_WARNING,
               "channel '%s': ignored %llu value(s) beyond the credit of %llu on link %u",
               chan->name, (unsigned long long)overrun, (unsigned long long)link->granted,
               link->id);
        if (tx != NULL) {
            Netchan__Wire__Error error = NETCHAN__WIRE__ERROR__INIT;
            error.code = NETCHAN__WIRE__ERROR_CODE__ERROR_PROTOCOL;
            error.message = "values sent beyond the receiver's credit were ignored";
            error.link = link->id;
            Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
            frame.body_case = NETCHAN__WIRE__FRAME__BODY_ERROR;
            frame.error = &error;
            (void)nc_send_frame(tx, &frame);
        }
    }
}

static void add_all(nc_seqset_t *to, const nc_seqset_t *from)
{
    for (size_t i = 0; i < from->count; i++) {
        (void)nc_seqset_add_range(to, from->ranges[i].first, from->ranges[i].last);
    }
}

static void remove_all(nc_seqset_t *from, const nc_seqset_t *what)
{
    for (size_t i = 0; i < what->count; i++) {
        nc_seqset_remove_range(from, what->ranges[i].first, what->ranges[i].last);
    }
}

static void free_record(nc_ack_record_t *record)
{
    nc_seqset_free(&record->acked);
    nc_seqset_free(&record->rejected);
    free(record);
}

void nc_link_on_confirm(nc_link_t *link, uint64_t ack_no)
{
    uint64_t confirmed = 0;
    while (link->records != NULL && link->records->ack_no <= ack_no) {
        nc_ack_record_t *record = link->records;
        remove_all(&link->seen, &record->acked);
        remove_all(&link->seen, &record->rejected);
        confirmed += record->count;
        link->records = record->next;
        if (link->records == NULL) {
            link->records_tail = NULL;
        }
        free_record(record);
    }
    if (confirmed > 0) {
        netchan_chan_t *chan = link->chan;
        link->unconfirmed -= confirmed;
        pthread_mutex_lock(&chan->mu);
        chan->unconfirmed -= confirmed;
        nc_chan_broadcast(chan);
        pthread_mutex_unlock(&chan->mu);
    }
}

void nc_chan_update_eof(netchan_chan_t *chan)
{
    /* The stream ends once some sender ended it and every sender still bound has ended too;
     * a sender that ended and then left (its importer went away) still counts. */
    bool eof = chan->ended_links > 0;
    for (size_t i = 0; i < chan->link_count; i++) {
        if (!chan->links[i]->end_received) {
            eof = false;
        }
    }
    if (chan->options.unacknowledged) {
        if (eof) {
            nc_unacked_on_end(chan, nc_now_ms()); /* eof once the data socket is quiet */
        }
        return;
    }
    pthread_mutex_lock(&chan->mu);
    if (eof != chan->eof) {
        chan->eof = eof;
        nc_chan_broadcast(chan);
    }
    pthread_mutex_unlock(&chan->mu);
}

void nc_link_on_end(nc_link_t *link)
{
    if (!link->end_received) {
        link->end_received = true;
        link->chan->ended_links++;
    }
    nc_chan_update_eof(link->chan);
}

static Netchan__Wire__SeqRange **wire_ranges(const nc_seqset_t *set,
                                             Netchan__Wire__SeqRange *storage)
{
    Netchan__Wire__SeqRange **pointers = malloc((set->count + 1) * sizeof(*pointers));
    if (pointers == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < set->count; i++) {
        netchan__wire__seq_range__init(&storage[i]);
        storage[i].first = set->ranges[i].first;
        storage[i].last = set->ranges[i].last;
        pointers[i] = &storage[i];
    }
    return pointers;
}

/* Returns the number of values a receiving link keeps or may still receive. */
static uint64_t committed(const nc_link_t *link)
{
    return link->outstanding + (link->granted - link->arrived);
}

static bool can_receive(const nc_link_t *link)
{
    return !link->sending && link->bound && !link->unbound && !link->end_received;
}

/* Computes how much to grant link now, as a share of the channel's free capacity. */
static uint64_t grant_for(const netchan_chan_t *chan, const nc_link_t *link)
{
    uint64_t capacity = chan->options.capacity;
    uint64_t used = 0;
    uint64_t receivers = 0;
    for (size_t i = 0; i < chan->link_count; i++) {
        const nc_link_t *other = chan->links[i];
        if (other->sending) {
            continue;
        }
        used += committed(other);
        receivers += can_receive(other) || other == link;
    }
    uint64_t share = capacity / (receivers > 0 ? receivers : 1);
    if (share == 0) {
        share = 1;
    }
    uint64_t have = committed(link);
    if (have >= share) {
        return 0;
    }
    uint64_t free = capacity > used ? capacity - used : 0;
    uint64_t give = share - have < free ? share - have : free;
    if (give == 0 && have == 0) {
        give = 1; /* never leave a sender without any credit */
    }
    return give;
}

/* Verdicts collected for one link during a flush. */
typedef struct link_verdicts {
    nc_link_t *link;
    nc_seqset_t acked;
    nc_seqset_t returned;
    nc_seqset_t rejected;
    nc_seqset_t released;
} link_verdicts_t;

/* Sends one Ack with the given sets; returns 0 or -1 with errno. */
static int send_ack(const nc_transport_t *tx, nc_link_t *link, uint64_t ack_no,
                    const link_verdicts_t *lv, const char *reason, uint64_t credit)
{
    const nc_seqset_t *acked = &lv->acked;
    const nc_seqset_t *returned = &lv->returned;
    const nc_seqset_t *rejected = &lv->rejected;
    const nc_seqset_t *released = &lv->released;
    Netchan__Wire__SeqRange *storage =
        malloc((acked->count + returned->count + rejected->count + released->count + 1) *
               sizeof(*storage));
    if (storage == NULL) {
        errno = ENOMEM;
        return -1;
    }
    Netchan__Wire__Ack ack = NETCHAN__WIRE__ACK__INIT;
    ack.link = link->id;
    ack.ack_no = ack_no;
    ack.credit = credit;
    ack.acked = wire_ranges(acked, storage);
    ack.n_acked = acked->count;
    ack.returned = wire_ranges(returned, storage + acked->count);
    ack.n_returned = returned->count;
    ack.rejected = wire_ranges(rejected, storage + acked->count + returned->count);
    ack.n_rejected = rejected->count;
    ack.released =
        wire_ranges(released, storage + acked->count + returned->count + rejected->count);
    ack.n_released = released->count;
    if (rejected->count > 0) {
        ack.reject_code = NETCHAN__WIRE__ERROR_CODE__ERROR_REJECTED;
        ack.reject_reason = (char *)reason;
    }
    int rc = -1;
    if (ack.acked != NULL && ack.returned != NULL && ack.rejected != NULL && ack.released != NULL) {
        Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
        frame.body_case = NETCHAN__WIRE__FRAME__BODY_ACK;
        frame.ack = &ack;
        rc = nc_send_frame(tx, &frame);
    } else {
        errno = ENOMEM;
    }
    int saved = errno;
    free(ack.acked);
    free(ack.returned);
    free(ack.rejected);
    free(ack.released);
    free(storage);
    errno = saved;
    return rc;
}

static void free_group(link_verdicts_t *group)
{
    nc_seqset_free(&group->acked);
    nc_seqset_free(&group->returned);
    nc_seqset_free(&group->rejected);
    nc_seqset_free(&group->released);
}

static void record_and_send(nc_endpoint_t *ep, link_verdicts_t *lv,
                            int (*tx_for)(nc_endpoint_t *, nc_link_t *, nc_transport_t *))
{
    nc_link_t *link = lv->link;
    uint64_t ack_no = ++link->next_ack_no;
    nc_ack_record_t *record = calloc(1, sizeof(*record));
    uint64_t n_acked = nc_seqset_size(&lv->acked);
    uint64_t n_rejected = nc_seqset_size(&lv->rejected);
    uint64_t n_back = nc_seqset_size(&lv->returned) + nc_seqset_size(&lv->released);
    uint64_t count = n_acked + n_rejected + n_back;
    nc_stat_add(link->chan, NETCHAN_STAT_ACKNOWLEDGED, n_acked);
    nc_stat_add(link->chan, NETCHAN_STAT_REJECTED, n_rejected);
    nc_stat_add(link->chan, NETCHAN_STAT_RETURNED, n_back);

    if (record != NULL) {
        record->ack_no = ack_no;
        add_all(&record->acked, &lv->acked);
        add_all(&record->rejected, &lv->rejected);
        /* Returned values are counted until confirmed but not kept in the record: they leave
         * the duplicate set at once, because the sender may send them here again right after
         * it applies this Ack and before its confirmation arrives. */
        record->count = count;
        if (link->records_tail != NULL) {
            link->records_tail->next = record;
        } else {
            link->records = record;
        }
        link->records_tail = record;
        link->unconfirmed += count;
    } else {
        /* Cannot record: count these verdicts as confirmed now. The values stay pending at
         * the sender if the Ack is lost, and are redelivered. */
        pthread_mutex_lock(&link->chan->mu);
        link->chan->unconfirmed -= count;
        pthread_mutex_unlock(&link->chan->mu);
    }

    remove_all(&link->seen, &lv->returned);
    remove_all(&link->seen, &lv->released);

    nc_transport_t tx;
    if (tx_for(ep, link, &tx) == 0) {
        char reason[160];
        nc_format(reason, sizeof(reason), "value too large or invalid for channel '%s' (%s)",
                  link->chan->name, link->chan->type_name);
        /* Credit freed by these verdicts rides on the Ack. */
        uint64_t give = link->bound && !link->unbound ? grant_for(link->chan, link) : 0;
        if (send_ack(&tx, link, ack_no, lv, reason, give > 0 ? link->granted + give : 0) == 0) {
            link->granted += give;
        }
    }
}

int nc_chan_flush_verdicts(nc_endpoint_t *ep, netchan_chan_t *chan,
                           int (*tx_for)(nc_endpoint_t *, nc_link_t *, nc_transport_t *))
{
    pthread_mutex_lock(&chan->mu);
    nc_verdicts_t list = chan->verdicts;
    memset(&chan->verdicts, 0, sizeof(chan->verdicts));
    pthread_mutex_unlock(&chan->mu);
    if (list.count == 0) {
        free(list.items);
        nc_chan_grant(ep, chan, tx_for); /* a link may have joined or run low meanwhile */
        return 0;
    }

    link_verdicts_t groups[8];
    size_t n_groups = 0;
    uint64_t dropped = 0;
    for (size_t i = 0; i < list.count; i++) {
        const nc_verdict_t *verdict = &list.items[i];
        link_verdicts_t *group = NULL;
        for (size_t g = 0; g < n_groups; g++) {
            if (groups[g].link->key == verdict->link_key) {
                group = &groups[g];
                break;
            }
        }
        if (group == NULL) {
            nc_link_t *link = nc_link_lookup(ep, verdict->link_key);
            if (link == NULL || link->chan != chan) {
                dropped++; /* the link was reset; its sender already took the value back */
                continue;
            }
            if (n_groups == sizeof(groups) / sizeof(groups[0])) {
                for (size_t g = 0; g < n_groups; g++) {
                    record_and_send(ep, &groups[g], tx_for);
                    free_group(&groups[g]);
                }
                n_groups = 0;
            }
            group = &groups[n_groups++];
            memset(group, 0, sizeof(*group));
            group->link = link;
        }
        if (!verdict->repeat && group->link->outstanding > 0) {
            group->link->outstanding--;
        }
        nc_seqset_t *set = verdict->kind == NC_VERDICT_ACK       ? &group->acked
                           : verdict->kind == NC_VERDICT_RETURN  ? &group->returned
                           : verdict->kind == NC_VERDICT_RELEASE ? &group->released
                                                                 : &group->rejected;
        (void)nc_seqset_add(set, verdict->seq);
    }
    for (size_t g = 0; g < n_groups; g++) {
        record_and_send(ep, &groups[g], tx_for);
        free_group(&groups[g]);
    }
    free(list.items);

    if (dropped > 0) {
        pthread_mutex_lock(&chan->mu);
        chan->unconfirmed -= dropped;
        nc_chan_broadcast(chan);
        pthread_mutex_unlock(&chan->mu);
    }
    nc_chan_grant(ep, chan, tx_for);
    return 0;
}

int nc_link_resend_records(const nc_transport_t *tx, nc_link_t *link)
{
    if (link->records == NULL) {
        return 0;
    }
    /* Fold every unconfirmed record into the newest, under a fresh ack number. */
    nc_ack_record_t *merged = link->records_tail;
    for (nc_ack_record_t *record = link->records; record != merged;) {
        nc_ack_record_t *next = record->next;
        add_all(&merged->acked, &record->acked);
        add_all(&merged->rejected, &record->rejected);
        merged->count += record->count;
        free_record(record);
        record = next;
    }
    link->records = merged;
    merged->ack_no = ++link->next_ack_no;
    link_verdicts_t lv = {.link = link, .acked = merged->acked, .rejected = merged->rejected};
    return send_ack(tx, link, merged->ack_no, &lv, "rejected before a reconnect", 0);
}

void nc_link_reset_receiver(nc_endpoint_t *ep, nc_link_t *link)
{
    while (link->records != NULL) {
        nc_ack_record_t *next = link->records->next;
        free_record(link->records);
        link->records = next;
    }
    link->records_tail = NULL;
    nc_seqset_clear(&link->seen);
    link->next_ack_no = 0;
    if (link->end_received) {
        link->end_received = false;
        link->chan->ended_links--;
    }
    link->outstanding = 0;

    netchan_chan_t *chan = link->chan;
    pthread_mutex_lock(&chan->mu);
    chan->unconfirmed -= link->unconfirmed;
    nc_chan_broadcast(chan);
    pthread_mutex_unlock(&chan->mu);
    link->unconfirmed = 0;
    nc_link_rekey(ep, link);
}

/* ---- credit ---- */

void nc_link_start_sending(nc_link_t *link, uint64_t credit)
{
    link->credit = credit;
    link->sent = 0;
    link->resend_index = 0;
}

void nc_link_stop_receiving(nc_link_t *link)
{
    link->granted = link->arrived;
}

uint64_t nc_link_start_receiving(nc_link_t *link)
{
    link->arrived = 0;
    link->granted = 0;
    link->bound = true;
    link->granted = grant_for(link->chan, link);
    return link->granted;
}

void nc_chan_grant(nc_endpoint_t *ep, netchan_chan_t *chan,
                   int (*tx_for)(nc_endpoint_t *, nc_link_t *, nc_transport_t *))
{
    size_t count = chan->link_count;
    for (size_t n = 0; n < count; n++) {
        nc_link_t *link = chan->links[(chan->rr_next + n) % count];
        nc_transport_t tx;
        if (!can_receive(link) || tx_for(ep, link, &tx) != 0) {
            continue;
        }
        uint64_t give = grant_for(chan, link);
        if (give == 0) {
            continue;
        }
        Netchan__Wire__Credit credit = NETCHAN__WIRE__CREDIT__INIT;
        credit.link = link->id;
        credit.total = link->granted + give;
        Netchan__Wire__Frame frame = NETCHAN__WIRE__FRAME__INIT;
        frame.body_case = NETCHAN__WIRE__FRAME__BODY_CREDIT;
        frame.credit = &credit;
        if (nc_send_frame(&tx, &frame) == 0) {
            link->granted += give;
        }
    }
    if (count > 0) {
        chan->rr_next = (chan->rr_next + 1) % count;
    }
}

/* ---- channel link array ---- */

int nc_chan_add_link(netchan_chan_t *chan, nc_link_t *link)
{
    if (chan->link_count == chan->link_cap) {
        size_t cap = chan->link_cap ? chan->link_cap * 2 : 4;
        nc_link_t **links = realloc(chan->links, cap * sizeof(*links));
        if (links == NULL) {
            return -1;
        }
        chan->links = links;
        chan->link_cap = cap;
    }
    chan->links[chan->link_count++] = link;
    return 0;
}

void nc_chan_remove_link(netchan_chan_t *chan, nc_link_t *link)
{
    for (size_t i = 0; i < chan->link_count; i++) {
        if (chan->links[i] == link) {
            chan->links[i] = chan->links[chan->link_count - 1];
            chan->link_count--;
            return;
        }
    }
}

/* ---- dead letters ---- */

void nc_chan_dead_letter(netchan_chan_t *chan, nc_value_t *value)
{
    nc_endpoint_t *ep = chan->ep;
    netchan_chan_t *target = NULL;
    if (chan->options.dead_letter[0] != '\0') {
        for (size_t i = 0; i < ep->chan_count; i++) {
            netchan_chan_t *other = ep->chans[i];
            if (other != chan && other->dir == NETCHAN_SEND &&
                strcmp(other->name, chan->options.dead_letter) == 0) {
                target = other;
                break;
            }
        }
    }
    uint64_t seq = value->seq;
    nc_stat_add(chan, NETCHAN_STAT_DEAD_LETTERED, 1); /* before the event that reports it */
    nc_events_push(&ep->events, NETCHAN_EVENT_DEAD_LETTER, NETCHAN_REASON_NONE, "", "", chan->name,
                   seq);

    /* The dead-letter channel takes the value past its capacity rather than block the engine;
     * the source channel's capacity already bounds how many can arrive. */
    bool moved = false;
    if (target != NULL) {
        pthread_mutex_lock(&target->mu);
        if (!target->closed) {
            value->seq = ++target->next_seq;
            value->attempts = 0;
            value->sent = false;
            value->link_key = 0;
            if (nc_ring_push_back(&target->queue, value) == 0) {
                target->pending++;
                moved = true;
                nc_chan_broadcast(target);
            } else {
                target->next_seq--;
            }
        }
        pthread_mutex_unlock(&target->mu);
        if (moved) {
            nc_stat_add(target, NETCHAN_STAT_SENT, 1);
        }
    }

    pthread_mutex_lock(&chan->mu);
    chan->pending--;
    if (!moved) {
        chan->discarded++;
    }
    nc_chan_broadcast(chan);
    pthread_mutex_unlock(&chan->mu);

    if (moved) {
        nc_log(NETCHAN_LOG_WARNING,
               "channel '%s': value seq %llu failed %u delivery attempts; moved to dead-letter "
               "channel '%s'",
               chan->name, (unsigned long long)seq, chan->options.max_attempts, target->name);
    } else {
        free(value);
        nc_log(NETCHAN_LOG_ERROR,
               "channel '%s': value seq %llu failed %u delivery attempts and was discarded%s",
               chan->name, (unsigned long long)seq, chan->options.max_attempts,
               chan->options.dead_letter[0] ? " (dead-letter channel not found or closed)" : "");
    }
}
