package ewayapi_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/ewayapi"
)

// TestREADMEListsEveryMethod keeps the README's method table honest: every
// method the server answers is named there.
func TestREADMEListsEveryMethod(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	names := ewayapi.MethodNames()
	if len(names) < 40 {
		t.Fatalf("only %d methods: %v", len(names), names)
	}
	for _, m := range names {
		if !strings.Contains(string(readme), "`"+m+"`") {
			t.Errorf("README.md does not list `%s`", m)
		}
	}
}
