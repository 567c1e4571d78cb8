package netchan

// #include <netchan.h>
import "C"

import (
	"fmt"
	"reflect"
	"sync"
	"time"
)

// channel joins one Go channel to one C channel. A pump goroutine moves values between them:
// for a sending channel from the Go channel into the C library, for a receiving channel the
// other way.
type channel struct {
	name   string
	dir    Dir
	c      *C.netchan_chan_t
	codec  *codec
	goCh   reflect.Value
	bytes  chan []byte // the Go channel when it is a chan []byte, which skips reflection
	limit  int         // receiving channels: hang up after this many values; 0 for no limit
	errs   *errorQueue
	ending <-chan struct{} // closed when the exporter or importer closes

	stop     chan struct{} // closed by Hangup and by Close
	stopOnce sync.Once
	flush    chan chan struct{} // sending channels: Drain's requests to hand over buffered values
	detached chan struct{}      // closed once the pump no longer uses the Go channel
	done     chan struct{}      // closed when the pump has ended
}

// checkGoChannel returns the reflect value of chT after checking that it is a channel the
// binding can use in direction dir.
func checkGoChannel(chT interface{}, dir Dir) (reflect.Value, error) {
	value := reflect.ValueOf(chT)
	if !value.IsValid() || value.Kind() != reflect.Chan || value.IsNil() {
		return reflect.Value{}, fmt.Errorf("want a non-nil Go channel, got %T", chT)
	}
	chanDir := value.Type().ChanDir()
	switch dir {
	case Send:
		if chanDir&reflect.RecvDir == 0 {
			return reflect.Value{}, fmt.Errorf("a Send channel must allow receiving, got %T", chT)
		}
	case Recv:
		if chanDir&reflect.SendDir == 0 {
			return reflect.Value{}, fmt.Errorf("a Recv channel must allow sending, got %T", chT)
		}
	default:
		return reflect.Value{}, fmt.Errorf("invalid direction %d; use Send or Recv", int(dir))
	}
	return value, nil
}

func newChannel(name string, dir Dir, c *C.netchan_chan_t, codec *codec, goCh reflect.Value,
	limit int, errs *errorQueue, ending <-chan struct{}) *channel {
	ch := &channel{
		name:     name,
		dir:      dir,
		c:        c,
		codec:    codec,
		goCh:     goCh,
		limit:    limit,
		errs:     errs,
		ending:   ending,
		stop:     make(chan struct{}),
		flush:    make(chan chan struct{}),
		detached: make(chan struct{}),
		done:     make(chan struct{}),
	}
	if b, ok := goCh.Interface().(chan []byte); ok {
		ch.bytes = b
	}
	return ch
}

func (ch *channel) start() {
	if ch.dir == Send {
		go ch.pumpSend()
	} else {
		go ch.pumpRecv()
	}
}

// hangup stops the pump and closes the C channel. A sending pump first hands over the value it
// holds, waiting up to sendRetryInterval for room. Idempotent.
func (ch *channel) hangup() {
	ch.stopOnce.Do(func() {
		close(ch.stop)
		if ch.dir == Send {
			<-ch.detached
		}
		C.netchan_close(ch.c)
	})
}

// abort stops the pump at once: closing the C channel wakes the pump if it waits in the C
// library, and a value it was handing over is reported as not sent. Idempotent.
func (ch *channel) abort() {
	ch.stopOnce.Do(func() {
		close(ch.stop)
		C.netchan_close(ch.c)
	})
}

func (ch *channel) report(op string, code C.netchan_err, detail string) {
	ch.errs.report(&Error{Code: Code(code), Op: op, Channel: ch.name, Detail: detail})
}

func (ch *channel) stopped() bool {
	select {
	case <-ch.stop:
		return true
	default:
		return false
	}
}

// ---- sending: Go channel to C ----

func (ch *channel) pumpSend() {
	defer close(ch.done)
	defer close(ch.detached)
	if ch.bytes != nil {
		ch.pumpSendBytes()
	} else {
		ch.pumpSendReflect()
	}
}

func (ch *channel) pumpSendBytes() {
	for {
		select {
		case data, ok := <-ch.bytes:
			if !ok {
				ch.closeSending()
				return
			}
			ch.hand(data)
		case request := <-ch.flush:
			// Hand over the values that were already buffered when Drain asked.
			for n := len(ch.bytes); n > 0; n-- {
				data, ok := <-ch.bytes
				if !ok {
					close(request)
					ch.closeSending()
					return
				}
				ch.hand(data)
			}
			close(request)
		case <-ch.stop:
			return
		}
	}
}

func (ch *channel) pumpSendReflect() {
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: ch.goCh},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch.flush)},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch.stop)},
	}
	for {
		chosen, received, ok := reflect.Select(cases)
		switch chosen {
		case 0:
			if !ok {
				ch.closeSending()
				return
			}
			ch.encodeAndHand(received)
		case 1:
			request := received.Interface().(chan struct{})
			for n := ch.goCh.Len(); n > 0; n-- {
				value, ok := ch.goCh.Recv()
				if !ok {
					close(request)
					ch.closeSending()
					return
				}
				ch.encodeAndHand(value)
			}
			close(request)
		case 2:
			return
		}
	}
}

// closeSending ends the stream after the application closed its Go channel: receivers get
// every value handed over so far, then end of stream.
func (ch *channel) closeSending() {
	C.netchan_close(ch.c)
}

func (ch *channel) encodeAndHand(value reflect.Value) {
	data, err := ch.codec.encode(value)
	if err != nil {
		ch.errs.report(&Error{Code: ErrInvalid, Op: "send", Channel: ch.name,
			Detail: "value not sent: it could not be packed as " + ch.codec.describe() + ": " +
				err.Error()})
		return
	}
	ch.hand(data)
}

// hand gives one packed value to the C library, waiting while the channel is full until it is
// hung up. A value it cannot hand over is reported on Errors().
func (ch *channel) hand(data []byte) {
	for {
		err := sendBytes(ch.c, data, timeoutMillis(sendRetryInterval))
		if err == C.NETCHAN_OK {
			return
		}
		hungUp := ch.stopped()
		if err == C.NETCHAN_ETIMEDOUT && !hungUp {
			continue
		}
		detail := "value not sent: " + chanDetail(ch.c)
		if hungUp && (err == C.NETCHAN_ETIMEDOUT || err == C.NETCHAN_ECLOSED) {
			detail = "value not sent: the channel was hung up while the value waited for room"
		}
		ch.report("send", err, detail)
		return
	}
}

// handOverBuffered requests that the pump hand every value now in the Go channel's buffer to
// the C library, and waits for it until the deadline. It returns false when the deadline passed first.
func (ch *channel) handOverBuffered(deadline <-chan time.Time) bool {
	request := make(chan struct{})
	select {
	case ch.flush <- request:
	case <-ch.done:
		return true
	case <-deadline:
		return false
	}
	select {
	case <-request:
		return true
	case <-ch.done:
		return true
	case <-deadline:
		return false
	}
}

// ---- receiving: C to Go channel ----

func (ch *channel) pumpRecv() {
	defer close(ch.done)
	// Values sent into a buffered Go channel and not yet acknowledged, in send order.
	var buffered []message
	delivered := 0

	for {
		ch.ackReceived(&buffered)
		timeout := cForever
		if len(buffered) > 0 {
			timeout = timeoutMillis(ackPollInterval)
		}
		m, err := recvMessage(ch.c, timeout)
		if err == C.NETCHAN_ETIMEDOUT || err == C.NETCHAN_EAGAIN {
			continue
		}
		if err != C.NETCHAN_OK {
			if err != C.NETCHAN_ECLOSED {
				ch.report("receive", err, chanDetail(ch.c))
			}
			break
		}
		value, decodeErr := ch.codec.decode(m.bytes())
		if decodeErr != nil {
			// NOTE: the C API has no way to reject a value back to its sender from here, so
			// an undecodable value is acknowledged and reported to this side only. The type
			// check at bind time makes this a peer that packs wrong bytes for its own type.
			ch.report("receive", C.NETCHAN_EDECODE, fmt.Sprintf(
				"dropped a value that is not a valid %s: %v", ch.codec.describe(), decodeErr))
			m.ack()
			continue
		}
		if !ch.deliver(value, m, &buffered) {
			break
		}
		delivered++
		if ch.limit > 0 && delivered >= ch.limit {
			// Values received ahead of the application go back to the sender.
			ch.hangup()
			break
		}
	}

	ch.goCh.Close()
	close(ch.detached)
	ch.settleBuffered(buffered)
}

// deliver sends one value on the Go channel and acknowledges it once the application has
// received it. It returns false when the channel was hung up first.
func (ch *channel) deliver(value reflect.Value, m message, buffered *[]message) bool {
	if !ch.sendToApp(value) {
		select {
		case <-ch.ending:
			m.abandon() // the importer's end or the lost session hands it back
		default:
			m.release() // back to the sender now, for another receiver
		}
		return false
	}
	if ch.goCh.Cap() == 0 {
		// The send completed, so the application has received the value.
		if err := m.ack(); err != C.NETCHAN_OK {
			ch.report("acknowledge", err, chanDetail(ch.c))
		}
		return true
	}
	*buffered = append(*buffered, m)
	ch.ackReceived(buffered)
	return true
}

// sendToApp sends value on the Go channel unless the channel is hung up first.
func (ch *channel) sendToApp(value reflect.Value) bool {
	if ch.bytes != nil {
		select {
		case ch.bytes <- value.Interface().([]byte):
			return true
		case <-ch.stop:
			return false
		}
	}
	chosen, _, _ := reflect.Select([]reflect.SelectCase{
		{Dir: reflect.SelectSend, Chan: ch.goCh, Send: value},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch.stop)},
	})
	return chosen == 0
}

// ackReceived acknowledges the buffered values that the application has received: the first
// len(buffered) - len(ch) of them, since the Go channel delivers in send order.
func (ch *channel) ackReceived(buffered *[]message) {
	received := len(*buffered) - ch.goCh.Len()
	if received <= 0 {
		return
	}
	for i := 0; i < received; i++ {
		if err := (*buffered)[i].ack(); err != C.NETCHAN_OK {
			ch.report("acknowledge", err, chanDetail(ch.c))
		}
	}
	*buffered = append((*buffered)[:0], (*buffered)[received:]...)
}

// settleBuffered waits, after the last value, until the application has received the values
// still in the Go channel's buffer and acknowledges them. When the exporter or importer closes
// first, the rest stay unacknowledged and go back to their sender.
func (ch *channel) settleBuffered(buffered []message) {
	if len(buffered) == 0 {
		return
	}
	ticker := time.NewTicker(ackPollInterval)
	defer ticker.Stop()
	for {
		ch.ackReceived(&buffered)
		if len(buffered) == 0 {
			return
		}
		select {
		case <-ticker.C:
		case <-ch.ending:
			for i := range buffered {
				buffered[i].abandon()
			}
			return
		}
	}
}
