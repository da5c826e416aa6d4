// Package snap writes and loads Arbor's snapshot files.
package snap
