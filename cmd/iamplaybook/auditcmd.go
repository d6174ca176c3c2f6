package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/iamplaybook/iamplaybook/audit"
)

// verifyResult is the output of `audit verify --json`.
type verifyResult struct {
	File     string `json:"file"`
	Verified bool   `json:"verified"`
	Keyed    bool   `json:"keyed"`
	// Records is the number of records verified (before the damage, when
	// Verified is false); LastHash is the last verified record's hash.
	Records  uint64 `json:"records"`
	LastHash string `json:"last_hash,omitempty"`
	Error    string `json:"error,omitempty"`
	// Line is the 1-based line of the first broken record.
	Line int `json:"line,omitempty"`
}

func (c *cli) auditVerify(ctx context.Context, args []string) error {
	fs := c.flagSet("audit verify")
	head := fs.String("head", "", "a record `HASH` anchored elsewhere that the chain must still contain")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("audit verify", pos, "FILE"); err != nil {
		return err
	}
	key, err := c.auditKey()
	if err != nil {
		return err
	}
	path := pos[0]
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("audit trail: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return fmt.Errorf("audit trail %s is a directory", path)
	}
	rep, verr := audit.Verify(f, audit.VerifyOptions{HMACKey: key, ExpectHead: *head})
	res := verifyResult{File: path, Verified: verr == nil, Keyed: key != nil, Records: rep.Records, LastHash: rep.LastHash}
	var ve *audit.VerifyError
	switch {
	case errors.As(verr, &ve):
		res.Error, res.Line = ve.Error(), ve.Line
	case verr != nil:
		// A read error: not a verdict on the chain.
		return fmt.Errorf("audit trail %s: %w", path, verr)
	}
	if c.json {
		if err := c.printJSON(res); err != nil {
			return err
		}
	} else if res.Verified {
		fmt.Fprintf(c.stdout, "%s: %d records, hash chain verified", path, res.Records)
		if res.Keyed {
			fmt.Fprint(c.stdout, " under the HMAC key")
		}
		if res.LastHash != "" {
			fmt.Fprintf(c.stdout, "; head %s", res.LastHash)
		}
		fmt.Fprintln(c.stdout)
	}
	if verr != nil {
		hint := ""
		if errors.Is(verr, audit.ErrHashMismatch) && key == nil {
			hint = fmt.Sprintf(" (if the trail is keyed, set %s)", envAuditKey)
		}
		return fmt.Errorf("%s: NOT VERIFIED after %d intact records: %w%s", path, rep.Records, verr, hint)
	}
	return nil
}

// auditKey reads the audit trail's HMAC key from the environment: nil when
// the variable is unset. The key itself never appears in an error.
func (c *cli) auditKey() ([]byte, error) {
	v := strings.TrimSpace(c.getenv(envAuditKey))
	if v == "" {
		return nil, nil
	}
	var (
		key []byte
		err error
	)
	if b64, ok := strings.CutPrefix(v, "base64:"); ok {
		key, err = base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("%s: the key after \"base64:\" is not valid standard base64", envAuditKey)
		}
	} else {
		key, err = hex.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("%s: the key is not hex (use the prefix \"base64:\" for a base64 key)", envAuditKey)
		}
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%s: the key is empty", envAuditKey)
	}
	return key, nil
}
