package interop

import (
	"io"
	"log"
	"os"
	"testing"

	"github.com/sirupsen/logrus"
)

// TestMain silences the SDK's own logging (std log and logrus: thousands of lines per heal) unless
// INTEROP_SDK_LOG=1; the harness's t.Logf lines and pnsmgr's output on failure are what matter. It stops
// the shared SPIRE fixture after the last test.
func TestMain(m *testing.M) {
	if os.Getenv("INTEROP_SDK_LOG") == "" {
		log.SetOutput(io.Discard)
		logrus.SetOutput(io.Discard)
	}
	code := m.Run()
	stopSharedSpire() // the secured tests' SPIRE, if one started
	removeNodeCopy()
	os.Exit(code)
}
