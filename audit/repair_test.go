package audit_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
)

// A crash in the middle of a write leaves an incomplete last line. With
// RepairTornTail the log is reopened without it, the cut bytes are kept
// beside the log, and the chain says that it was repaired; anything else
// wrong with the log is still refused.
func TestOpenJSONLRepairsTornTail(t *testing.T) {
	t.Parallel()
	key := []byte("k")
	lines := writeLog(t, 4, key)
	all := strings.Join(lines, "")
	last := lines[len(lines)-1]
	tests := []struct {
		name     string
		data     string
		verify   bool
		wantTorn string // the bytes cut, "" when nothing is
		wantErr  error
		wantRecs int // records after the repair and one more append
	}{
		{"torn last line", all[:len(all)-7], false, last[:len(last)-7], nil, 3 + 2},
		{"torn last line with VerifyOnOpen", all[:len(all)-7], true, last[:len(last)-7], nil, 3 + 2},
		{"missing final newline", all[:len(all)-1], false, last[:len(last)-1], nil, 3 + 2},
		{"only line torn", lines[0][:20], false, lines[0][:20], nil, 2},
		{"intact log is left alone", all, false, "", nil, 4 + 1},
		{"complete but edited last line is still refused", all[:len(all)-60] + "0" + all[len(all)-59:], false, "", audit.ErrHashMismatch, 0},
		{"garbage line is still refused", all + "garbage\n", false, "", audit.ErrMalformedLine, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			require.NoError(t, os.WriteFile(path, []byte(tt.data), 0o600))
			j, err := audit.OpenJSONL(path, audit.JSONLOptions{HMACKey: key, VerifyOnOpen: tt.verify, RepairTornTail: true})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, audit.ErrCorruptTail)
				require.ErrorIs(t, err, tt.wantErr)
				after, _ := os.ReadFile(path)
				assert.Equal(t, tt.data, string(after), "a refused log is not changed")
				_, statErr := os.Stat(path + ".torn")
				assert.True(t, errors.Is(statErr, os.ErrNotExist), "nothing saved aside")
				return
			}
			require.NoError(t, err)
			require.NoError(t, j.Record(t.Context(), testRecord(99)))
			require.NoError(t, j.Close())

			recs := readVerified(t, path, key)
			require.Len(t, recs, tt.wantRecs, "the chain verifies after the repair")
			torn, err := os.ReadFile(path + ".torn")
			if tt.wantTorn == "" {
				assert.True(t, errors.Is(err, os.ErrNotExist), "nothing cut from an intact log")
				for _, r := range recs {
					assert.NotEqual(t, audit.TypeLogRepaired, r.Type)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantTorn+"\n", string(torn), "the cut bytes are kept")
			rep := recs[len(recs)-2]
			assert.Equal(t, audit.TypeLogRepaired, rep.Type, "the repair is on the record")
			assert.Equal(t, fmt.Sprint(len(tt.wantTorn)), fmt.Sprint(rep.Data["torn_bytes"]))
			assert.Equal(t, "audit.jsonl.torn", rep.Data["saved_to"])
		})
	}
}
