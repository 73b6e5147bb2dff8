//go:build tools

// Package tools pins the S3-compatible server (Versity S3 Gateway) that the S3 backend tests run.
package tools

import (
	_ "github.com/versity/versitygw/cmd/versitygw"
)
