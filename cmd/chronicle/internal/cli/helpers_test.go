package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// run runs the command with args and no input, without CHRONICLE_DB.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runIn(t, "", args...)
}

// runIn runs the command with stdin holding input.
func runIn(t *testing.T, input string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCtx(t.Context(), strings.NewReader(input), args...)
}

func runCtx(ctx context.Context, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(ctx, args, Env{Stdin: stdin, Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}
