package ingest

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// kafka-go decompresses a whole compressed record batch into one buffer
// before it hands out the first message, with no bound: kafka.max_message_bytes
// and the fetch size bound the batch as sent, compressed. One 82 KB zstd
// batch of 1,500 records of 1 MiB of spaces took an ingester to 4 GB, and a
// process killed for its memory restarts into the same batch. The codecs
// kafka-go resolves are a process-wide table (compress.Codecs), so the bound
// is installed there, once, and the limit is process-wide too: the largest
// any pipeline of the process asked for.
//
// A batch over the limit fails its fetch with errBatchTooLarge: the
// partition stops at its first offset (nothing after it is consumed, so
// nothing is lost) and the ingester logs an error saying how to move past
// it. It cannot be dead-lettered message by message: its messages are
// only known by decompressing it.

// errBatchTooLarge wraps kafka.MessageSizeTooLarge so that kafka-go's reader
// hands it to FetchMessage instead of only logging it.
var errBatchTooLarge = fmt.Errorf("a compressed record batch decompresses past kafka.max_decompressed_batch_bytes (a decompression bomb, or a limit too low for this topic's batches): %w", kafka.MessageSizeTooLarge)

var (
	decompressLimit atomic.Int64
	installLimit    sync.Once
)

// limitDecompression bounds the bytes one compressed batch may decompress
// to by n, or the largest n asked for before.
func limitDecompression(n int64) {
	for {
		cur := decompressLimit.Load()
		if n <= cur || decompressLimit.CompareAndSwap(cur, n) {
			break
		}
	}
	installLimit.Do(func() {
		for i, c := range compress.Codecs {
			if c != nil {
				compress.Codecs[i] = limitedCodec{c}
			}
		}
	})
}

// limitedCodec is c with its readers bounded by decompressLimit.
type limitedCodec struct{ compress.Codec }

func (c limitedCodec) NewReader(r io.Reader) io.ReadCloser {
	return &limitedReader{ReadCloser: c.Codec.NewReader(r), left: decompressLimit.Load()}
}

type limitedReader struct {
	io.ReadCloser
	left int64
}

func (r *limitedReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		// One byte more says whether the stream really goes on.
		var b [1]byte
		if n, err := r.ReadCloser.Read(b[:]); n > 0 {
			return 0, errBatchTooLarge
		} else if err != nil {
			return 0, err
		}
		return 0, nil
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.ReadCloser.Read(p)
	r.left -= int64(n)
	return n, err
}
