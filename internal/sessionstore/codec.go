package sessionstore

import (
	"encoding/binary"
	"encoding/gob"
	"errors"
	"math"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Codec is a compact binary scs.Codec. SCS's default gob codec spends about
// a third of a page view's CPU decoding, and its type descriptors make up
// most of the stored bytes. Values of the common types (string, int, int64,
// bool, float64, []byte, time.Time) are encoded directly; a session holding
// any other type falls back to gob as a whole, so applications may still
// store their own types.
type Codec struct{}

const (
	formatBinary byte = 'B'
	formatGob    byte = 'G'
	// flagRemembered is set on the format byte of a session that SCS's
	// RememberMe marked (its rememberKey value is true). The value itself
	// is not stored: the flag brings it back, and tells Store, without
	// decoding, that the session has no idle timeout.
	flagRemembered byte = 0x80
)

// rememberKey is the key under which SCS v2 keeps RememberMe's choice.
const rememberKey = "__rememberMe"

// Remembered reports whether payload, encoded by Codec, is a session that
// SCS's RememberMe marked to persist.
func Remembered(payload []byte) bool {
	return len(payload) > 0 && payload[0]&flagRemembered != 0
}

const (
	tagString byte = iota + 1
	tagInt64
	tagInt
	tagBool
	tagFloat64
	tagBytes
	tagTime
)

var errCodec = errors.New("sessionstore: malformed session data")

// The compact format stores time.Time itself, but a session that falls back
// to gob must still encode its times: gob refuses an interface value of a
// type nobody registered, so without this, adding a value of an
// application type to a session holding a time would fail its commit.
func init() { gob.Register(time.Time{}) }

// The deadline is stored in unix nanoseconds, which hold the years 1678 to
// 2262 only; a deadline outside (a zero time, an absurd lifetime) would come
// back as another instant, so such a session takes the gob fallback.
var (
	minDeadline = time.Unix(0, math.MinInt64)
	maxDeadline = time.Unix(0, math.MaxInt64)
)

// Encode implements scs.Codec.
func (Codec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	var flags byte
	if r, ok := values[rememberKey].(bool); ok && r {
		flags = flagRemembered
	}
	if deadline.Before(minDeadline) || deadline.After(maxDeadline) {
		return encodeGob(deadline, values, flags)
	}
	b := make([]byte, 0, 64)
	b = append(b, formatBinary|flags)
	b = binary.AppendVarint(b, deadline.UnixNano())
	n := len(values)
	if flags != 0 {
		n--
	}
	b = binary.AppendUvarint(b, uint64(n))
	for k, v := range values {
		if k == rememberKey && flags != 0 {
			continue
		}
		b = appendString(b, k)
		switch v := v.(type) {
		case string:
			b = appendString(append(b, tagString), v)
		case int64:
			b = binary.AppendVarint(append(b, tagInt64), v)
		case int:
			b = binary.AppendVarint(append(b, tagInt), int64(v))
		case bool:
			x := byte(0)
			if v {
				x = 1
			}
			b = append(b, tagBool, x)
		case float64:
			b = binary.BigEndian.AppendUint64(append(b, tagFloat64), math.Float64bits(v))
		case []byte:
			b = appendString(append(b, tagBytes), string(v))
		case time.Time:
			t, err := v.MarshalBinary()
			if err != nil {
				return nil, err
			}
			b = appendString(append(b, tagTime), string(t))
		default:
			return encodeGob(deadline, values, flags)
		}
	}
	return b, nil
}

// encodeGob keeps the whole session, rememberKey included, in gob; flags
// only mark it.
func encodeGob(deadline time.Time, values map[string]any, flags byte) ([]byte, error) {
	g, err := scs.GobCodec{}.Encode(deadline, values)
	if err != nil {
		return nil, err
	}
	return append([]byte{formatGob | flags}, g...), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string { return string(r.bytes(r.uvarint())) }

func (r *reader) byte() byte {
	if b := r.bytes(1); len(b) == 1 {
		return b[0]
	}
	return 0
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errCodec
	}
}

// Decode implements scs.Codec.
func (Codec) Decode(b []byte) (time.Time, map[string]any, error) {
	if len(b) == 0 {
		return time.Time{}, nil, errCodec
	}
	switch b[0] &^ flagRemembered {
	case formatGob:
		return scs.GobCodec{}.Decode(b[1:])
	case formatBinary:
	default:
		return time.Time{}, nil, errCodec
	}
	r := &reader{b: b[1:]}
	deadline := time.Unix(0, r.varint()).UTC()
	n := r.uvarint()
	if n > uint64(len(r.b)) { // each value takes at least one byte
		return time.Time{}, nil, errCodec
	}
	values := make(map[string]any, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		k := r.string()
		switch tag := r.byte(); tag {
		case tagString:
			values[k] = r.string()
		case tagInt64:
			values[k] = r.varint()
		case tagInt:
			values[k] = int(r.varint())
		case tagBool:
			values[k] = r.byte() == 1
		case tagFloat64:
			if f := r.bytes(8); len(f) == 8 {
				values[k] = math.Float64frombits(binary.BigEndian.Uint64(f))
			}
		case tagBytes:
			values[k] = append([]byte(nil), r.bytes(r.uvarint())...)
		case tagTime:
			var t time.Time
			if err := t.UnmarshalBinary(r.bytes(r.uvarint())); err != nil {
				r.fail()
			}
			values[k] = t
		default:
			r.fail()
		}
	}
	if r.err != nil {
		return time.Time{}, nil, r.err
	}
	if Remembered(b) {
		values[rememberKey] = true
	}
	return deadline, values, nil
}
