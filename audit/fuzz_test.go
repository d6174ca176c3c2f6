package audit_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/iamplaybook/iamplaybook/audit"
)

// FuzzVerify checks that Verify never panics, and that whatever it accepts
// is a consistent chain: as many lines as records, seqs 1..n.
func FuzzVerify(f *testing.F) {
	var buf bytes.Buffer
	j, err := audit.NewJSONL(&buf, audit.JSONLOptions{})
	if err != nil {
		f.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		if err := j.Record(f.Context(), testRecord(i)); err != nil {
			f.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		f.Fatal(err)
	}
	valid := buf.String()
	lines := strings.SplitAfter(valid, "\n")
	f.Add([]byte(valid))
	f.Add([]byte(strings.Replace(valid, `"n-2"`, `"n-3"`, 1)))                           // tampered
	f.Add([]byte(lines[1] + lines[0] + lines[2] + lines[3]))                             // reordered
	f.Add([]byte(lines[0] + lines[2] + lines[3]))                                        // removed
	f.Add([]byte(valid[:len(valid)-5]))                                                  // truncated
	f.Add([]byte(""))                                                                    // empty
	f.Add([]byte("\n\n{}\n[1,2]\nnull\n"))                                               // garbage
	f.Add([]byte(`{"seq":1,"prev":"","hash":"` + strings.Repeat("0", 64) + `"}` + "\n")) // wrong hash
	f.Add([]byte("\xff\xfe{\"seq\":1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := audit.Verify(bytes.NewReader(data), audit.VerifyOptions{MaxLineBytes: 1 << 16})
		if err != nil {
			return
		}
		if n := uint64(bytes.Count(data, []byte("\n"))); n != rep.Records {
			t.Fatalf("accepted %d records in %d lines", rep.Records, n)
		}
		recs, err := audit.ReadJSONL(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("verified log does not decode: %v", err)
		}
		for i, r := range recs {
			if r.Seq != uint64(i+1) {
				t.Fatalf("verified record %d has seq %d", i, r.Seq)
			}
		}
	})
}
