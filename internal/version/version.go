// Package version holds Arbor's release version and the etcd API version
// it speaks, for /version, -version and the CLI.
package version

// Version is Arbor's release.
const Version = "0.1.0"

// APIVersion is the etcd v2 API level Arbor answers for.
const APIVersion = "2"
