//go:build tools

// Package tools pins the Pulumi CLI build for stackdrill's offline set-up.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
