package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/arbor-kv/arbor/client"
)

// Output formats (-o).
const (
	formatSimple   = "simple"
	formatExtended = "extended"
	formatJSON     = "json"
)

// printResponse prints a key operation's result in the chosen format,
// byte for byte as etcdctl v2 does:
//
//	simple    the value; for a delete "PrevNode.Value: <old value>"
//	extended  Key, Created-Index, Modified-Index, PrevNode.Value (when
//	          there was one), TTL and Index lines, then (except for a
//	          delete) a blank line and the value
//	json      the response re-encoded in etcd's client's shape
//
// An unknown format is reported on stderr without failing the command, as
// etcdctl does.
func (a *app) printResponse(resp *client.Response) error {
	w := a.stdout
	switch a.output {
	case formatSimple:
		if resp.Action == "delete" {
			fmt.Fprintln(w, "PrevNode.Value:", prevValue(resp))
		} else {
			fmt.Fprintln(w, resp.Node.Value)
		}
	case formatExtended:
		n := resp.Node
		fmt.Fprintln(w, "Key:", n.Key)
		fmt.Fprintln(w, "Created-Index:", n.CreatedIndex)
		fmt.Fprintln(w, "Modified-Index:", n.ModifiedIndex)
		if resp.PrevNode != nil {
			fmt.Fprintln(w, "PrevNode.Value:", resp.PrevNode.Value)
		}
		fmt.Fprintln(w, "TTL:", n.TTL)
		fmt.Fprintln(w, "Index:", resp.Index)
		if resp.Action != "delete" {
			fmt.Fprintln(w)
			fmt.Fprintln(w, n.Value)
		}
	case formatJSON:
		b, err := json.Marshal(jsonResponseOf(resp))
		if err != nil {
			return failf(exitServerError, "Error:  %v\n", err)
		}
		fmt.Fprintln(w, string(b))
	default:
		fmt.Fprintln(a.stderr, "Unsupported output format:", a.output)
	}
	return nil
}

// printUnlessQuietDir prints resp unless it is a directory in simple
// format, which has no value to show (mkdir, setdir, rmdir and the like).
func (a *app) printUnlessQuietDir(resp *client.Response) error {
	if resp.Node.Dir && a.output == formatSimple {
		return nil
	}
	return a.printResponse(resp)
}

func prevValue(resp *client.Response) string {
	if resp.PrevNode == nil {
		return ""
	}
	return resp.PrevNode.Value
}

// jsonNode is a node as etcdctl's -o json shows it: "value" and "nodes"
// always present (empty and null), unlike on the wire.
type jsonNode struct {
	Key           string      `json:"key"`
	Dir           bool        `json:"dir,omitempty"`
	Value         string      `json:"value"`
	Nodes         []*jsonNode `json:"nodes"`
	CreatedIndex  uint64      `json:"createdIndex"`
	ModifiedIndex uint64      `json:"modifiedIndex"`
	Expiration    *time.Time  `json:"expiration,omitempty"`
	TTL           int64       `json:"ttl,omitempty"`
}

type jsonResponse struct {
	Action   string    `json:"action"`
	Node     *jsonNode `json:"node"`
	PrevNode *jsonNode `json:"prevNode"`
}

func jsonResponseOf(resp *client.Response) jsonResponse {
	return jsonResponse{Action: resp.Action, Node: jsonNodeOf(resp.Node), PrevNode: jsonNodeOf(resp.PrevNode)}
}

func jsonNodeOf(n *client.Node) *jsonNode {
	if n == nil {
		return nil
	}
	out := &jsonNode{
		Key: n.Key, Dir: n.Dir, Value: n.Value,
		CreatedIndex: n.CreatedIndex, ModifiedIndex: n.ModifiedIndex,
		Expiration: n.Expiration, TTL: n.TTL,
	}
	if n.Nodes != nil {
		out.Nodes = make([]*jsonNode, 0, len(n.Nodes))
		for _, c := range n.Nodes {
			out.Nodes = append(out.Nodes, jsonNodeOf(c))
		}
	}
	return out
}
